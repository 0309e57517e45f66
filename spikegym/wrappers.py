"""SpikeObservationWrapper: spike-tensor observations for any Gymnasium env."""

from __future__ import annotations

from typing import Any, Literal, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from spikegym.encoders import SpikeEncoder
from spikegym.gym_encoder import Bounds, GymnasiumEncoder


class SpikeObservationWrapper(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Replaces observations by spike blocks ``(substeps, C)`` of ``int8`` in ``{0, 1}``.

    ``reset`` and ``step`` go through the same :class:`~spikegym.gym_encoder.GymnasiumEncoder`;
    ``reset`` starts a new encoder stream and, given a ``seed``, keys a
    stochastic encoder from the wrapper's own generator (never the env's).
    ``info["spikes"]`` holds the step's spike count, the number of clipped
    values and of replaced non-finite ones.

    :param env: the env to wrap.
    :param encoder: an encoder name or a :class:`~spikegym.encoders.SpikeEncoder`.
    :param substeps: encoder steps per observation.
    :param upsample: ``"hold"`` or ``"linear"``.
    :param bounds: per-feature ``(low, high)``; unbounded features of a
        registered env are otherwise estimated from a seeded rollout.
    :param nan_policy: ``"raise"`` or ``"zero"``.
    :param params: encoder parameters, with ``encoder`` given by name.

    >>> env = SpikeObservationWrapper(gym.make("CartPole-v1"), "rate", substeps=4)
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape, obs.dtype, env.observation_space
    ((4, 4), dtype('int8'), MultiBinary((4, 4)))
    """

    def __init__(
        self,
        env: gym.Env,
        encoder: str | SpikeEncoder = "rate",
        *,
        substeps: int = 8,
        upsample: Literal["hold", "linear"] = "hold",
        bounds: Bounds | None = None,
        nan_policy: Literal["raise", "zero"] = "raise",
        **params: Any,
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self, encoder=encoder, substeps=substeps, upsample=upsample, bounds=bounds, nan_policy=nan_policy, **params
        )
        gym.Wrapper.__init__(self, env)
        self.gym_encoder = GymnasiumEncoder(
            env.observation_space,
            encoder,
            substeps=substeps,
            upsample=upsample,
            bounds=bounds,
            env_id=env.spec.id if env.spec is not None else None,
            nan_policy=nan_policy,
            **params,
        )
        self.observation_space = spaces.MultiBinary((substeps, self.gym_encoder.n_channels))
        self._spike_rng = np.random.default_rng()

    def _info(self, spikes: np.ndarray, info: dict[str, Any]) -> dict[str, Any]:
        encoder = self.gym_encoder
        info["spikes"] = {
            "count": int(np.count_nonzero(spikes)),
            "clipped": encoder.last_clipped,
            "nonfinite": encoder.last_nonfinite,
        }
        return info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        observation, info = self.env.reset(seed=seed, options=options)
        if seed is not None:
            self._spike_rng = np.random.default_rng(seed)
        stream_seed = int(self._spike_rng.integers(2**62))
        spikes = self.gym_encoder.reset(observation, seed=stream_seed)
        return spikes, self._info(spikes, info)

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        spikes = self.gym_encoder.step(observation)
        return spikes, reward, terminated, truncated, self._info(spikes, info)
