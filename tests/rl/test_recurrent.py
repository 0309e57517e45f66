"""The stateful spiking policy: membranes carried across env steps, restarted exactly where episodes start."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import snntorch as snn
import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env

import spikegym
from spikegym.cli.main import main
from spikegym.data import shipped
from spikegym.envs.wrappers import SpikeObservationWrapper
from spikegym.rl.acting import Agent, VectorAgent
from spikegym.rl.export import ExportError, actor_of, policy_graph
from spikegym.rl.nir_readers import compare, record_episodes
from spikegym.rl.recurrent import SpikingRecurrentCore, SpikingRecurrentPolicy
from spikegym.rl.replay import replay
from spikegym.rl.runs import load_run
from spikegym.rl.training import Overrides, train
from tests.rl.test_leaky_scan import TOLERANCE

SF_CONFIG = shipped("envs_configs") / "CartPole-v1.step_forward.yaml"
SMALL = {"n_steps": 32, "batch_size": 64, "n_epochs": 2}


def _model(critic: str = "lstm", seed: int = 0, **spiking: object) -> RecurrentPPO:
    env = make_vec_env(
        "CartPole-v1", n_envs=4, seed=seed, wrapper_class=SpikeObservationWrapper, wrapper_kwargs={"encoder": "sf"}
    )
    kwargs = {"spiking_kwargs": {"hidden": [24, 8], **spiking}, "net_arch": {"pi": [], "vf": [16]}, "critic": critic}
    return RecurrentPPO(SpikingRecurrentPolicy, env, seed=seed, policy_kwargs=kwargs, **SMALL)


class _Continue(BaseCallback):
    def _on_step(self) -> bool:
        return True


@pytest.mark.parametrize(("reset", "alpha"), [("subtract", None), ("zero", None), ("subtract", 1.0)])
@pytest.mark.parametrize("critic", ["lstm", "spiking"])
def test_the_training_sequences_give_the_log_probs_and_values_the_rollout_acted_with(
    critic: str, reset: str, alpha: float | None
) -> None:
    """RecurrentPPO recomputes the rollout's log-probabilities from stored states and episode starts over sequences
    of env steps; they equal those the policy acted with step by step only if the state (with a synaptic current:
    ``alpha``) restarts exactly where episodes start (CartPole's random episodes end inside every sequence)."""
    model = _model(critic, reset=reset, threshold=0.3, alpha=alpha)
    model._setup_learn(model.n_steps * model.n_envs, None)
    callback = _Continue()
    callback.init_callback(model)
    model.collect_rollouts(model.env, callback, model.rollout_buffer, n_rollout_steps=model.n_steps)
    assert model.rollout_buffer.episode_starts[1:].sum() >= 4, "no episode started inside the rollout"
    for batch in model.rollout_buffer.get(batch_size=64):
        values, log_prob, _ = model.policy.evaluate_actions(
            batch.observations, batch.actions.long().flatten(), batch.lstm_states, batch.episode_starts
        )
        kept = batch.mask > 0
        torch.testing.assert_close(log_prob[kept], batch.old_log_prob[kept], **TOLERANCE[torch.float32])
        torch.testing.assert_close(values.flatten()[kept], batch.old_values[kept], **TOLERANCE[torch.float32])


def _stepped_outputs(core: SpikingRecurrentCore, blocks: torch.Tensor) -> torch.Tensor:
    """The core's outputs the textbook way: snntorch modules stepped over every sub-step of every observation,
    membranes passed on from one observation to the next, read out per observation."""
    extractor = core.extractor
    membranes = [torch.zeros(1, layer.out_features) for layer in extractor.layers]
    synaptic = torch.zeros(1, extractor.layers[0].out_features)
    outputs = []
    for block in blocks:
        trace = []
        for t in range(block.shape[0]):
            x = block[t].unsqueeze(0)
            for i, (layer, neuron) in enumerate(zip(extractor.layers, extractor.neurons, strict=True)):
                if isinstance(neuron, snn.Synaptic):
                    x, synaptic, membranes[i] = neuron(layer(x), synaptic, membranes[i])
                else:
                    x, membranes[i] = neuron(layer(x), membranes[i])
            trace.append(membranes[-1])
        outputs.append(torch.stack(trace).mean(0))
    return torch.cat(outputs)


@pytest.mark.parametrize("alpha", [None, 1.0, 0.8])
def test_one_episode_through_the_core_equals_snntorch_stepped_with_state_carried_over(alpha: float | None) -> None:
    """snntorch ``Leaky`` neurons, or a ``Synaptic`` first layer (``alpha``) whose current is carried too."""
    core = SpikingRecurrentCore(gym.spaces.MultiBinary((4, 10)), hidden=(12, 6), threshold=0.4, alpha=alpha)
    blocks = (torch.rand(7, 4, 10, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    size = 18 if alpha is None else 30
    assert core.hidden_size == size
    state = (torch.zeros(1, 1, size), torch.zeros(1, 1, size))
    starts = torch.zeros(7)
    starts[0] = 1
    with torch.no_grad():
        whole, _ = core(blocks.flatten(1), state, starts)
        stepwise = []
        for block, start in zip(blocks, starts, strict=True):
            out, state = core(block.flatten().unsqueeze(0), state, start.unsqueeze(0))
            stepwise.append(out)
        expected = _stepped_outputs(core, blocks)
    torch.testing.assert_close(whole, expected, **TOLERANCE[torch.float32])
    torch.testing.assert_close(torch.cat(stepwise), whole, rtol=0, atol=0)
    fresh = core.extractor(blocks)
    assert not torch.allclose(whole[1:], fresh[1:]), "the state carried nothing from one observation to the next"


@pytest.mark.parametrize("alpha", [None, 1.0])
def test_the_state_restarts_at_episode_start_as_if_the_episode_were_the_first(alpha: float | None) -> None:
    core = SpikingRecurrentCore(gym.spaces.MultiBinary((4, 10)), hidden=(12, 6), threshold=0.4, alpha=alpha)
    blocks = (torch.rand(9, 4, 10, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    starts = torch.tensor([1, 0, 0, 0, 1, 0, 0, 0, 0], dtype=torch.float32)
    zero = (torch.zeros(1, 1, core.hidden_size), torch.zeros(1, 1, core.hidden_size))
    with torch.no_grad():
        both, _ = core(blocks.flatten(1), zero, starts)
        second, _ = core(blocks[4:].flatten(1), zero, starts[4:])
    torch.testing.assert_close(both[4:], second, rtol=0, atol=0)


def test_a_saved_model_loads_with_its_spiking_core_and_acts_the_same(tmp_path: Path) -> None:
    model = _model("spiking")
    model.learn(256)
    model.save(tmp_path / "model.zip")
    loaded = RecurrentPPO.load(tmp_path / "model.zip")
    assert isinstance(loaded.policy.lstm_actor, SpikingRecurrentCore)
    assert isinstance(loaded.policy.lstm_critic, SpikingRecurrentCore)
    for name, tensor in model.policy.state_dict().items():
        assert torch.equal(tensor, loaded.policy.state_dict()[name]), name
    observations = np.stack([model.env.observation_space.sample() for _ in range(8)])
    starts = np.array([True, False, False, True, False, False, False, False])

    def acted(trained: RecurrentPPO) -> list[int]:
        agent, actions = Agent(trained), []
        for observation, start in zip(observations, starts, strict=True):
            if start:
                agent.episode_started()
            actions.append(int(agent(observation)))
        return actions

    assert acted(loaded) == acted(model)


def test_a_bad_critic_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"critic must be one of \['lstm', 'spiking'\], got 'mlp'"):
        _model("mlp")


def test_the_vector_env_acts_as_each_env_alone_across_autoresets() -> None:
    """In a gymnasium vector env a sub-env resets one step after its episode ends; the state restarts on the
    observation of that step, so each sub-env's actions equal the same seeded env's acted alone."""
    model = _model(threshold=0.3)
    envs = spikegym.make_vec("CartPole-v1", 2, "sf", vectorization_mode="sync")
    observations, _ = envs.reset(seed=5)
    vector = VectorAgent(model)
    vector.reset(envs.num_envs)
    acted: list[list[int]] = [[], []]
    ended = [0, 0]
    for _ in range(120):
        actions = vector(observations)
        for i in range(2):
            if not vector.resetting[i]:  # on the step a sub-env resets, its action is ignored
                acted[i].append(int(actions[i]))
        observations, _, terminated, truncated, _ = envs.step(actions)
        ended = [e + int(d) for e, d in zip(ended, terminated | truncated, strict=True)]
        vector.stepped(terminated, truncated)
    assert min(ended) >= 2, "the check needs episodes that end and restart in both sub-envs"
    for i in range(2):
        env = spikegym.make("CartPole-v1", "sf")
        alone = Agent(model)
        observation, _ = env.reset(seed=5 + i)
        actions = []
        while len(actions) < len(acted[i]):
            action = alone(observation)
            actions.append(int(action))
            observation, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                observation, _ = env.reset()
                alone.episode_started()
        assert actions == acted[i]


@pytest.fixture(scope="module", params=[None, 1.0], ids=["leaky", "synaptic"])
def stateful_run(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """A NIR-exact stateful run on CartPole-v1's tuned step-forward config, trained for a few hundred steps; with
    a synaptic first layer (``alpha``) or without."""
    runs = tmp_path_factory.mktemp("runs")
    spiking = {"spiking.hidden": [24, 8], "spiking.threshold": 0.3, "spiking.alpha": request.param}
    overrides = Overrides({**SMALL, **spiking}, n_envs=2)
    run_dir, _ = train(
        "CartPole-v1", "recurrent_ppo", timesteps=256, encoder=str(SF_CONFIG), runs_dir=runs, progress=False,
        nir_exact=True, overrides=overrides,
    )  # fmt: skip
    return run_dir


def test_replay_of_a_stateful_run_measures_its_spikes_and_energy(stateful_run: Path) -> None:
    run = load_run(stateful_run)
    report = replay(run, episodes=2, seed=1)
    assert len(report.returns) == 2 and report.spiking is not None
    assert report.input_spikes > 0 and len(report.hidden_rates) == 2
    steps, sizes = run.config.substeps, (24, 8)
    counted = sum(rate * steps * size for rate, size in zip(report.hidden_rates, sizes, strict=True))
    assert report.hidden_spikes == pytest.approx(counted)
    assert report.baseline is not None and report.baseline.macs > 4 * 64 * (4 + 64)  # its LSTM counted


def test_the_nir_export_of_a_stateful_policy_runs_each_episode_as_trained_in_the_readers(stateful_run: Path) -> None:
    run = load_run(stateful_run)
    model = RecurrentPPO.load(run.path / "model.zip")
    env = spikegym.make("CartPole-v1", str(SF_CONFIG))
    observations, starts = record_episodes(model, env, 150, seed=3)
    assert starts.sum() >= 2
    actor = actor_of(model)
    assert actor.stateful
    acted, agent = [], Agent(model)
    for observation, start in zip(observations, starts, strict=True):
        if start:
            agent.episode_started()
        acted.append(int(agent(observation)))
    assert actor.scores(observations, starts).argmax(axis=1).tolist() == acted
    graph = policy_graph(model)
    assert "reset at episode start" in graph.metadata["state"]
    synaptic = actor.extractor.alpha is not None
    assert any(type(node).__name__ == "CubaLIF" for node in graph.nodes.values()) == synaptic
    (agreement,) = compare(actor, graph, observations, ["spikegym"], starts)
    assert agreement.agree == len(observations)
    with pytest.raises(ValueError, match="episode starts"):
        compare(actor, graph, observations, ["spikegym"])


def test_the_command_line_trains_replays_and_exports_a_stateful_agent(tmp_path: Path, capsys) -> None:
    runs = tmp_path / "runs"
    hyperparams = ["n_steps=32", "batch_size=64", "n_epochs=1", "spiking.hidden=[16]"]
    command = ["train", "CartPole-v1", "--algo", "recurrent_ppo", "--encoder", str(SF_CONFIG), "--timesteps", "128"]
    assert (
        main([*command, "--n-envs", "2", "--runs-dir", str(runs), "--no-progress", "--hyperparams", *hyperparams]) == 0
    )
    (run_dir,) = runs.iterdir()
    assert main(["replay", str(run_dir), "--episodes", "1"]) == 0
    out = capsys.readouterr().out
    assert "LSTM 64 " in out and "recurrent_ppo ANN baseline energy" in out
    with pytest.raises(SystemExit):
        main(["export", str(run_dir), "--nir", str(tmp_path / "p.nir")])
    assert "membrane" in capsys.readouterr().err


def test_export_refuses_a_stateful_policy_with_continuous_actions() -> None:
    env = make_vec_env("Pendulum-v1", n_envs=1, wrapper_class=SpikeObservationWrapper, wrapper_kwargs={"encoder": "sf"})
    model = RecurrentPPO(SpikingRecurrentPolicy, env, n_steps=16, batch_size=16)
    with pytest.raises(ExportError, match="RecurrentPPO supports Discrete action spaces"):
        actor_of(model)
