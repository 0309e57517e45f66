"""Registered env ids: ``gym.make("spikegym/<env id>", ...)`` gives the env wrapped with its config."""

from __future__ import annotations

import dataclasses
import json
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import spikegym
from spikegym.envs.configs import load_config
from spikegym.envs.wrappers import SpikeObservationVectorWrapper
from tests.helpers import seeded_rollout

SHIPPED = spikegym.shipped_env_ids()


def run_python(code: str) -> dict:
    """The JSON that a fresh interpreter prints last after running ``code``."""
    result = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Warn" not in result.stderr, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


IMPORT_ORDERS = {
    "spikegym first": "import sys, spikegym\nimport gymnasium as gym",
    "gymnasium first": "import sys\nimport gymnasium as gym\nimport spikegym",
}


@pytest.mark.parametrize("order", sorted(IMPORT_ORDERS))
def test_importing_spikegym_registers_every_shipped_config_without_torch(order: str) -> None:
    code = IMPORT_ORDERS[order] + (
        "\nimport json\n"
        "ids = sorted(k for k in gym.registry if k.startswith('spikegym/'))\n"
        "print(json.dumps({'ids': ids, 'torch': 'torch' in sys.modules}))"
    )
    assert run_python(code) == {"ids": sorted(f"spikegym/{env_id}" for env_id in SHIPPED), "torch": False}


def test_gymnasium_imports_spikegym_from_a_module_prefixed_id() -> None:
    code = "import json, gymnasium as gym\nenv = gym.make('spikegym:spikegym/CartPole-v1')\n"
    code += "print(json.dumps({'shape': list(env.observation_space.shape)}))"
    assert run_python(code) == {"shape": [8, 32]}


def test_registering_again_neither_warns_nor_fails() -> None:
    code = (
        "import importlib, json, logging, gymnasium as gym, spikegym\n"
        "logging.basicConfig(level=logging.DEBUG)\n"
        "importlib.reload(spikegym)\n"
        "ids = spikegym.register_env_ids()\n"
        "again = spikegym.register_env_ids('CartPole-v1')\n"
        "print(json.dumps({'ids': ids, 'again': again}))"
    )
    report = run_python(code)
    assert report["ids"] == sorted(f"spikegym/{env_id}" for env_id in SHIPPED)
    assert report["again"] == ["spikegym/CartPole-v1"]


@pytest.mark.parametrize("env_id", sorted(SHIPPED))
def test_each_id_gives_the_env_with_its_shipped_config(env_id: str) -> None:
    env = gym.make(f"spikegym/{env_id}")
    reference = spikegym.make(env_id)
    inner = gym.spec(env_id)
    assert env.spec.id == f"spikegym/{env_id}"
    assert env.spec.max_episode_steps == inner.max_episode_steps
    assert env.spec.reward_threshold == inner.reward_threshold
    assert env.get_wrapper_attr("gym_encoder").config == load_config(env_id)
    assert env.observation_space == reference.observation_space
    assert env.action_space == reference.action_space
    for ours, theirs in zip(seeded_rollout(env, 3, 30), seeded_rollout(reference, 3, 30), strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_the_time_limit_is_the_inner_envs_and_applied_once() -> None:
    env = gym.make("spikegym/CartPole-v1", encoder="rate")
    wrappers = []
    layer = env
    while isinstance(layer, gym.Wrapper):
        wrappers.append(type(layer).__name__)
        layer = layer.env
    assert wrappers == ["TimeLimit", "OrderEnforcing", "PassiveEnvChecker", "SpikeObservationWrapper"]
    assert env.get_wrapper_attr("_max_episode_steps") == 500
    short = gym.make("spikegym/CartPole-v1", max_episode_steps=3)
    short.reset(seed=0)
    assert [short.step(i % 2)[3] for i in range(3)] == [False, False, True]


def test_the_encoder_kwarg_picks_an_encoder_by_name() -> None:
    env = gym.make("spikegym/CartPole-v1", encoder="lif", substeps=4, encoder_params={"threshold": 0.25})
    encoder = env.get_wrapper_attr("gym_encoder")
    assert type(encoder.encoder).__name__ == "LIFEncoder"
    assert env.observation_space == gym.spaces.MultiBinary((4, 8))
    np.testing.assert_allclose(encoder.encoder.threshold.numpy(), 0.25)
    observation, _ = env.reset(seed=0)
    assert observation.shape == (4, 8) and set(np.unique(observation)) <= {0, 1}


def test_the_encoder_kwarg_takes_a_config_file(tmp_path: Path) -> None:
    config = dataclasses.replace(load_config("CartPole-v1"), substeps=5)
    path = config.save(tmp_path / "mine.yaml")
    env = gym.make("spikegym/CartPole-v1", encoder=str(path))
    assert env.observation_space == gym.spaces.MultiBinary((5, 32))
    assert env.spec.kwargs == {"env_id": "CartPole-v1", "encoder": str(path)}


def test_other_kwargs_reach_the_inner_env() -> None:
    env = gym.make("spikegym/CartPole-v1", render_mode="rgb_array", sutton_barto_reward=True)
    env.reset(seed=0)
    assert env.unwrapped._sutton_barto_reward is True
    assert env.render().shape[-1] == 3
    _, reward, *_ = env.step(0)
    assert reward == 0.0  # Sutton and Barto's reward: 0 while the pole stands (the default gives 1)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"colour": "red"}, TypeError, r"colour='red'.*encoder.*sutton_barto_reward"),
        ({"encoder": "nonsense"}, ValueError, r"encoder 'nonsense' is neither an encoder.*lif"),
        ({"encoder": 3}, TypeError, r"encoder must be an encoder name.*got int"),
        ({"encoder_params": [0.1]}, TypeError, r"encoder_params must be a dict.*\[0\.1\]"),
        ({"substeps": 0}, ValueError, r"substeps must be an integer >= 1, got 0"),
        ({"nan_policy": "skip"}, ValueError, r"nan_policy must be one of \['raise', 'zero'\], got 'skip'"),
        ({"encoder": "Acrobot-v1"}, ValueError, r"is for env 'Acrobot-v1', but the env is 'CartPole-v1'"),
    ],
)
def test_bad_kwargs_are_refused_naming_the_argument_and_what_is_allowed(
    kwargs: dict, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        gym.make("spikegym/CartPole-v1", **kwargs)


def test_an_unregistered_env_or_another_spec_under_the_id_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"env_ids: 'NoSuchEnv-v0' is not a registered Gymnasium id"):
        spikegym.register_env_ids("NoSuchEnv-v0")
    theirs = dataclasses.replace(gym.spec("spikegym/CartPole-v1"), entry_point="elsewhere:make")
    monkeypatch.setitem(gym.registry, "spikegym/CartPole-v1", theirs)
    with pytest.raises(ValueError, match=r"spikegym/CartPole-v1 is already registered with another spec"):
        spikegym.register_env_ids("CartPole-v1")
    assert gym.registry["spikegym/CartPole-v1"] is theirs


