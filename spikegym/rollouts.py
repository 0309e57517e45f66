"""Recorded observation trajectories: what encoders are scored and tuned on."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from spikegym.encoders.base import check_int
from spikegym.scaling import ObservationLayout


def record_random(env_id: str, n_steps: int, seed: int = 0) -> list[np.ndarray]:
    """Flattened observations of a seeded random-action rollout of a fresh ``env_id``, split by episode.

    Returns one float array ``(length, F)`` per episode, ``n_steps``
    observations in all (the last episode may be cut short). The env and its
    action space are seeded with ``seed``, so the same call gives the same
    trajectories.

    >>> episodes = record_random("CartPole-v1", 100, seed=0)
    >>> sum(len(e) for e in episodes), episodes[0].shape[1]
    (100, 4)
    """
    check_int("n_steps", n_steps, 1)
    env = gym.make(env_id)
    layout = ObservationLayout.of(env.observation_space)
    env.action_space.seed(seed)
    observation, _ = env.reset(seed=seed)
    episodes: list[np.ndarray] = []
    current: list[np.ndarray] = []
    for step in range(n_steps):
        current.append(layout.flatten(observation))
        if step == n_steps - 1:
            break
        observation, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            episodes.append(np.stack(current))
            current = []
            observation, _ = env.reset()
    episodes.append(np.stack(current))
    env.close()
    return episodes
