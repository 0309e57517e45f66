"""Spiking policies with SB3: every algorithm trains, runs replay as trained, energy counts, bad input."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml
from stable_baselines3.common.env_util import make_vec_env

import spikegym
from spikegym.energy import EnergyModel, dense_cost, spiking_cost
from spikegym.policies import LearnablePopulationEncoder, SpikingExtractor, leaky_layer, spike_surrogate
from spikegym.recipes import Recipe, RecipeError, load_recipe
from spikegym.replay import actor_parts, make_replay_env, recorded_actions, replay
from spikegym.runs import RUN_FILE, RunError, load_run, new_run_dir
from spikegym.training import build_model, load_model, train
from spikegym.wrappers import ScaledObservationWrapper, SpikeObservationWrapper

SMALL = {"hidden": [16], "beta": 0.9}


def tiny_recipe(algo: str, env_id: str, population_head: int | None = None, **algo_kwargs: object) -> Recipe:
    base = load_recipe(algo, env_id)
    return Recipe(algo, env_id, 200, 1, algo_kwargs, SMALL, base.net_arch, [16], base.action_noise, population_head)


@pytest.mark.parametrize(
    ("algo", "env_id", "kwargs"),
    [
        ("ppo", "CartPole-v1", {"n_steps": 64, "batch_size": 32, "n_epochs": 1}),
        ("a2c", "CartPole-v1", {"n_steps": 8}),
        ("dqn", "CartPole-v1", {"learning_starts": 50, "buffer_size": 500, "train_freq": 4}),
        ("sac", "Pendulum-v1", {"learning_starts": 50, "buffer_size": 500, "batch_size": 32}),
        ("td3", "Pendulum-v1", {"learning_starts": 50, "buffer_size": 500, "batch_size": 32}),
        ("sac", "Pendulum-v1", {"learning_starts": 50, "buffer_size": 500, "batch_size": 32, "population_head": 4}),
        ("td3", "Pendulum-v1", {"learning_starts": 50, "buffer_size": 500, "batch_size": 32, "population_head": 4}),
    ],
)
def test_every_algorithm_trains_a_few_hundred_steps_with_the_spiking_extractor(
    algo: str, env_id: str, kwargs: dict
) -> None:
    recipe = tiny_recipe(algo, env_id, **kwargs)
    env = make_vec_env(
        env_id, n_envs=1, seed=0, wrapper_class=SpikeObservationWrapper, wrapper_kwargs={"encoder": env_id}
    )
    model = build_model(recipe, env, seed=0, spiking=True)
    extractor, _ = actor_parts(model)
    assert isinstance(extractor, SpikingExtractor)
    before = [p.detach().clone() for p in extractor.parameters()]
    model.learn(total_timesteps=300)
    assert model.num_timesteps >= 300
    assert any(not torch.equal(a, b) for a, b in zip(before, extractor.parameters(), strict=True)), "no learning"
    action, _ = model.predict(env.reset(), deterministic=True)
    assert env.action_space.contains(action[0])


@pytest.mark.parametrize("algo", ["sac", "td3"])
@pytest.mark.parametrize("critic", ["spiking", "mlp"])
def test_off_policy_critics_are_spiking_or_mlps_and_the_choice_survives_saving(
    algo: str, critic: str, tmp_path: Path
) -> None:
    recipe = dataclasses.replace(
        tiny_recipe(algo, "Pendulum-v1", learning_starts=10, buffer_size=100, batch_size=8), critic=critic
    )
    env = make_vec_env(
        "Pendulum-v1", seed=0, wrapper_class=SpikeObservationWrapper, wrapper_kwargs={"encoder": "Pendulum-v1"}
    )
    model = build_model(recipe, env, seed=0, spiking=True)
    assert isinstance(model.policy.actor.features_extractor, SpikingExtractor)
    for critic_net in (model.policy.critic, model.policy.critic_target):
        spiking = any(isinstance(m, SpikingExtractor) for m in critic_net.modules())
        assert spiking == (critic == "spiking")
    critic_before = [p.detach().clone() for p in model.policy.critic.parameters()]
    model.learn(total_timesteps=40)
    assert any(not torch.equal(a, b) for a, b in zip(critic_before, model.policy.critic.parameters(), strict=True))
    model.save(tmp_path / "model.zip")
    loaded = type(model).load(tmp_path / "model.zip", device="cpu")
    assert loaded.policy.critic_network == critic
    for name, value in model.policy.critic.state_dict().items():
        torch.testing.assert_close(loaded.policy.critic.state_dict()[name], value)


def test_an_unknown_critic_is_refused() -> None:
    from spikegym.policies import SpikingSACPolicy

    env = SpikeObservationWrapper(gym.make("Pendulum-v1"), encoder="Pendulum-v1")
    with pytest.raises(ValueError, match="critic must be 'spiking' or 'mlp', got 'ann'"):
        SpikingSACPolicy(env.observation_space, env.action_space, lambda _: 1e-3, critic="ann")


@pytest.mark.parametrize("algo", ["ppo", "a2c"])
@pytest.mark.parametrize("critic", [None, "shared", "spiking"])
def test_on_policy_value_nets_share_the_actors_spiking_features_or_have_their_own(
    algo: str, critic: str | None
) -> None:
    batch = {"batch_size": 16} if algo == "ppo" else {}
    recipe = dataclasses.replace(tiny_recipe(algo, "CartPole-v1", n_steps=16, **batch), critic=critic)
    env = make_vec_env(
        "CartPole-v1", seed=0, wrapper_class=SpikeObservationWrapper, wrapper_kwargs={"encoder": "CartPole-v1"}
    )
    policy = build_model(recipe, env, seed=0, spiking=True).policy
    assert isinstance(policy.pi_features_extractor, SpikingExtractor)
    assert isinstance(policy.vf_features_extractor, SpikingExtractor)
    assert (policy.vf_features_extractor is policy.pi_features_extractor) == (critic != "spiking")


def test_the_fused_layer_equals_snntorch_leaky_stepping() -> None:
    import snntorch as snn

    torch.manual_seed(0)
    neuron = snn.Leaky(beta=0.8, threshold=1.0, spike_grad=spike_surrogate("atan", 2.0))
    current = (torch.randn(3, 8, 5) * 1.5).requires_grad_()
    spikes, membranes = leaky_layer(neuron, current)
    membrane, stepped, trace = torch.zeros(3, 5), [], []
    for t in range(8):
        spike, membrane = neuron(current[:, t], membrane)
        stepped.append(spike)
        trace.append(membrane)
    assert torch.equal(spikes, torch.stack(stepped, 1)) and torch.allclose(membranes, torch.stack(trace, 1))
    fused = torch.autograd.grad(spikes.sum() + membranes.sum(), current)[0]
    reference = torch.autograd.grad(torch.stack(stepped, 1).sum() + torch.stack(trace, 1).sum(), current)[0]
    assert torch.allclose(fused, reference)


def test_the_extractor_is_stateless_across_calls_and_keeps_no_graph() -> None:
    extractor = SpikingExtractor(gym.spaces.MultiBinary((8, 12)), hidden=(16, 16))
    x = torch.randint(0, 2, (4, 8, 12)).float()
    first, second = extractor(x), extractor(x)
    assert torch.equal(first, second), "a membrane survived between forward passes"
    first.sum().backward()
    second.sum().backward()  # would fail with "backward through the graph a second time" if state leaked


@pytest.mark.parametrize("readout", ["membrane_mean", "last_membrane", "spike_count"])
def test_readouts(readout: str) -> None:
    extractor = SpikingExtractor(gym.spaces.MultiBinary((4, 6)), hidden=(5,), readout=readout)
    features = extractor(torch.ones(2, 4, 6))
    assert features.shape == (2, 5)
    if readout == "spike_count":
        assert ((features >= 0) & (features <= 1)).all()


def test_the_learnable_population_encoder_learns_its_fields() -> None:
    encoder = LearnablePopulationEncoder(n_features=2, n_bins=6, steps=8)
    spikes = encoder(torch.tensor([[0.2, 0.9]]))
    assert spikes.shape == (1, 8, 12) and set(spikes.unique().tolist()) <= {0.0, 1.0}
    spikes.sum().backward()
    assert encoder.mu.grad is not None and encoder.mu.grad.abs().sum() > 0
    assert encoder.log_sigma.grad is not None and encoder.log_sigma.grad.abs().sum() > 0


def test_bad_extractor_arguments() -> None:
    space = gym.spaces.MultiBinary((4, 6))
    with pytest.raises(ValueError, match=r"readout must be one of"):
        SpikingExtractor(space, readout="vote")
    with pytest.raises(ValueError, match=r"surrogate must be one of"):
        SpikingExtractor(space, surrogate="sigmoidal")
    with pytest.raises(TypeError, match=r"observation_space must be MultiBinary\(\(T, C\)\)"):
        SpikingExtractor(gym.spaces.Discrete(3))


def test_energy_of_a_hand_computed_tiny_network() -> None:
    extractor = SpikingExtractor(gym.spaces.MultiBinary((2, 3)), hidden=(2, 4), beta=0.9, threshold=1.0)
    with torch.no_grad():
        for layer in extractor.layers:
            layer.weight.fill_(2.0)
            layer.bias.zero_()
    extractor.record = True
    block = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])  # one input spike at the first sub-step
    extractor(block)
    # layer 1: current 2 at t=0 -> both neurons fire; t=1: 0.9 * 2 - 1 = 0.8 -> silent
    assert extractor.last_spikes[0].sum().item() == 2
    # layer 2: current 2 * 2 = 4 at t=0 -> all 4 fire; t=1: 0.9 * 4 - 1 = 2.6 -> all 4 fire again
    assert extractor.last_spikes[1].sum().item() == 8
    energy = EnergyModel(e_ac_pj=1.0, e_mac_pj=5.0)
    cost = spiking_cost(list(extractor.layers), [1, 2], head_macs=4 * 2, model=energy)
    assert cost.synaptic_ops == 1 * 2 + 2 * 4  # spikes in x fan-out, per layer
    assert cost.energy_pj == 10 * 1.0 + 8 * 5.0
    assert dense_cost([3, 2, 4, 2], energy).macs == 3 * 2 + 2 * 4 + 4 * 2


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("runs")
    return train("CartPole-v1", "ppo", timesteps=2048, runs_dir=root, progress=False, eval_freq=1024, n_eval_episodes=1)


def test_a_run_directory_holds_everything_to_reload_it(trained: tuple[Path, object]) -> None:
    run_dir, _ = trained
    names = {p.name for p in run_dir.iterdir()}
    assert {"model.zip", "run.yaml", "encoder.yaml", "recipe.yaml", "progress.csv", "eval"} <= names
    assert any(name.startswith("events.out.tfevents") for name in names)
    run = load_run(run_dir)
    assert run.info.env_id == "CartPole-v1" and run.info.policy == "spiking" and run.info.seed == 0
    assert run.config == spikegym.load_config("CartPole-v1")
    assert "time/total_timesteps" in (run_dir / "progress.csv").read_text().splitlines()[0]


def test_save_then_replay_gives_the_in_memory_models_actions(trained: tuple[Path, object]) -> None:
    run_dir, model = trained
    run = load_run(run_dir)
    env = make_replay_env(run)
    observations = []
    observation, _ = env.reset(seed=3)
    for _ in range(50):
        observations.append(observation)
        observation, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            observation, _ = env.reset()
    batch = np.stack(observations)
    assert np.array_equal(recorded_actions(run, batch), recorded_actions(run, batch, model))


def test_replay_reports_returns_spikes_and_energy(trained: tuple[Path, object], tmp_path: Path) -> None:
    run = load_run(trained[0])
    report = replay(run, episodes=2, deterministic=True, raster=tmp_path / "raster.png", video=tmp_path / "a.mp4")
    assert (tmp_path / "a.mp4").stat().st_size > 1_000
    assert len(report.returns) == 2 and all(r > 0 for r in report.returns)
    assert report.input_spikes > 0 and len(report.hidden_rates) == 2
    assert report.spiking is not None and report.ann is not None
    first, second = run.recipe.spiking["hidden"]
    assert report.spiking.synaptic_ops > 0 and report.ann.macs == 4 * first + first * second + second * 2
    assert (tmp_path / "raster.png").stat().st_size > 5_000


def test_replay_refuses_a_config_that_does_not_match_the_model(trained: tuple[Path, object], tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(trained[0], copy)
    data = yaml.safe_load((copy / "encoder.yaml").read_text())
    data["substeps"] = 4
    (copy / "encoder.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(RunError, match="does not match its model"):
        replay(load_run(copy), episodes=1)


def test_run_directories_without_a_model_or_from_another_major_version(
    trained: tuple[Path, object], tmp_path: Path
) -> None:
    import shutil

    copy = tmp_path / "old"
    shutil.copytree(trained[0], copy)
    (copy / "model.zip").rename(tmp_path / "model.zip")
    with pytest.raises(RunError, match=r"model\.zip is missing"):
        load_run(copy)
    (tmp_path / "model.zip").rename(copy / "model.zip")
    info = yaml.safe_load((copy / RUN_FILE).read_text())
    info["spikegym_version"] = "9.0.0"
    (copy / RUN_FILE).write_text(yaml.safe_dump(info))
    with pytest.raises(RunError, match=r"trained with spikegym 9\.0\.0"):
        load_run(copy)


def test_training_never_reuses_a_run_directory(tmp_path: Path) -> None:
    first = new_run_dir(tmp_path, "CartPole-v1", "ppo", "population", 0)
    second = new_run_dir(tmp_path, "CartPole-v1", "ppo", "population", 0)
    assert first != second and first.is_dir() and second.is_dir()


def test_recipes_ship_for_the_classic_suite() -> None:
    pairs = [("ppo", "CartPole-v1"), ("dqn", "CartPole-v1"), ("ppo", "Acrobot-v1"), ("dqn", "MountainCar-v0"),
             ("sac", "Pendulum-v1"), ("sac", "MountainCarContinuous-v0"), ("ppo", "LunarLander-v3")]  # fmt: skip
    for algo, env_id in pairs:
        recipe = load_recipe(algo, env_id)
        assert recipe.n_timesteps > 0 and recipe.spiking["hidden"]


def test_unknown_algorithms_and_envs_without_a_recipe() -> None:
    with pytest.raises(RecipeError, match=r"unknown algo 'trpo'"):
        load_recipe("trpo", "CartPole-v1")
    with pytest.raises(RecipeError, match=r"has no recipe for 'Pong-v5'"):
        load_recipe("ppo", "Pong-v5")


@pytest.mark.parametrize(
    ("algo", "entry", "message"),
    [
        ("ppo", "n_envs: 4", r"entry 'CartPole-v1' is missing the required key 'n_timesteps'"),
        ("ppo", "n_envs: 4\n  n_timesteps: 10\n  net_arch: big", r"CartPole-v1.net_arch must be a list of layer sizes"),
        (
            "ppo",
            "n_envs: 4\n  n_timesteps: 10\n  critic: mlp",
            r"critic must be one of \['shared', 'spiking'\]; got 'mlp'",
        ),
        ("dqn", "n_envs: 1\n  n_timesteps: 10\n  critic: spiking", r"CartPole-v1.critic must be absent for dqn"),
        (
            "sac",
            "n_envs: 1\n  n_timesteps: 10\n  critic: ann",
            r"critic must be one of \['spiking', 'mlp'\]; got 'ann'",
        ),
    ],
)
def test_malformed_recipes_name_the_file_env_and_key(algo: str, entry: str, message: str, tmp_path: Path) -> None:
    (tmp_path / f"{algo}.yaml").write_text(f"CartPole-v1:\n  {entry}\n")
    with pytest.raises(RecipeError, match=message) as error:
        load_recipe(algo, "CartPole-v1", agents_dir=tmp_path)
    assert str(tmp_path / f"{algo}.yaml") in str(error.value)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["train", "Nowhere-v9"], "unknown env id 'Nowhere-v9'"),
        (["train", "CartPole-v1", "--algo", "trpo"], "unknown algo 'trpo'"),
        (["train", "Pendulum-v1", "--algo", "dqn"], "has no recipe for 'Pendulum-v1'"),
        (["train", "CartPole-v1", "--ann", "--encoder", "sf"], "--ann trains on raw observations"),
        (["replay", "/nonexistent/run"], "is not a directory"),
        (["train", "CartPole-v1", "--device", "gpu0"], "--device 'gpu0' is not a torch device"),
        (["train", "CartPole-v1", "--device", "meta"], "only cpu, cuda, cuda:N or auto"),
        pytest.param(
            ["train", "CartPole-v1", "--device", "cuda"],
            "torch sees no CUDA device",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is there"),
        ),
    ],
)
def test_the_commands_refuse_bad_input(arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    from spikegym.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(arguments)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_the_ann_baseline_and_the_learnable_encoder_train_and_replay(tmp_path: Path) -> None:
    run_dir, _ = train("CartPole-v1", "ppo", timesteps=256, ann=True, runs_dir=tmp_path, progress=False)
    run = load_run(run_dir)
    assert run.info.policy == "ann" and run.config is None and not (run_dir / "encoder.yaml").exists()
    report = replay(run, episodes=1, deterministic=True)
    assert report.spiking is None and report.ann is not None and report.ann.macs == 4 * 64 + 64 * 64 + 64 * 2
    replay(run, episodes=1, video=tmp_path / "ann.gif")
    assert (tmp_path / "ann.gif").read_bytes()[:6] == b"GIF89a"
    with pytest.raises(ValueError, match=r"video must be a \.gif or \.mp4 path"):
        replay(run, episodes=1, video=tmp_path / "a.avi")
    run_dir, _ = train(
        "CartPole-v1", "ppo", timesteps=256, encoder="learnable_population", runs_dir=tmp_path, progress=False
    )
    run = load_run(run_dir)
    env = make_replay_env(run)
    assert isinstance(env, ScaledObservationWrapper)
    assert isinstance(actor_parts(load_model(run))[0].encoder, LearnablePopulationEncoder)
    assert replay(run, episodes=1, deterministic=True).input_spikes > 0


def test_nir_export_round_trip_gives_the_same_actions(trained: tuple[Path, object], tmp_path: Path) -> None:
    import nir

    from spikegym.cli import main
    from spikegym.export import load_policy

    run_dir, model = trained
    target = tmp_path / "policy.nir"
    assert main(["export", str(run_dir), "--nir", str(target)]) == 0
    graph = nir.read(target)
    assert {"input", "fc0", "lif0", "fc1", "lif1", "head0", "output"} <= set(graph.nodes)
    policy = load_policy(target)
    env = make_replay_env(load_run(run_dir))
    observations = []
    observation, _ = env.reset(seed=5)
    for _ in range(100):
        observations.append(observation)
        observation, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            observation, _ = env.reset()
    batch = np.stack(observations)
    assert np.array_equal(policy.act(batch), recorded_actions(load_run(run_dir), batch, model))
    with pytest.raises(SystemExit):
        main(["export", str(run_dir), "--nir", str(target)])


@pytest.mark.parametrize("algo", ["sac", "td3"])
def test_the_population_action_head_decodes_each_action_from_its_own_group(algo: str) -> None:
    from spikegym.policies import PopulationDecoder

    recipe = tiny_recipe(algo, "Pendulum-v1", population_head=5, learning_starts=10, buffer_size=100, batch_size=8)
    env = make_vec_env("Pendulum-v1", n_envs=1, seed=0, wrapper_class=SpikeObservationWrapper,
                       wrapper_kwargs={"encoder": "Pendulum-v1"})  # fmt: skip
    model = build_model(recipe, env, seed=0, spiking=True)
    extractor, head = actor_parts(model)
    assert extractor.layers[-1].out_features == 1 * 5 and extractor.readout == "spike_count"
    decoders = [m for part in head for m in part.modules() if isinstance(m, PopulationDecoder)]
    assert len(decoders) == 1 and decoders[0].weight.shape == (1, 5)
    before = decoders[0].weight.detach().clone()
    model.learn(total_timesteps=60)
    assert not torch.equal(before, decoders[0].weight), "the decoder is trained"
    rates = torch.zeros(1, 5)
    rates[0, 2] = 1.0
    assert torch.allclose(decoders[0](rates), decoders[0].weight[:, 2] + decoders[0].bias)


def test_rollouts_recorded_with_a_trained_agent(trained: tuple[Path, object]) -> None:
    from spikegym.rollouts import record, record_agent

    rollouts = record_agent(trained[0], 300, seed=1)
    assert rollouts.env_id == "CartPole-v1" and rollouts.n_steps == 300
    assert rollouts.features == ("x[0]", "x[1]", "x[2]", "x[3]")
    random_policy = record("CartPole-v1", 300, seed=1)
    assert len(rollouts.episodes) < len(random_policy.episodes), "the agent balances longer than a random policy"
    assert record_agent(trained[0], 300, seed=1).episodes[0].tolist() == rollouts.episodes[0].tolist()


def test_tuning_refuses_an_agent_of_another_env(
    trained: tuple[Path, object], capsys: pytest.CaptureFixture[str]
) -> None:
    from spikegym.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["tune", "Acrobot-v1", "--agent", str(trained[0]), "--no-progress"])
    assert exit_info.value.code == 2
    assert f"--agent {trained[0]} was trained on CartPole-v1, not Acrobot-v1" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_spiking_agent_trains_on_cuda_and_replays_on_the_cpu(tmp_path: Path) -> None:
    run_dir, model = train("CartPole-v1", "ppo", timesteps=512, runs_dir=tmp_path, progress=False, device="cuda")
    assert model.device.type == "cuda"
    assert next(actor_parts(model)[0].parameters()).device.type == "cuda"
    report = replay(load_run(run_dir), episodes=2, deterministic=True)
    assert report.spiking is not None and report.spiking.synaptic_ops > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_extractor_gives_the_same_features_and_gradients_on_cuda() -> None:
    torch.manual_seed(0)
    extractor = SpikingExtractor(gym.spaces.MultiBinary((8, 12)), hidden=[32, 8])
    spikes = (torch.rand(64, 8, 12) < 0.3).float()
    features = extractor(spikes)
    features.sum().backward()
    grads = [p.grad.clone() for p in extractor.parameters()]
    extractor.zero_grad()
    gpu = extractor.to("cuda")
    gpu_features = gpu(spikes.cuda())
    gpu_features.sum().backward()
    torch.testing.assert_close(gpu_features.cpu(), features, rtol=1e-4, atol=1e-5)
    for grad, param in zip(grads, gpu.parameters(), strict=True):
        torch.testing.assert_close(param.grad.cpu(), grad, rtol=1e-3, atol=1e-5)