def test_a_namespaced_env_id_gets_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        gym.registry, "Mine/CartPole-v1", dataclasses.replace(gym.spec("CartPole-v1"), id="Mine/CartPole-v1")
    )
    monkeypatch.delitem(gym.registry, "spikegym/Mine-CartPole-v1", raising=False)
    assert spikegym.register_env_ids("Mine/CartPole-v1") == ["spikegym/Mine-CartPole-v1"]
    env = gym.make("spikegym/Mine-CartPole-v1", encoder="rate", substeps=2)
    assert env.observation_space == gym.spaces.MultiBinary((2, 4))


@pytest.mark.parametrize("encoder", [None, "sf"])
def test_the_spec_pickles_and_recreates_the_same_env(encoder: str | None) -> None:
    kwargs = {} if encoder is None else {"encoder": encoder}
    env = gym.make("spikegym/CartPole-v1", **kwargs)
    spec = pickle.loads(pickle.dumps(env.spec))
    again = gym.make(spec)
    assert again.spec == env.spec
    assert str(again) == str(env)
    for ours, theirs in zip(seeded_rollout(env, 1, 40), seeded_rollout(again, 1, 40), strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_make_vec_encodes_all_sub_envs_in_one_wrapper_like_the_single_envs() -> None:
    batched = gym.make_vec("spikegym/Pendulum-v1", 3)
    single = gym.make_vec("spikegym/Pendulum-v1", 3, vectorization_mode="sync")
    assert isinstance(batched, SpikeObservationVectorWrapper)
    assert all("<SpikeObservationWrapper<PendulumEnv" in str(env) for env in single.envs)
    assert (
        batched.single_observation_space
        == single.single_observation_space
        == gym.make("spikegym/Pendulum-v1").observation_space
    )
    first, _ = batched.reset(seed=7)
    np.testing.assert_array_equal(first, single.reset(seed=7)[0])
    rng = np.random.default_rng(0)
    for step in range(205):  # past Pendulum's 200-step limit: truncation and autoreset in both
        actions = rng.uniform(-2, 2, (3, 1)).astype(np.float32)
        ours, _, _, truncated, _ = batched.step(actions)
        theirs, _, _, truncated_single, _ = single.step(actions)
        np.testing.assert_array_equal(ours, theirs)
        np.testing.assert_array_equal(truncated, truncated_single)
        assert truncated.all() == (step == 199)


def test_gym_make_vec_takes_the_encoding_kwargs() -> None:
    envs = gym.make_vec("spikegym/CartPole-v1", 2, encoder="sf", substeps=4)
    observations, _ = envs.reset(seed=0)
    assert observations.shape == (2, 4, 8)
    with pytest.raises(TypeError, match=r"colour='red'"):
        gym.make_vec("spikegym/CartPole-v1", 2, colour="red")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        envs.step(np.array([0, 1]))
