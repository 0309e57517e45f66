"""Shared test helpers: smooth test signals and the names of every encoder."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from spikegym.encoders import names

ENCODER_NAMES = names()

CARTPOLE_BOUNDS = ([-2.4, -2.0, -0.2095, -2.5], [2.4, 2.0, 0.2095, 2.5])
"""CartPole-v1's termination thresholds and typical velocities, as ``(low, high)``."""


def multi_sine(n_steps: int = 2000, n_features: int = 4, batch: tuple[int, ...] = (), seed: int = 0) -> torch.Tensor:
    """A smooth multi-sine signal ``(n_steps, *batch, n_features)`` with a different range per feature."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, n_steps)[:, None]
    shape = (n_steps, *batch, n_features)
    signal = np.zeros(shape)
    for frequency in (1.0, 2.0, 3.0):
        phase = rng.uniform(0, 2 * np.pi, size=(*batch, n_features))
        amplitude = rng.uniform(0.5, 2.0, size=(*batch, n_features))
        signal += amplitude * np.sin(2 * np.pi * frequency * t.reshape((n_steps,) + (1,) * (len(shape) - 1)) + phase)
    offset = rng.uniform(-5, 5, size=n_features)
    return torch.tensor(signal + offset, dtype=torch.float32)


def seeded_rollout(env: gym.Env, seed: int, n_steps: int) -> list[np.ndarray]:
    """The observations of ``env`` reset with ``seed`` over ``n_steps`` seeded random actions (reset at episode end)."""
    observations = [env.reset(seed=seed)[0]]
    env.action_space.seed(seed)
    for _ in range(n_steps):
        observation, _, terminated, truncated, _ = env.step(env.action_space.sample())
        observations.append(observation)
        if terminated or truncated:
            observations.append(env.reset()[0])
    return observations
