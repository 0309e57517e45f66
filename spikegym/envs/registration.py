"""``spikegym.make`` / ``spikegym.make_vec``: a Gymnasium env with spike observations in one call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym

from spikegym.envs.configs import EncoderConfig
from spikegym.envs.wrappers import SpikeObservationVectorWrapper, SpikeObservationWrapper


def make(env_id: str, config: str | Path | EncoderConfig | None = None, **kwargs: Any) -> SpikeObservationWrapper:
    """``gym.make(env_id, **kwargs)`` wrapped with the env's encoder config.

    :param env_id: a registered Gymnasium id.
    :param config: a config (object or ``.yaml`` path); default: ``env_id``'s
        config from ``envs_configs/``.
    :param kwargs: passed to :func:`gymnasium.make` (e.g. ``render_mode``).

    >>> env = make("CartPole-v1")
    >>> env.observation_space, env.gym_encoder.config.encoder
    (MultiBinary((8, 32)), 'population')
    """
    return SpikeObservationWrapper(gym.make(env_id, **kwargs), env_id if config is None else config)


def make_vec(
    env_id: str, num_envs: int = 1, config: str | Path | EncoderConfig | None = None, **kwargs: Any
) -> SpikeObservationVectorWrapper:
    """``gym.make_vec(env_id, num_envs, **kwargs)`` wrapped with the env's encoder config.

    >>> envs = make_vec("CartPole-v1", 4, vectorization_mode="sync")
    >>> envs.observation_space.shape
    (4, 8, 32)
    """
    envs = gym.make_vec(env_id, num_envs, **kwargs)
    return SpikeObservationVectorWrapper(envs, env_id if config is None else config)
