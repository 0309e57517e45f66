"""Observation layout: the flat features an observation space is encoded as, and their names.

Observations are flattened to features in gymnasium's documented order
(:func:`gymnasium.spaces.flatten`): a ``Box`` of any shape in C order,
``Discrete`` and ``MultiDiscrete`` one-hot, ``MultiBinary`` as is, and
``Dict`` (keys sorted) and ``Tuple`` concatenated. The layout keeps the
space's own bounds; :mod:`spikegym.envs.bounds` fills in the features the
space leaves unbounded (CartPole's velocities).
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium import spaces

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
    """
    if isinstance(space, spaces.Dict):
        return [name for key, sub in space.spaces.items() for name in feature_names(sub, str(key))]
    if isinstance(space, spaces.Tuple):
        return [name for i, sub in enumerate(space.spaces) for name in feature_names(sub, f"{prefix}[{i}]")]
    if isinstance(space, spaces.Discrete):
        return [f"{prefix}={space.start + k}" for k in range(int(space.n))]
    if isinstance(space, spaces.MultiDiscrete):
        return [
            f"{prefix}[{','.join(map(str, index))}]={k}"
            for index in np.ndindex(space.nvec.shape)
            for k in range(int(space.nvec[index]))
        ]
    shape = space.shape if space.shape else (1,)
    return [f"{prefix}[{','.join(map(str, index))}]" for index in np.ndindex(shape)]


@dataclass(frozen=True)
class ObservationLayout:
    """The flattened features of an observation space and the space's own bounds.

    :param space: the observation space.
    :param names: a name per feature.
    :param low: per-feature lower bound from the space (``-inf`` where unbounded).
    :param high: per-feature upper bound from the space (``inf`` where unbounded).

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
        return cls(space, tuple(feature_names(space)), low, high)

    @property
    def n_features(self) -> int:
        return len(self.names)

    @property
    def unbounded(self) -> list[str]:
        """Names of the features whose space bounds are not finite."""
        finite = np.isfinite(self.low) & np.isfinite(self.high)
        return [name for name, ok in zip(self.names, finite, strict=True) if not ok]

    def flatten(self, observation: object) -> np.ndarray:
        """The observation as a flat float array (``n_features`` values for a valid one)."""
        if isinstance(self.space, spaces.Box):
            return np.asarray(observation, dtype=np.float64).reshape(-1)
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
            flat = np.stack([self.flatten(item) for item in gym.vector.utils.iterate(batched, observations)])
        if flat.size != n_envs * self.n_features:
            raise ValueError(
                f"observations have {flat.size} values, but {n_envs} envs with {self.n_features} features "
                f"need {n_envs * self.n_features}; got shape {np.shape(observations)}"
            )
        return flat.reshape(n_envs, self.n_features)
