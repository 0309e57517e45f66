"""Bounds: robust rollout estimates, and a config's bounds before an estimate."""

from __future__ import annotations

import logging

import gymnasium as gym
import numpy as np
import pytest

from spikegym.envs.bounds import rollout_bounds
from spikegym.envs.configs import load_config
from spikegym.envs.wrappers import SpikeObservationWrapper


def test_rollout_bounds_are_seeded_robust_and_cover_the_data() -> None:
    low, high = rollout_bounds("CartPole-v1", n_steps=500, seed=3)
    again = rollout_bounds("CartPole-v1", n_steps=500, seed=3)
    assert np.array_equal(low, again[0]) and np.array_equal(high, again[1])
    assert np.all(high > low)
    assert low[1] < 0 < high[1] and low[3] < 0 < high[3]
    assert high[3] < 10  # percentiles of a random rollout, far inside the unbounded space


def test_config_bounds_come_before_a_rollout_estimate(caplog: pytest.LogCaptureFixture) -> None:
    from spikegym.envs import bounds

    bounds._estimated_bounds.pop("CartPole-v1", None)
    with caplog.at_level(logging.WARNING):
        env = SpikeObservationWrapper(gym.make("CartPole-v1"), "sf")
    assert "unbounded" not in caplog.text
    low, _ = env.gym_encoder.bounds
    space = gym.make("CartPole-v1").observation_space
    config = load_config("CartPole-v1")
    assert low[[1, 3]].tolist() == pytest.approx([config.low[1], config.low[3]])
    assert low[[0, 2]].tolist() == pytest.approx(space.low[[0, 2]].tolist())  # finite in the space: the space's
