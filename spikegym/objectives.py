"""How much an encoding loses: reconstruction error and spike rate on the stream the wrapper sees."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spikegym.gym_encoder import GymnasiumEncoder


@dataclass(frozen=True)
class StreamScores:
    """Scores of an encoding over recorded episodes.

    :param nrmse: root-mean-square error per feature over its bounds' range, averaged over features.
    :param mse: mean squared error in observation units.
    :param mae: mean absolute error in observation units.
    :param spike_rate: spikes per feature per env step.
    :param nrmse_per_feature: the NRMSE of each feature.
    """

    nrmse: float
    mse: float
    mae: float
    spike_rate: float
    nrmse_per_feature: tuple[float, ...]

    def as_dict(self) -> dict[str, float]:
        """The scalar scores, for a config's provenance."""
        return {"nrmse": self.nrmse, "mse": self.mse, "mae": self.mae, "spike_rate": self.spike_rate}


def stream_scores(gym_encoder: GymnasiumEncoder, episodes: Sequence[np.ndarray]) -> StreamScores:
    """Encode each episode as the wrapper would (one stream per episode, seeded by its index),
    decode it, and compare the decoded value at the end of each observation's block with the
    observation clipped to the bounds (the most an encoder can know).

    ``episodes`` are flattened observations ``(length, F)`` per episode (see
    :func:`spikegym.rollouts.record_random`).

    >>> import gymnasium as gym
    >>> from spikegym.rollouts import record_random
    >>> space = gym.make("CartPole-v1").observation_space
    >>> encoder = GymnasiumEncoder(space, "sf", bounds=([-2.4, -2, -0.21, -2.5], [2.4, 2, 0.21, 2.5]))
    >>> scores = stream_scores(encoder, record_random("CartPole-v1", 500))
    >>> scores.nrmse < 0.05
    True
    """
    if gym_encoder.num_envs is not None:
        raise ValueError("stream_scores needs a single-env GymnasiumEncoder (num_envs=None)")
    low, high = gym_encoder.bounds
    errors, spikes, n_steps = [], 0, 0
    for index, episode in enumerate(episodes):
        blocks = [gym_encoder.reset_flat(episode[:1], seed=index)]
        blocks += [gym_encoder.step_flat(episode[k : k + 1]) for k in range(1, len(episode))]
        stacked = np.stack(blocks)
        errors.append(gym_encoder.decode(stacked) - np.clip(episode, low, high))
        spikes += int(stacked.sum())
        n_steps += len(episode)
    error = np.concatenate(errors)
    per_feature = np.sqrt((error**2).mean(axis=0)) / (high - low)
    return StreamScores(
        nrmse=float(per_feature.mean()),
        mse=float((error**2).mean()),
        mae=float(np.abs(error).mean()),
        spike_rate=spikes / (n_steps * gym_encoder.layout.n_features),
        nrmse_per_feature=tuple(float(v) for v in per_feature),
    )
