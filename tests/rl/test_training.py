"""Training: every algorithm learns, run directories, the ANN baseline, the learnable encoder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from stable_baselines3.common.env_util import make_vec_env

import spikegym
from spikegym.envs.wrappers import ScaledObservationWrapper, SpikeObservationWrapper
from spikegym.rl.extractors import LearnablePopulationEncoder, SpikingExtractor
from spikegym.rl.replay import actor_parts, make_replay_env, replay
from spikegym.rl.runs import RUN_FILE, RunError, load_run, new_run_dir
from spikegym.rl.training import build_model, load_model, train
from tests.rl.helpers import tiny_recipe


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
def test_every_algorithm_trains_with_the_spiking_extractor(algo: str, env_id: str, kwargs: dict) -> None:
    recipe = tiny_recipe(algo, env_id, **kwargs)
    env = make_vec_env(
        env_id, n_envs=1, seed=0, wrapper_class=SpikeObservationWrapper, wrapper_kwargs={"encoder": env_id}
    )
    model = build_model(recipe, env, seed=0, spiking=True)
    extractor, _ = actor_parts(model)
    assert isinstance(extractor, SpikingExtractor)
    before = [p.detach().clone() for p in extractor.parameters()]
    steps = 300 if algo in ("ppo", "a2c") else 100  # off-policy: 50 updates after learning_starts
    model.learn(total_timesteps=steps)
    assert model.num_timesteps >= steps
    assert any(not torch.equal(a, b) for a, b in zip(before, extractor.parameters(), strict=True)), "no learning"
    action, _ = model.predict(env.reset(), deterministic=True)
    assert env.action_space.contains(action[0])


def test_a_run_directory_holds_everything_to_reload_it(trained: tuple[Path, object]) -> None:
    run_dir, _ = trained
    names = {p.name for p in run_dir.iterdir()}
    assert {"model.zip", "run.yaml", "encoder.yaml", "recipe.yaml", "progress.csv", "eval"} <= names
    assert any(name.startswith("events.out.tfevents") for name in names)
    run = load_run(run_dir)
    assert run.info.env_id == "CartPole-v1" and run.info.policy == "spiking" and run.info.seed == 0
    assert run.config == spikegym.load_config("CartPole-v1")
    assert "time/total_timesteps" in (run_dir / "progress.csv").read_text().splitlines()[0]


def test_training_never_reuses_a_run_directory(tmp_path: Path) -> None:
    first = new_run_dir(tmp_path, "CartPole-v1", "ppo", "population", 0)
    second = new_run_dir(tmp_path, "CartPole-v1", "ppo", "population", 0)
    assert first != second and first.is_dir() and second.is_dir()


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


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_spiking_agent_trains_on_cuda_and_replays_on_the_cpu(tmp_path: Path) -> None:
    run_dir, model = train("CartPole-v1", "ppo", timesteps=512, runs_dir=tmp_path, progress=False, device="cuda")
    assert model.device.type == "cuda"
    assert next(actor_parts(model)[0].parameters()).device.type == "cuda"
    report = replay(load_run(run_dir), episodes=2, deterministic=True)
    assert report.spiking is not None and report.spiking.synaptic_ops > 0


def test_models_and_checkpoints_appear_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from stable_baselines3 import PPO

    from spikegym.rl.interrupt import save_whole

    model = PPO("MlpPolicy", "CartPole-v1", n_steps=32, batch_size=32)
    target = tmp_path / "model.zip"
    save_whole(model, target)
    assert PPO.load(target).observation_space == model.observation_space
    assert not list(tmp_path.glob("*.partial"))

    def killed(source: object, destination: object) -> None:
        raise KeyboardInterrupt("killed between writing and renaming")

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        save_whole(model, tmp_path / "checkpoint.zip")
    assert not (tmp_path / "checkpoint.zip").exists(), "a half-saved model never takes the final name"


def test_an_encoder_name_takes_its_tuned_config_for_the_env_where_one_ships() -> None:
    from spikegym.data import shipped
    from spikegym.envs.configs import load_config
    from spikegym.rl.training import resolve_encoder

    tuned = load_config(shipped("envs_configs") / "CartPole-v1.step_forward.yaml")
    for name in ("step_forward", "sf"):
        assert resolve_encoder("CartPole-v1", name).params == tuned.params
    untuned = resolve_encoder("CartPole-v1", "bsa")
    assert untuned.encoder == "bsa" and untuned.params == {} and not untuned.provenance


@pytest.mark.parametrize(
    ("algo", "encoder", "warned"),
    [("ppo", "step_forward", True), ("ppo", "population", False), ("recurrent_ppo", "step_forward", False)],
)
def test_a_stateless_policy_on_an_encoder_it_cannot_read_trains_with_a_warning(
    algo: str, encoder: str, warned: bool, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A feed-forward policy reads each window alone: step-forward's windows hold changes, not levels, so it is
    told that --algo recurrent_ppo carries the state (and the run trains all the same)."""
    from spikegym.rl.training import Overrides

    small = {"n_steps": 32, "batch_size": 32, "n_epochs": 1}
    with caplog.at_level("WARNING", logger="spikegym.rl.training"):
        run_dir, _ = train(
            "CartPole-v1", algo, encoder=encoder, timesteps=32, progress=False, eval_freq=10**6, runs_dir=tmp_path,
            overrides=Overrides(small, n_envs=1),
        )  # fmt: skip
    messages = [record.getMessage() for record in caplog.records if "window alone" in record.getMessage()]
    assert (run_dir / "model.zip").is_file()
    assert bool(messages) == warned
    if warned:
        assert "step_forward config misses the value: its spikes mark changes" in messages[0]
        assert "--algo recurrent_ppo carries the state across observations" in messages[0]
