"""Observation layout: the flat features an observation space is encoded as, and their names.

Observations are flattened to features in gymnasium's documented order
(:func:`gymnasium.spaces.flatten`): a ``Box`` of any shape in C order,
``Discrete`` and ``MultiDiscrete`` one-hot, ``MultiBinary`` as is, and
``Dict`` (keys sorted) and ``Tuple`` concatenated. The layout keeps the
space's own bounds; :mod:`spikegym.envs.bounds` fills in the features the
space leaves unbounded (CartPole's velocities).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium import spaces

HUGE_BOUND = 1e10
"""A space bound at or beyond this magnitude counts as unbounded: envs write ``np.finfo(np.float32).max``
(and the like) for "no bound", and scaling by such a range would never fire a spike."""

SUPPORTED_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary, spaces.Dict, spaces.Tuple)


def check_space(space: gym.Space, path: str = "observation_space") -> None:
    """Raise a ``TypeError`` naming the first unsupported (sub)space of ``space``."""
    if isinstance(space, spaces.Dict):
        for key, subspace in space.spaces.items():
            check_space(subspace, f"{path}[{key!r}]")
    elif isinstance(space, spaces.Tuple):
        for index, subspace in enumerate(space.spaces):
            check_space(subspace, f"{path}[{index}]")
    elif not isinstance(space, SUPPORTED_SPACES):
        raise TypeError(
            f"{path} is {space!r}, which spikegym cannot encode; supported: Box, Discrete, "
            "MultiDiscrete, MultiBinary, and Dict or Tuple of these"
        )


def feature_names(space: gym.Space, prefix: str = "x") -> list[str]:
    """One name per flattened feature, in :func:`gymnasium.spaces.flatten` order.

    >>> feature_names(spaces.Box(-1, 1, (2,)))
    ['x[0]', 'x[1]']
    >>> feature_names(spaces.Dict({"pos": spaces.Box(-1, 1, (1,)), "mode": spaces.Discrete(2)}))
    ['mode=0', 'mode=1', 'pos[0]']
    >>> feature_names(spaces.MultiDiscrete([2], start=[5]))
    ['x[0]=5', 'x[0]=6']
    """
    if isinstance(space, spaces.Dict):
        return [name for key, sub in space.spaces.items() for name in feature_names(sub, str(key))]
    if isinstance(space, spaces.Tuple):
        return [name for i, sub in enumerate(space.spaces) for name in feature_names(sub, f"{prefix}[{i}]")]
    if isinstance(space, spaces.Discrete):
        return [f"{prefix}={space.start + k}" for k in range(int(space.n))]
    if isinstance(space, spaces.MultiDiscrete):
        return [
            f"{prefix}[{','.join(map(str, index))}]={int(space.start[index]) + k}"
            for index in np.ndindex(space.nvec.shape)
            for k in range(int(space.nvec[index]))
        ]
    shape = space.shape if space.shape else (1,)
    return [f"{prefix}[{','.join(map(str, index))}]" for index in np.ndindex(shape)]


class ObservationError(ValueError):
    """An observation that is not an element of its space where that changes its encoding.

    :param env: the sub-env of a batch the observation came from, if any.
    """

    def __init__(self, message: str, env: int | None = None) -> None:
        super().__init__(message)
        self.env = env


def check_observation(space: gym.Space, observation: object, path: str = "x") -> None:
    """Raise an :class:`ObservationError` naming the feature of ``observation`` that ``space`` does not hold.

    One-hot and binary features are checked exactly (a ``Discrete(3)`` value of
    -1 would otherwise fire the last channel), ``Dict`` keys and ``Tuple``
    lengths must match; ``Box`` values are left to scaling, which clips and counts them.

    >>> check_observation(spaces.Discrete(3), -1)
    Traceback (most recent call last):
    ...
    spikegym.envs.layout.ObservationError: x = -1 is not in Discrete(3): allowed are the integers 0 to 2
    """
    if isinstance(space, spaces.Dict):
        if not isinstance(observation, Mapping) or set(observation) != set(space.spaces):
            keys = sorted(observation) if isinstance(observation, Mapping) else type(observation).__name__
            raise ObservationError(f"{path} must be a dict with the keys {sorted(space.spaces)}, got {keys}")
        for key, subspace in space.spaces.items():
            check_observation(subspace, observation[key], str(key))
    elif isinstance(space, spaces.Tuple):
        if not isinstance(observation, tuple | list) or len(observation) != len(space.spaces):
            raise ObservationError(f"{path} must be a tuple of {len(space.spaces)} parts, got {observation!r}")
        for index, (subspace, part) in enumerate(zip(space.spaces, observation, strict=True)):
            check_observation(subspace, part, f"{path}[{index}]")
    elif isinstance(space, spaces.Discrete | spaces.MultiDiscrete | spaces.MultiBinary):
        _check_discrete(space, np.asarray(observation), path)


def _check_discrete(
    space: spaces.Discrete | spaces.MultiDiscrete | spaces.MultiBinary, value: np.ndarray, path: str
) -> None:
    """Each value of a one-hot or binary (sub)space must be one of its integers."""
    if isinstance(space, spaces.MultiBinary):
        low, count = np.zeros(space.shape, np.int64), np.full(space.shape, 2)
    elif isinstance(space, spaces.MultiDiscrete):
        low, count = np.asarray(space.start, np.int64), np.asarray(space.nvec, np.int64)
    else:
        low, count = np.asarray(space.start, np.int64), np.asarray(space.n, np.int64)
    if value.shape != low.shape or value.dtype.kind not in "biuf":
        raise ObservationError(f"{path} must hold integers of shape {low.shape} in {space}, got {value!r}")
    bad = (value != np.round(value)) | (value < low) | (value >= low + count)
    if bad.any():
        index = np.unravel_index(int(np.flatnonzero(bad)[0]), value.shape) if value.shape else ()
        name = f"{path}[{','.join(map(str, index))}]" if index else path
        raise ObservationError(
            f"{name} = {value[index]} is not in {space}: allowed are the integers "
            f"{low[index]} to {low[index] + count[index] - 1}"
        )


@dataclass(frozen=True)
class ObservationLayout:
    """The flattened features of an observation space and the space's own bounds.

    :param space: the observation space.
    :param names: a name per feature.
    :param low: per-feature lower bound from the space (``-inf`` where unbounded or beyond :data:`HUGE_BOUND`).
    :param high: per-feature upper bound from the space (``inf`` where unbounded or beyond :data:`HUGE_BOUND`).

    >>> layout = ObservationLayout.of(gym.make("CartPole-v1").observation_space)
    >>> layout.n_features, layout.unbounded
    (4, ['x[1]', 'x[3]'])
    """

    space: gym.Space
    names: tuple[str, ...]
    low: np.ndarray
    high: np.ndarray

    @classmethod
    def of(cls, space: gym.Space) -> ObservationLayout:
        """The layout of ``space``; a ``TypeError`` for unsupported spaces."""
        check_space(space)
        flat = spaces.flatten_space(space)
        low = np.asarray(flat.low, dtype=np.float64).ravel()
        high = np.asarray(flat.high, dtype=np.float64).ravel()
        low[low <= -HUGE_BOUND] = -np.inf
        high[high >= HUGE_BOUND] = np.inf
        return cls(space, tuple(feature_names(space)), low, high)

    @property
    def n_features(self) -> int:
        return len(self.names)

    @property
    def unbounded(self) -> list[str]:
        """Names of the features whose space bounds are not finite (or beyond :data:`HUGE_BOUND`)."""
        finite = np.isfinite(self.low) & np.isfinite(self.high)
        return [name for name, ok in zip(self.names, finite, strict=True) if not ok]

    def flatten(self, observation: object) -> np.ndarray:
        """The observation as a flat float array (``n_features`` values for a valid one); one-hot and binary
        features are checked first (:func:`check_observation`)."""
        if isinstance(self.space, spaces.Box):
            return np.asarray(observation, dtype=np.float64).reshape(-1)
        check_observation(self.space, observation)
        return np.asarray(spaces.flatten(self.space, observation), dtype=np.float64)

    def flatten_batch(self, observations: object, n_envs: int) -> np.ndarray:
        """A vector env's batched observations as a float array ``(n_envs, n_features)``.

        >>> layout = ObservationLayout.of(spaces.Discrete(3))
        >>> layout.flatten_batch(np.array([0, 2]), 2).tolist()
        [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
        """
        if isinstance(self.space, spaces.Box):
            flat = np.asarray(observations, dtype=np.float64)
        else:
            batched = gym.vector.utils.batch_space(self.space, n_envs)
            rows = []
            for env, item in enumerate(gym.vector.utils.iterate(batched, observations)):
                try:
                    rows.append(self.flatten(item))
                except ObservationError as error:
                    raise ObservationError(str(error), env) from None
            flat = np.stack(rows)
        if flat.size != n_envs * self.n_features:
            raise ValueError(
                f"observations have {flat.size} values, but {n_envs} envs with {self.n_features} features "
                f"need {n_envs * self.n_features}; got shape {np.shape(observations)}"
            )
        return flat.reshape(n_envs, self.n_features)
