"""Bounds: robust rollout estimates, a config's bounds before an estimate, huge and constant space bounds,
and given bounds checked."""

from __future__ import annotations

import logging

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from spikegym.envs import bounds
from spikegym.envs.bounds import rollout_bounds
from spikegym.envs.configs import load_config
from spikegym.envs.gym_encoder import GymnasiumEncoder
from spikegym.envs.layout import ObservationLayout
from spikegym.envs.wrappers import SpikeObservationWrapper


def test_rollout_bounds_are_seeded_robust_and_cover_the_data() -> None:
    low, high = rollout_bounds("CartPole-v1", n_steps=500, seed=3)
    again = rollout_bounds("CartPole-v1", n_steps=500, seed=3)
    assert np.array_equal(low, again[0]) and np.array_equal(high, again[1])
    assert np.all(high > low)
    assert low[1] < 0 < high[1] and low[3] < 0 < high[3]
    assert high[3] < 10  # percentiles of a random rollout, far inside the unbounded space


def test_config_bounds_come_before_a_rollout_estimate(caplog: pytest.LogCaptureFixture) -> None:
    bounds._estimated_bounds.pop("CartPole-v1", None)
    with caplog.at_level(logging.WARNING):
        env = SpikeObservationWrapper(gym.make("CartPole-v1"), "sf")
    assert "unbounded" not in caplog.text
    low, _ = env.gym_encoder.bounds
    space = gym.make("CartPole-v1").observation_space
    config = load_config("CartPole-v1")
    assert low[[1, 3]].tolist() == pytest.approx([config.low[1], config.low[3]])
    assert low[[0, 2]].tolist() == pytest.approx(space.low[[0, 2]].tolist())  # finite in the space: the space's


class HugeBox(gym.Env):
    """An env that writes float32's extremes for "no bound", as many do."""

    observation_space = spaces.Box(-np.finfo(np.float32).max, np.finfo(np.float32).max, (2,), np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        return self.np_random.normal(size=2).astype(np.float32), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        return self.np_random.normal(size=2).astype(np.float32), 0.0, False, False, {}


gym.register("HugeBox-v0", entry_point=HugeBox, max_episode_steps=20)


def test_huge_space_bounds_count_as_unbounded_and_are_estimated_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    layout = ObservationLayout.of(HugeBox.observation_space)
    assert layout.unbounded == ["x[0]", "x[1]"]
    bounds._estimated_bounds.pop("HugeBox-v0", None)
    with caplog.at_level(logging.WARNING):
        env = SpikeObservationWrapper(gym.make("HugeBox-v0"), "rate")
    assert "['x[0]', 'x[1]'] are unbounded in the observation space (or bounded beyond" in caplog.text
    low, high = env.gym_encoder.bounds
    assert np.all(high - low < 100)
    env.reset(seed=0)
    assert sum(int(env.step(0)[0].sum()) for _ in range(20)) > 0, "normal values must fire spikes"


def test_a_constant_feature_of_the_space_encodes_as_its_constant() -> None:
    space = spaces.Box(np.array([0.0, 1.0]), np.array([1.0, 1.0]), dtype=np.float64)
    encoder = GymnasiumEncoder(space, "rate", window=8)
    assert encoder.bounds[0].tolist() == [0.0, 0.5] and encoder.bounds[1].tolist() == [1.0, 1.5]
    blocks = [encoder.reset(np.array([0.25, 1.0]))] + [encoder.step(np.array([0.25, 1.0])) for _ in range(3)]
    assert encoder.decode(np.stack(blocks))[-1].tolist() == pytest.approx([0.25, 1.0])


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (([0, 0, 0], [1, 1, 1]), r"bounds low must be one number or one per feature \(4: \['x\[0\]', .* shape \(3,\)"),
        ((np.zeros((2, 2)), 1), r"bounds low must be one number or one per feature .* got shape \(2, 2\)"),
        ((0, [1, 1, 1]), r"bounds high must be one number or one per feature .* got shape \(3,\)"),
        ((0, "a"), r"bounds high must be a number or a sequence of numbers, got 'a'"),
        ((1, 0), r"high > low for each feature; x\[0\] has 1.0 to 0.0"),
        ((0, [1, np.inf, 1, 1]), r"x\[1\] has 0.0 to inf"),
        ([0, 1, 2], r"bounds must be a pair \(low, high\), got \[0, 1, 2\]"),
    ],
)
def test_wrapper_bounds_of_the_wrong_length_shape_or_order_are_named(given: object, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        SpikeObservationWrapper(gym.make("CartPole-v1"), "rate", bounds=given)
