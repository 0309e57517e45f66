"""SpikeObservationVectorWrapper: batched encoding equals the single-env wrapper, env by env, step for step."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from spikegym.envs.wrappers import SpikeObservationVectorWrapper, SpikeObservationWrapper
from tests.helpers import ENCODER_NAMES

CARTPOLE_BOUNDS = ([-2.4, -3.0, -0.21, -3.5], [2.4, 3.0, 0.21, 3.5])
N_ENVS = 3


def encoder_kwargs(name: str) -> dict[str, object]:
    params: dict[str, object] = {"bounds": CARTPOLE_BOUNDS, "substeps": 4}
    if name in ("rate", "population"):
        params["mode"] = "poisson"
    return params


def vector_env(name: str, mode: AutoresetMode = AutoresetMode.NEXT_STEP, **kwargs: object) -> gym.vector.VectorEnv:
    envs = gym.make_vec(
        "CartPole-v1", N_ENVS, vectorization_mode="sync", vector_kwargs={"autoreset_mode": mode, **kwargs}
    )
    return SpikeObservationVectorWrapper(envs, name, **encoder_kwargs(name))


def single_envs(name: str) -> list[SpikeObservationWrapper]:
    return [SpikeObservationWrapper(gym.make("CartPole-v1"), name, **encoder_kwargs(name)) for _ in range(N_ENVS)]


def actions(n_steps: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, size=(n_steps, N_ENVS))


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_next_step_autoreset_matches_single_wrappers_step_for_step(name: str) -> None:
    envs, singles = vector_env(name), single_envs(name)
    batch, _ = envs.reset(seed=10)
    expected = [env.reset(seed=10 + i)[0] for i, env in enumerate(singles)]
    assert np.array_equal(batch, np.stack(expected))
    needs_reset = [False] * N_ENVS
    resets = 0
    for step_actions in actions(120):
        batch, _, terminated, truncated, _ = envs.step(step_actions)
        for i, env in enumerate(singles):
            if needs_reset[i]:
                observation, _ = env.reset()
                resets += 1
            else:
                observation, _, term, trunc, _ = env.step(step_actions[i])
                assert (term, trunc) == (terminated[i], truncated[i])
            assert np.array_equal(batch[i], observation), f"env {i} differs"
            needs_reset[i] = bool(terminated[i] or truncated[i])
    assert resets >= 3, "the rollout should cross several autoresets"


@pytest.mark.parametrize("name", ["rate", "sf", "bsa"])
def test_same_step_autoreset_encodes_final_and_reset_observations(name: str) -> None:
    envs, singles = vector_env(name, AutoresetMode.SAME_STEP), single_envs(name)
    envs.reset(seed=3)
    for i, env in enumerate(singles):
        env.reset(seed=3 + i)
    finals = 0
    for step_actions in actions(100, seed=1):
        batch, _, terminated, truncated, info = envs.step(step_actions)
        for i, env in enumerate(singles):
            observation, _, term, trunc, _ = env.step(step_actions[i])
            assert (term, trunc) == (terminated[i], truncated[i])
            if term or trunc:
                assert np.array_equal(info["final_obs"][i], observation)
                observation, _ = env.reset()
                finals += 1
            assert np.array_equal(batch[i], observation)
    assert finals >= 3


def test_reset_mask_restarts_only_the_selected_streams() -> None:
    envs, singles = vector_env("lif", AutoresetMode.DISABLED), single_envs("lif")
    envs.reset(seed=0)
    for i, env in enumerate(singles):
        env.reset(seed=i)
    for step_actions in actions(5):
        envs.step(step_actions)
        for i, env in enumerate(singles):
            env.step(step_actions[i])
    mask = np.array([False, True, False])
    batch, info = envs.reset(options={"reset_mask": mask})
    assert info["_spikes"].tolist() == mask.tolist()
    assert np.array_equal(batch[1], singles[1].reset()[0])
    for step_actions in actions(5, seed=2):
        batch, *_ = envs.step(step_actions)
        for i, env in enumerate(singles):
            assert np.array_equal(batch[i], env.step(step_actions[i])[0])


def test_async_vector_envs_give_the_same_spikes_as_sync() -> None:
    kwargs = encoder_kwargs("pwm")
    sync = SpikeObservationVectorWrapper(gym.make_vec("CartPole-v1", 2, vectorization_mode="sync"), "pwm", **kwargs)
    asynchronous = SpikeObservationVectorWrapper(
        gym.make_vec("CartPole-v1", 2, vectorization_mode="async"), "pwm", **kwargs
    )
    try:
        assert np.array_equal(sync.reset(seed=1)[0], asynchronous.reset(seed=1)[0])
        for step_actions in np.random.default_rng(0).integers(0, 2, size=(40, 2)):
            assert np.array_equal(sync.step(step_actions)[0], asynchronous.step(step_actions)[0])
    finally:
        asynchronous.close()


def test_spaces_dtype_and_info() -> None:
    envs = vector_env("sf")
    assert envs.single_observation_space == gym.spaces.MultiBinary((4, 8))
    assert envs.observation_space.shape == (N_ENVS, 4, 8)
    batch, info = envs.reset(seed=0)
    assert batch.dtype == np.int8 and envs.observation_space.contains(batch)
    assert info["spikes"]["count"].tolist() == batch.sum(axis=(1, 2)).tolist()
    batch, *_, info = envs.step(np.zeros(N_ENVS, np.int64))
    assert info["spikes"]["count"].tolist() == batch.sum(axis=(1, 2)).tolist()
    assert info["_spikes"].all()


def test_non_finite_observations_name_the_sub_env() -> None:
    class Broken(gym.Wrapper):
        def step(self, action: object) -> tuple:
            observation, *rest = self.env.step(action)
            return np.full_like(observation, np.nan), *rest

    envs = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1"), lambda: Broken(gym.make("CartPole-v1"))])
    wrapped = SpikeObservationVectorWrapper(envs, "rate", bounds=CARTPOLE_BOUNDS)
    wrapped.reset(seed=0)
    with pytest.raises(ValueError, match=r"\(sub-env 1\) returned a non-finite observation at step 1: x\[0\] = nan"):
        wrapped.step(np.zeros(2, np.int64))


@pytest.mark.parametrize("vec_env_cls", ["dummy", "subproc"])
def test_sb3_make_vec_env_with_dummy_and_subproc(vec_env_cls: str) -> None:
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    def build(cls: type) -> object:
        return make_vec_env(
            "CartPole-v1",
            n_envs=2,
            seed=5,
            vec_env_cls=cls,
            wrapper_class=SpikeObservationWrapper,
            wrapper_kwargs={"encoder": "rate", "mode": "poisson", **encoder_kwargs("rate")},
        )

    reference = build(DummyVecEnv)
    vec_env = build(DummyVecEnv if vec_env_cls == "dummy" else SubprocVecEnv)
    try:
        assert np.array_equal(reference.reset(), vec_env.reset())
        terminal_seen = False
        for step_actions in np.random.default_rng(0).integers(0, 2, size=(60, 2)):
            expected, _, _, expected_infos = reference.step(step_actions)
            observations, _, dones, infos = vec_env.step(step_actions)
            assert observations.shape == (2, 4, 4) and observations.dtype == np.int8
            assert np.array_equal(observations, expected)
            for done, info, expected_info in zip(dones, infos, expected_infos, strict=True):
                if done:
                    terminal_seen = True
                    assert info["terminal_observation"].shape == (4, 4)
                    assert np.array_equal(info["terminal_observation"], expected_info["terminal_observation"])
        assert terminal_seen
    finally:
        vec_env.close()


def test_discrete_observations_are_one_hot_in_the_vector_twin_too() -> None:
    envs = SpikeObservationVectorWrapper(
        gym.make_vec("FrozenLake-v1", 2, vectorization_mode="sync"), "rate", substeps=4, window=4
    )
    singles = [SpikeObservationWrapper(gym.make("FrozenLake-v1"), "rate", substeps=4, window=4) for _ in range(2)]
    batch, _ = envs.reset(seed=0)
    assert envs.single_observation_space.shape == (4, 16)
    for i, env in enumerate(singles):
        assert np.array_equal(batch[i], env.reset(seed=i)[0])
        assert batch[i].sum(axis=0).tolist() == [4] + [0] * 15  # state 0, one-hot, held


def test_batched_observations_of_the_wrong_shape_raise() -> None:
    from spikegym.envs.gym_encoder import GymnasiumEncoder

    encoder = GymnasiumEncoder(gym.spaces.Box(-1, 1, (3,)), "sf", num_envs=2)
    with pytest.raises(ValueError, match=r"observations have 3 values, but 2 envs with 3 features need 6"):
        encoder.reset(np.zeros(3))
    encoder.reset(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"restart must be a boolean array of shape \(2,\)"):
        encoder.step(np.zeros((2, 3)), restart=np.array([1, 0]))
