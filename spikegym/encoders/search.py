"""Tuning search spaces: per-feature ranges that scale with the signal being encoded.

Each encoder declares, next to its rule, which per-feature parameters the
tuner searches and over what range (:meth:`SpikeEncoder.search_space`), and
which other parameters it fixes for tuning (:meth:`SpikeEncoder.tuning_defaults`).
Ranges are in the encoders' scaled units and depend on :class:`SignalStats`
of the tuning data, e.g. a step-forward threshold relative to the feature's
typical change between observations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SearchRange:
    """A per-feature search interval ``[low[j], high[j]]`` for one parameter (integers with ``integer``).

    >>> SearchRange(np.array([0.01]), np.array([0.1])).clipped(0.02, 1.0).low.tolist()
    [0.02]
    """

    low: np.ndarray
    high: np.ndarray
    log: bool = True
    integer: bool = False

    def clipped(self, minimum: float, maximum: float) -> SearchRange:
        """The range limited to ``[minimum, maximum]``, never empty."""
        low = np.clip(self.low, minimum, maximum)
        high = np.clip(self.high, minimum, maximum)
        return SearchRange(np.minimum(low, high), np.maximum(low, high), self.log, self.integer)


SearchSpace = dict[str, SearchRange]


@dataclass(frozen=True)
class SignalStats:
    """Per-feature statistics of the scaled tuning signal (one row per observation).

    :param step_change: typical change between consecutive observations: the
        median of the non-zero ``|x[t+1] - x[t]|`` (scaled units; a small floor
        for features that never change).
    :param spread: standard deviation (scaled units).
    :param substeps: encoder steps per observation, ``T``.
    """

    step_change: np.ndarray
    spread: np.ndarray
    substeps: int

    @classmethod
    def of(cls, episodes: Sequence[np.ndarray], substeps: int) -> SignalStats:
        """Statistics of scaled episodes ``(length, F)``.

        >>> stats = SignalStats.of([np.array([[0.0], [0.1], [0.3]])], substeps=8)
        >>> stats.step_change.round(3).tolist()
        [0.15]
        """
        changes = np.concatenate([np.abs(np.diff(e, axis=0)) for e in episodes if len(e) > 1] or [np.zeros((0, 1))])
        n_features = episodes[0].shape[1]
        step_change = np.full(n_features, 1e-3)
        for j in range(n_features):
            moving = changes[:, j][changes[:, j] > 0] if changes.shape[1] == n_features else np.zeros(0)
            if moving.size:
                step_change[j] = max(float(np.median(moving)), 1e-3)
        spread = np.concatenate(episodes).std(axis=0)
        return cls(step_change, spread, substeps)
