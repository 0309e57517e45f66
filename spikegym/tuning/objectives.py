"""How much an encoding loses: reconstruction error and spike rate on the stream the wrapper sees.

:func:`stream_scores` runs a :class:`~spikegym.envs.gym_encoder.GymnasiumEncoder`
over recorded episodes, as the wrapper would; :class:`CandidateScorer` gives
the same scores for many candidate parameter sets per feature at once, in one
encode and one decode call per group of episodes, for tuning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from spikegym.encoders import encoder_class, make
from spikegym.encoders.search import SearchSpace, SignalStats
from spikegym.envs.gym_encoder import GymnasiumEncoder
from spikegym.envs.rollouts import Rollouts, as_episodes


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


def stream_scores(gym_encoder: GymnasiumEncoder, episodes: Rollouts | Sequence[np.ndarray]) -> StreamScores:
    """Encode each episode as the wrapper would (one stream per episode, seeded by its index),
    decode it, and compare the decoded value at the end of each observation's block with the
    observation clipped to the bounds (the most an encoder can know).

    ``episodes`` are :class:`~spikegym.envs.rollouts.Rollouts` or flattened
    observations ``(length, F)`` per episode.

    >>> import gymnasium as gym
    >>> from spikegym.envs.rollouts import record
    >>> space = gym.make("CartPole-v1").observation_space
    >>> encoder = GymnasiumEncoder(space, "sf", bounds=([-2.4, -2, -0.21, -2.5], [2.4, 2, 0.21, 2.5]))
    >>> scores = stream_scores(encoder, record("CartPole-v1", 500))
    >>> scores.nrmse < 0.05
    True
    """
    if gym_encoder.num_envs is not None:
        raise ValueError("stream_scores needs a single-env GymnasiumEncoder (num_envs=None)")
    low, high = gym_encoder.bounds
    errors, spikes, n_steps = [], 0, 0
    for index, episode in enumerate(as_episodes(episodes)):
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


@dataclass(frozen=True)
class CandidateScores:
    """Scores of ``K`` candidates per feature, each an array ``(K, F)`` (errors in scaled units, [0, 1] per range).

    :param mse: mean squared error.
    :param mae: mean absolute error.
    :param spike_rate: spikes per feature per env step.
    """

    mse: np.ndarray
    mae: np.ndarray
    spike_rate: np.ndarray

    @property
    def nrmse(self) -> np.ndarray:
        """Root-mean-square error over the feature's range."""
        return np.sqrt(self.mse)

    def error(self, objective: Literal["mse", "mae", "nrmse"]) -> np.ndarray:
        """The error named by ``objective``."""
        return {"mse": self.mse, "mae": self.mae, "nrmse": self.nrmse}[objective]


