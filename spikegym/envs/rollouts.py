"""Recorded observation trajectories: what encoders are scored and tuned on.

A :class:`Rollouts` is a list of episodes, each a float array ``(length, F)``
of flattened observations (see :class:`~spikegym.envs.layout.ObservationLayout`),
with the env id and feature names. Record one with a seeded random policy or
any policy callable, split it by episode into tuning and held-out sets, and
save or load it as ``.npz``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from spikegym._progress import progress as progress_bar
from spikegym.encoders.base import check_int
from spikegym.envs.layout import ObservationLayout

Policy = Callable[[Any], Any]
"""Maps a raw observation to an action."""


@dataclass(frozen=True)
class Rollouts:
    """Episodes of flattened observations from one env.

    :param env_id: the env they were recorded from.
    :param features: one name per feature.
    :param episodes: one float array ``(length, F)`` per episode.
    """

    env_id: str
    features: tuple[str, ...]
    episodes: tuple[np.ndarray, ...]

    @property
    def n_steps(self) -> int:
        """Observations in all episodes."""
        return sum(len(episode) for episode in self.episodes)

    def values(self) -> np.ndarray:
        """All observations, episodes concatenated: ``(n_steps, F)``."""
        return np.concatenate(self.episodes)

    def split(self, held_out: float = 0.2, seed: int = 0) -> tuple[Rollouts, Rollouts]:
        """Split by whole episodes into ``(tuning, held_out)``, shuffled with ``seed``.

        The held-out set gets ``round(held_out * n_episodes)`` episodes, at
        least one (and the tuning set keeps at least one); with a single
        episode, its second part is held out instead.

        >>> tuning, test = record("CartPole-v1", 300, seed=0).split(0.25)
        >>> tuning.n_steps + test.n_steps
        300
        """
        if not 0.0 < held_out < 1.0:
            raise ValueError(f"held_out must be a fraction in (0, 1), got {held_out!r}")
        episodes = self.episodes
        if len(episodes) == 1:
            cut = max(1, min(len(episodes[0]) - 1, round(len(episodes[0]) * (1.0 - held_out))))
            first, second = episodes[0][:cut], episodes[0][cut:]
            return self._with((first,)), self._with((second,))
        order = np.random.default_rng(seed).permutation(len(episodes))
        n_held = min(max(1, round(held_out * len(episodes))), len(episodes) - 1)
        held = sorted(order[:n_held].tolist())
        kept = sorted(order[n_held:].tolist())
        return self._with(tuple(episodes[i] for i in kept)), self._with(tuple(episodes[i] for i in held))

    def _with(self, episodes: tuple[np.ndarray, ...]) -> Rollouts:
        return Rollouts(self.env_id, self.features, episodes)

    def save(self, path: str | Path) -> Path:
        """Write the episodes to a ``.npz`` file; an existing file is never overwritten."""
        target = Path(path)
        if target.exists():
            raise FileExistsError(f"{target} exists; choose another path or delete it first")
        target.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f"episode_{i}": episode for i, episode in enumerate(self.episodes)}
        np.savez_compressed(target, env_id=self.env_id, features=np.array(self.features), **arrays)
        return target

    @classmethod
    def load(cls, path: str | Path) -> Rollouts:
        """Read episodes written by :meth:`save`."""
        with np.load(Path(path)) as data:
            if "env_id" not in data or "features" not in data:
                raise ValueError(f"{path} is not a spikegym rollouts file (no env_id/features arrays)")
            count = sum(1 for key in data.files if key.startswith("episode_"))
            episodes = tuple(np.asarray(data[f"episode_{i}"], np.float64) for i in range(count))
            return cls(str(data["env_id"]), tuple(str(f) for f in data["features"]), episodes)


def record(
    env_id: str,
    n_steps: int | None = None,
    seed: int = 0,
    policy: Policy | None = None,
    progress: bool = False,
    env_kwargs: dict[str, Any] | None = None,
    n_episodes: int | None = None,
) -> Rollouts:
    """Record ``n_steps`` observations (or ``n_episodes`` whole episodes) of a fresh ``env_id``.

    :param policy: maps each raw observation to an action; default a random
        policy, the env's action space seeded with ``seed``.
    :param seed: seeds the env's first reset (and the random policy), so the
        same call gives the same trajectories.
    :param progress: show a progress bar (for long recordings).

    >>> rollouts = record("CartPole-v1", 100, seed=0)
    >>> rollouts.n_steps, rollouts.features
    (100, ('x[0]', 'x[1]', 'x[2]', 'x[3]'))
    >>> len(record("CartPole-v1", n_episodes=3, seed=0).episodes)
    3
    """
    env = LastObservation(gym.make(env_id, **(env_kwargs or {})))
    env.action_space.seed(seed)
    act = policy if policy is not None else (lambda _: env.action_space.sample())
    return record_with(env, env, act, n_steps, n_episodes, seed, progress, f"recording {env_id}")


def balancing_policy(observation: np.ndarray) -> int:
    """A CartPole controller: push the cart towards the pole's lean (and its angular velocity).

    Its episodes run long and smooth, unlike a random policy's.
    """
    return int(observation[2] + 0.5 * observation[3] > 0)


class LastObservation(gym.Wrapper):
    """Keeps the raw observation (``last``) that the wrappers above it transform."""

    def reset(self, **kwargs: Any) -> tuple[Any, dict]:
        self.last, info = self.env.reset(**kwargs)
        return self.last, info

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict]:
        self.last, *rest = self.env.step(action)
        return (self.last, *rest)


def record_with(
    env: gym.Env,
    raw: LastObservation,
    act: Policy,
    n_steps: int | None,
    n_episodes: int | None,
    seed: int,
    progress: bool,
    description: str,
) -> Rollouts:
    """Step ``env`` with ``act`` and record the raw observations of ``raw`` (inside ``env``) until
    ``n_steps`` observations or ``n_episodes`` episodes."""
    if (n_steps is None) == (n_episodes is None):
        raise ValueError(f"give one of n_steps and n_episodes, got n_steps={n_steps!r}, n_episodes={n_episodes!r}")
    if n_steps is not None:
        check_int("n_steps", n_steps, 1)
    else:
        check_int("n_episodes", n_episodes, 1)
    layout = ObservationLayout.of(raw.observation_space)
    observation, _ = env.reset(seed=seed)
    episodes: list[np.ndarray] = []
    current: list[np.ndarray] = []
    recorded = 0
    total = n_steps if n_steps is not None else n_episodes
    with progress_bar(total, description, "steps" if n_steps else "episodes", progress) as bar:
        while True:
            current.append(layout.flatten(raw.last))
            recorded += 1
            if n_steps is not None:
                bar.update()
                if recorded == n_steps:
                    break
            observation, _, terminated, truncated, _ = env.step(act(observation))
            if terminated or truncated:
                episodes.append(np.stack(current))
                current = []
                if n_episodes is not None:
                    bar.update()
                    if len(episodes) == n_episodes:
                        break
                observation, _ = env.reset()
    if current:
        episodes.append(np.stack(current))
    env.close()
    return Rollouts(raw.spec.id if raw.spec else "", layout.names, tuple(episodes))


def as_episodes(data: Rollouts | Sequence[np.ndarray]) -> list[np.ndarray]:
    """Episodes as a list of float arrays ``(length, F)``, from rollouts or a sequence of arrays."""
    episodes = data.episodes if isinstance(data, Rollouts) else data
    checked = [np.asarray(episode, np.float64) for episode in episodes]
    if not checked or any(episode.ndim != 2 or len(episode) == 0 for episode in checked):
        raise ValueError("episodes must be a non-empty sequence of non-empty (length, F) arrays")
    return checked
