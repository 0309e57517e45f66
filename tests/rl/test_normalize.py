"""The MLP baseline's observation normalisation (``ann_normalize``, rl-baselines3-zoo's ``normalize``): statistics
saved with the run and used wherever it is evaluated, replayed, continued or loaded; never for a spiking run, whose
rewards alone may be normalised (``normalize_reward``)."""

from __future__ import annotations

import pickle
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize

from spikegym.rl import training
from spikegym.rl.acting import Agent, VectorAgent
from spikegym.rl.interrupt import save_whole
from spikegym.rl.recipes import RecipeError, load_recipe, normalize_options
from spikegym.rl.replay import make_replay_env, recorded_actions, replay
from spikegym.rl.runs import RUN_FILE, VECNORMALIZE_FILE, RunError, load_run
from spikegym.rl.training import Overrides, load_model, train

SMALL_PPO = {"n_steps": 64, "batch_size": 64, "n_epochs": 1}
"""PPO updates small enough that a Pendulum run trains in a second (Pendulum has no recipe: SB3's defaults)."""
QUICK = {"progress": False, "eval_freq": 10**6}
"""Training arguments of runs too short to evaluate."""


@pytest.fixture(scope="module")
def normalised(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A 256-step PPO MLP run on Pendulum-v1 with normalised observations (evaluated and checkpointed every
    128 steps), its model in memory and the evaluation env its EvalCallback used."""
    captured: dict[str, Any] = {}
    evaluation = training._evaluation

    def capture(eval_env: Any, *args: Any) -> Any:
        captured["eval_env"] = eval_env
        return evaluation(eval_env, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(training, "_evaluation", capture)
        run_dir, model = train(
            "Pendulum-v1",
            "ppo",
            ann=True,
            timesteps=256,
            runs_dir=tmp_path_factory.mktemp("runs"),
            progress=False,
            eval_freq=128,
            n_eval_episodes=1,
            save_freq=128,
            overrides=Overrides({"ann_normalize": True, **SMALL_PPO}),
        )
    yield {"run_dir": run_dir, "model": model, **captured}


def observations(count: int = 32) -> np.ndarray:
    """Pendulum observations far from the running mean."""
    angles = np.linspace(-np.pi, np.pi, count)
    return np.stack([np.cos(angles), np.sin(angles), np.linspace(-8, 8, count)], axis=1).astype(np.float32)


def test_statistics_are_saved_with_the_model_and_its_checkpoints(normalised: dict[str, Any]) -> None:
    run_dir = normalised["run_dir"]
    trained = normalised["model"].get_vec_normalize_env()
    assert isinstance(trained, VecNormalize) and trained.obs_rms.count > 256
    info = yaml.safe_load((run_dir / RUN_FILE).read_text())
    assert VECNORMALIZE_FILE in info["checksums"]
    with (run_dir / VECNORMALIZE_FILE).open("rb") as handle:
        saved = pickle.load(handle)
    assert np.array_equal(saved.obs_rms.mean, trained.obs_rms.mean) and saved.obs_rms.count == trained.obs_rms.count
    assert saved.gamma == 0.99 and saved.norm_obs and saved.norm_reward  # the zoo's `normalize: true`
    assert (run_dir / "checkpoints" / "model_vecnormalize_128_steps.pkl").is_file()
    checkpoint = load_run(run_dir / "checkpoints" / "model_128_steps.zip")
    early = load_model(checkpoint).get_vec_normalize_env()
    assert early is not None and early.obs_rms.count < trained.obs_rms.count


def test_a_loaded_run_holds_the_training_statistics_read_only(normalised: dict[str, Any]) -> None:
    run = load_run(normalised["run_dir"])
    assert run.normalization_path == run.path / VECNORMALIZE_FILE
    statistics = load_model(run).get_vec_normalize_env()
    trained = normalised["model"].get_vec_normalize_env()
    assert statistics is not None and not statistics.training and not statistics.norm_reward
    assert np.array_equal(statistics.obs_rms.var, trained.obs_rms.var)


def test_the_evaluation_env_uses_the_training_statistics(normalised: dict[str, Any]) -> None:
    eval_env, trained = normalised["eval_env"], normalised["model"].get_vec_normalize_env()
    assert isinstance(eval_env, VecNormalize) and not eval_env.training and not eval_env.norm_reward
    # the last evaluation was at the last env step: it synced the statistics training ended with
    assert np.array_equal(eval_env.obs_rms.mean, trained.obs_rms.mean)
    assert not np.allclose(eval_env.obs_rms.mean, 0.0)


def test_agents_act_on_normalised_observations(normalised: dict[str, Any]) -> None:
    model = load_model(load_run(normalised["run_dir"]))
    statistics = model.get_vec_normalize_env()
    batch = observations()
    on_normalised, _ = model.predict(statistics.normalize_obs(batch), deterministic=True)
    on_raw, _ = model.predict(batch, deterministic=True)
    assert not np.allclose(on_normalised, on_raw)
    agent = Agent(model)
    assert np.allclose(np.concatenate([agent(observation) for observation in batch]), on_normalised[:, 0])
    vector = VectorAgent(model)
    vector.reset(len(batch))
    assert np.allclose(vector(batch), on_normalised)
    assert np.allclose(recorded_actions(load_run(normalised["run_dir"]), batch), on_normalised)


def test_replay_acts_on_normalised_observations(normalised: dict[str, Any]) -> None:
    run = load_run(normalised["run_dir"])
    model = load_model(run)
    statistics = model.get_vec_normalize_env()

    def episode(normalise: bool) -> float:
        env = make_replay_env(run)
        observation, _ = env.reset(seed=0)
        total, done = 0.0, False
        while not done:
            seen = statistics.normalize_obs(observation) if normalise else observation
            action, _ = model.predict(seen, deterministic=True)
            observation, reward, terminated, truncated, _ = env.step(action)
            total, done = total + float(reward), terminated or truncated
        return total

    returns = replay(run, episodes=1).returns
    assert returns == pytest.approx([episode(normalise=True)])
    assert returns != pytest.approx([episode(normalise=False)])


def test_a_continued_run_resumes_the_statistics(normalised: dict[str, Any], tmp_path: Path) -> None:
    before = normalised["model"].get_vec_normalize_env().obs_rms.count
    run_dir, model = train(
        "Pendulum-v1", "ppo", timesteps=64, continue_from=normalised["run_dir"], runs_dir=tmp_path, **QUICK
    )
    statistics = model.get_vec_normalize_env()
    assert statistics is not None and statistics.obs_rms.count >= before + 64  # and the reset's observation
    assert load_model(load_run(run_dir)).get_vec_normalize_env().obs_rms.count == statistics.obs_rms.count


def test_missing_or_edited_statistics_are_refused(normalised: dict[str, Any], tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(normalised["run_dir"], copy)
    (copy / VECNORMALIZE_FILE).write_bytes(pickle.dumps({"not": "statistics"}))
    with pytest.raises(RunError, match=r"vecnormalize\.pkl changed since the run was written"):
        load_run(copy)
    with pytest.raises(RunError, match=r"vecnormalize\.pkl cannot be loaded as VecNormalize statistics"):
        load_model(load_run(copy, allow_edited=True))
    (copy / VECNORMALIZE_FILE).unlink()
    with pytest.raises(RunError, match=r"vecnormalize\.pkl is missing"):
        load_run(copy)


def test_a_spiking_run_is_never_normalised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = load_recipe("ppo", "CartPole-v1").to_dict()
    entry.update(n_envs=1, algo_kwargs=SMALL_PPO, spiking={"hidden": [8]}, ann_normalize=True)
    (tmp_path / "ppo.yaml").write_text(
        yaml.safe_dump({"CartPole-v1": {k: v for k, v in entry.items() if k not in ("algo", "env_id")}})
    )
    monkeypatch.setenv("SPIKEGYM_AGENTS_DIR", str(tmp_path))
    spiking_dir, spiking = train("CartPole-v1", "ppo", timesteps=64, runs_dir=tmp_path / "runs", **QUICK)
    assert spiking.get_vec_normalize_env() is None and not (spiking_dir / VECNORMALIZE_FILE).exists()
    run = load_run(spiking_dir)
    assert run.recipe.ann_normalize == {} and run.normalization_path is None
    assert load_model(run).get_vec_normalize_env() is None
    ann_dir, ann = train("CartPole-v1", "ppo", ann=True, timesteps=64, runs_dir=tmp_path / "runs", **QUICK)
    assert isinstance(ann.get_vec_normalize_env(), VecNormalize) and (ann_dir / VECNORMALIZE_FILE).is_file()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yes", r"ann_normalize must be true, false or a mapping of VecNormalize options \['norm_obs'"),
        ({"gamma": 0.9}, r"ann_normalize has unknown option\(s\) \['gamma'\]; allowed: \['norm_obs'"),
        ({"norm_obs": "true"}, r"ann_normalize.norm_obs must be true or false, got 'true'"),
        ({"clip_obs": 0}, r"ann_normalize.clip_obs must be a number > 0, got 0"),
        ({"epsilon": True}, r"ann_normalize.epsilon must be a number > 0, got True"),
    ],
)
def test_bad_normalisation_options_are_refused(value: Any, message: str, tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=message):
        normalize_options(value)
    (tmp_path / "ppo.yaml").write_text(
        yaml.safe_dump({"CartPole-v1": {"n_timesteps": 10, "n_envs": 1, "ann_normalize": value}})
    )
    with pytest.raises(RecipeError, match=rf"ppo.yaml: CartPole-v1\.{message}"):
        load_recipe("ppo", "CartPole-v1", agents_dir=tmp_path)
    with pytest.raises(ValueError, match=rf"--hyperparams {message}"):
        train("CartPole-v1", "ppo", ann=True, runs_dir=tmp_path, overrides=Overrides({"ann_normalize": value}))
    assert not (tmp_path / "runs").exists()


def test_hyperparams_normalise_only_the_ann_baseline(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"ann_normalize=True: it normalises the observations of the ANN baseline"):
        train("CartPole-v1", "ppo", runs_dir=tmp_path, overrides=Overrides({"ann_normalize": True}))
    with pytest.raises(ValueError, match=r"normalize_reward=True: it normalises the spiking agent's rewards"):
        train("CartPole-v1", "ppo", ann=True, runs_dir=tmp_path, overrides=Overrides({"normalize_reward": True}))
    with pytest.raises(ValueError, match=r"--hyperparams normalize_reward must be true or false, got 'yes'"):
        train("CartPole-v1", "ppo", runs_dir=tmp_path, overrides=Overrides({"normalize_reward": "yes"}))
    assert not list(tmp_path.iterdir())
    off = Overrides({"ann_normalize": False, **SMALL_PPO})  # the recipe normalises Acrobot-v1's MLP
    run_dir, model = train("CartPole-v1", "ppo", ann=True, timesteps=64, runs_dir=tmp_path, overrides=off, **QUICK)
    assert model.get_vec_normalize_env() is None and load_run(run_dir).recipe.ann_normalize is None


def test_a_model_on_normalised_observations_is_not_saved_without_its_statistics(tmp_path: Path) -> None:
    model = PPO("MlpPolicy", VecNormalize(make_vec_env("CartPole-v1")), n_steps=64, batch_size=64)
    with pytest.raises(ValueError, match=r"normalises its observations; give the path of their statistics"):
        save_whole(model, tmp_path / "model.zip")
    assert not (tmp_path / "model.zip").exists()


def test_a_spiking_run_may_normalise_its_rewards_and_acts_on_spikes_as_they_are(tmp_path: Path) -> None:
    """``normalize_reward``: the training env scales rewards by the return's running spread (observations, spike
    blocks, untouched), the statistics are saved and resumed by a continued run, and acting needs none of them."""
    overrides = Overrides({"normalize_reward": True, **SMALL_PPO})
    run_dir, model = train("CartPole-v1", "ppo", timesteps=128, runs_dir=tmp_path, overrides=overrides, **QUICK)
    statistics = model.get_vec_normalize_env()
    assert isinstance(statistics, VecNormalize) and statistics.norm_reward and not statistics.norm_obs
    assert statistics.ret_rms.count > 1 and (run_dir / VECNORMALIZE_FILE).is_file()
    run = load_run(run_dir)
    assert run.recipe.normalize_reward and not run.normalizes_observations
    loaded = load_model(run)
    assert loaded.get_vec_normalize_env() is None  # the agent acts on the spike blocks as the env gives them
    report = replay(run, episodes=1, seed=5)
    assert report.mean_return > 0
    continued_dir, continued = train(
        "CartPole-v1", "ppo", timesteps=64, runs_dir=tmp_path, continue_from=run_dir, **QUICK
    )
    resumed = continued.get_vec_normalize_env()
    assert resumed.ret_rms.count > statistics.ret_rms.count and resumed.training
    assert load_run(continued_dir).recipe.normalize_reward


def test_normalize_reward_in_a_recipe_is_checked_and_written_back(tmp_path: Path) -> None:
    (tmp_path / "ppo.yaml").write_text(yaml.safe_dump({"CartPole-v1": {"n_timesteps": 10, "n_envs": 1,
                                                                       "normalize_reward": 1}}))  # fmt: skip
    with pytest.raises(RecipeError, match=r"ppo.yaml: CartPole-v1\.normalize_reward must be true or false, got 1"):
        load_recipe("ppo", "CartPole-v1", agents_dir=tmp_path)
    recipe = load_recipe("recurrent_ppo", "Acrobot-v1")
    assert recipe.normalize_reward and recipe.to_dict()["normalize_reward"] is True
    assert recipe.normalization(ann=False) == {"norm_obs": False} and recipe.normalization(ann=True) == {}