class CandidateScorer:
    """Scores candidate parameters of one encoder on recorded episodes, many candidates per call.

    The episodes are scaled by the bounds and upsampled to ``substeps`` as the
    wrapper does, once. :meth:`score` takes ``K`` values per feature for each
    tuned parameter and encodes all ``K x F`` candidates side by side, as
    ``K x F`` features of one encoder over a batch of episodes, so a round of
    trials costs one encode and one decode call per group of episodes of
    similar length. With ``K = 1`` it gives :func:`stream_scores` (errors over
    the range instead of in observation units).

    :param encoder: the encoder name.
    :param episodes: flattened observations ``(length, F)`` per episode.
    :param low: per-feature lower bounds.
    :param high: per-feature upper bounds.
    :param substeps: encoder steps per observation.
    :param upsample: ``"hold"`` or ``"linear"``.
    :param fixed: parameters held fixed (default: the encoder's tuning defaults).
    :param max_groups: episodes are sorted by length and padded in at most this many groups.

    >>> from spikegym.envs.rollouts import record
    >>> rollouts = record("CartPole-v1", 400, seed=0)
    >>> scorer = CandidateScorer("sf", rollouts, [-2.4, -2, -0.21, -2.5], [2.4, 2, 0.21, 2.5])
    >>> scores = scorer.score({"threshold": np.array([[0.01] * 4, [0.1] * 4])})
    >>> bool((scores.nrmse[0] < scores.nrmse[1]).all() and (scores.spike_rate[0] > scores.spike_rate[1]).all())
    True
    """

    def __init__(
        self,
        encoder: str,
        episodes: Rollouts | Sequence[np.ndarray],
        low: Sequence[float] | np.ndarray,
        high: Sequence[float] | np.ndarray,
        *,
        substeps: int = 8,
        upsample: Literal["hold", "linear"] = "hold",
        fixed: dict[str, Any] | None = None,
        max_groups: int = 4,
    ) -> None:
        self.encoder_class = encoder_class(encoder)
        self.name = encoder
        self.substeps, self.upsample = substeps, upsample
        self.fixed = self.encoder_class.tuning_defaults(substeps) if fixed is None else dict(fixed)
        dtype = torch.empty(0).numpy().dtype
        low32, high32 = (np.asarray(b, dtype).astype(np.float64) for b in (low, high))
        scaled = [np.clip((e - low32) / (high32 - low32), 0.0, 1.0) for e in as_episodes(episodes)]
        self.n_features = scaled[0].shape[1]
        self.stats = SignalStats.of(scaled, substeps)
        order = sorted(range(len(scaled)), key=lambda i: -len(scaled[i]))
        self._groups = [
            self._group([scaled[i] for i in part], dtype) for part in np.array_split(order, max_groups) if len(part)
        ]

    def search_space(self) -> SearchSpace:
        """The encoder's search ranges for these episodes, without the parameters held fixed."""
        space = self.encoder_class.search_space(self.stats, **self.fixed)
        return {name: r for name, r in space.items() if name not in self.fixed}

    def _group(self, episodes: list[np.ndarray], dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Blocks ``(L * T, E, F)``, block-end targets ``(L, E, F)`` and a validity mask ``(L, E)``."""
        n_steps, n_episodes, T = len(episodes[0]), len(episodes), self.substeps
        targets = np.empty((n_steps, n_episodes, self.n_features))
        valid = np.zeros((n_steps, n_episodes), np.bool_)
        for e, episode in enumerate(episodes):
            targets[: len(episode), e] = episode
            targets[len(episode) :, e] = episode[-1]
            valid[: len(episode), e] = True
        if self.upsample == "linear":
            previous = np.concatenate([targets[:1], targets[:-1]])
            ramp = (np.arange(1, T + 1) / T)[None, :, None, None]
            blocks = previous[:, None] + (targets - previous)[:, None] * ramp
        else:
            blocks = np.broadcast_to(targets[:, None], (n_steps, T, n_episodes, self.n_features))
        return np.ascontiguousarray(blocks, dtype).reshape(n_steps * T, n_episodes, -1), targets, valid

    def score(self, params: dict[str, np.ndarray]) -> CandidateScores:
        """Scores of ``K`` candidates per feature: ``params[name]`` is ``(K, F)`` per tuned parameter."""
        arrays = {name: np.asarray(values, np.float64) for name, values in params.items()}
        n_candidates = next(iter(arrays.values())).shape[0]
        width = n_candidates * self.n_features
        encoder = make(
            self.name, width, low=0.0, high=1.0, **self.fixed, **{n: v.reshape(-1) for n, v in arrays.items()}
        )
        shape = (n_candidates, self.n_features)
        squared, absolute, spikes, steps = np.zeros(shape), np.zeros(shape), np.zeros(shape), 0
        for blocks, targets, valid in self._groups:
            n_steps, n_episodes = valid.shape
            signal = np.tile(blocks, (1, 1, n_candidates))
            state = encoder.stream_state((n_episodes,), np.arange(n_episodes))
            raw = encoder.stream_encode(signal.reshape(len(signal), -1), state)
            decoded = encoder.stream_decode(raw, encoder.stream_decode_state((n_episodes,)), self.substeps)
            ends = decoded.reshape(n_steps, n_episodes, *shape)
            error = (ends - targets[:, :, None, :]) * valid[:, :, None, None]
            squared += (error**2).sum(axis=(0, 1))
            absolute += np.abs(error).sum(axis=(0, 1))
            counts = np.abs(raw.reshape(n_steps, self.substeps, n_episodes, *shape, -1)).sum(
                axis=(1, -1), dtype=np.int64
            )
            spikes += (counts * valid[:, :, None, None]).sum(axis=(0, 1))
            steps += int(valid.sum())
        return CandidateScores(squared / steps, absolute / steps, spikes / steps)
