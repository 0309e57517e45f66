"""GymnasiumEncoder: observation scaling + a spike encoder + the channel layout a policy sees."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from spikegym.encoders import SpikeEncoder, make
from spikegym.encoders._kernels import normalize
from spikegym.encoders.base import check_choice, check_int
from spikegym.scaling import ObservationLayout, rollout_bounds

logger = logging.getLogger(__name__)

Bounds = tuple[Sequence[float] | np.ndarray, Sequence[float] | np.ndarray]

_estimated_bounds: dict[str, tuple[np.ndarray, np.ndarray]] = {}
"""Rollout bounds per env id, estimated once per process (and warned about once)."""


class GymnasiumEncoder:
    """Turns each observation of a Gymnasium space into a ``{0, 1}`` spike block ``(substeps, C)``.

    Each observation is flattened (:class:`~spikegym.scaling.ObservationLayout`),
    scaled by per-feature bounds into ``[0, 1]`` (values outside are clipped and
    counted) and presented to the encoder as a chunk of ``substeps`` steps:
    held (``upsample="hold"``) or ramped linearly from the previous observation
    (``"linear"``). The encoder's state carries across observations, so temporal
    encoders encode the observation stream; :meth:`reset` starts a new stream.
    Signed spikes become two binary channels per feature, ``+`` and ``-``.

    :param space: the observation space.
    :param encoder: an encoder name (built with ``params`` and the resolved
        bounds) or a :class:`~spikegym.encoders.SpikeEncoder` whose ``low``/``high``
        are the bounds.
    :param substeps: encoder steps per observation, ``T``.
    :param upsample: ``"hold"`` or ``"linear"``.
    :param bounds: ``(low, high)`` per feature, overriding the space's bounds.
    :param env_id: registered id used to estimate bounds the space leaves open.
    :param nan_policy: ``"raise"`` on NaN/inf observations, or ``"zero"`` to
        replace them by 0 (counted in :attr:`last_nonfinite`).

    >>> enc = GymnasiumEncoder(gym.make("CartPole-v1").observation_space, "sf", env_id="CartPole-v1")
    >>> enc.reset(np.zeros(4, np.float32), seed=0).shape, enc.channel_names[:2]
    ((8, 8), ['x[0]+', 'x[0]-'])
    """

    def __init__(
        self,
        space: gym.Space,
        encoder: str | SpikeEncoder = "rate",
        *,
        substeps: int = 8,
        upsample: Literal["hold", "linear"] = "hold",
        bounds: Bounds | None = None,
        env_id: str | None = None,
        nan_policy: Literal["raise", "zero"] = "raise",
        **params: Any,
    ) -> None:
        self.layout = ObservationLayout.of(space)
        self.substeps = check_int("substeps", substeps, 1)
        check_choice("upsample", upsample, ("hold", "linear"))
        check_choice("nan_policy", nan_policy, ("raise", "zero"))
        self.upsample, self.nan_policy, self.env_id = upsample, nan_policy, env_id
        n_features = self.layout.n_features
        if isinstance(encoder, SpikeEncoder):
            if bounds is not None or params:
                raise ValueError("give bounds and parameters either in the encoder object or as arguments, not both")
            if encoder.n_features != n_features:
                raise ValueError(
                    f"encoder has n_features={encoder.n_features}, but the observation space has {n_features} "
                    f"features ({', '.join(self.layout.names)})"
                )
            self.encoder = encoder
        else:
            low, high = self._resolve_bounds(bounds)
            self.encoder = make(encoder, n_features, low=low, high=high, **params)
        self._low = self.encoder.low.double().numpy()
        self._high = self.encoder.high.double().numpy()
        self._ramp = (np.arange(1, self.substeps + 1) / self.substeps)[:, None]
        self.channel_names = self._channel_names()
        self.state: Any = None
        self._previous: np.ndarray | None = None
        self.steps = 0
        self.last_clipped = 0
        self.last_nonfinite = 0

    @property
    def n_channels(self) -> int:
        """Channels ``C`` of a spike block."""
        return len(self.channel_names)

    def _channel_names(self) -> list[str]:
        names = self.layout.names
        shape = self.encoder.spike_shape
        if len(shape) == 2:
            return [f"{name}@bin{b}" for name in names for b in range(shape[1])]
        if self.encoder.signed:
            return [f"{name}{sign}" for name in names for sign in "+-"]
        return list(names)

    def _resolve_bounds(self, bounds: Bounds | None) -> tuple[np.ndarray, np.ndarray]:
        n_features = self.layout.n_features
        if bounds is not None:
            low, high = (np.broadcast_to(np.asarray(b, np.float64), (n_features,)).copy() for b in bounds)
            return low, high
        low, high = self.layout.low.copy(), self.layout.high.copy()
        open_features = self.layout.unbounded
        if open_features:
            if self.env_id is None:
                raise ValueError(
                    f"features {open_features} have no finite bounds in the observation space; give them with "
                    "bounds=(low, high), one value per feature, or wrap an env made with gym.make(<id>) so that "
                    "spikegym can estimate them from a rollout"
                )
            first_estimate = self.env_id not in _estimated_bounds
            if first_estimate:
                _estimated_bounds[self.env_id] = rollout_bounds(self.env_id)
            estimated_low, estimated_high = _estimated_bounds[self.env_id]
            missing = ~(np.isfinite(low) & np.isfinite(high))
            low[missing], high[missing] = estimated_low[missing], estimated_high[missing]
            if first_estimate:
                self._warn_estimated(open_features, low[missing], high[missing])
        return low, high

    def _warn_estimated(self, features: list[str], low: np.ndarray, high: np.ndarray) -> None:
        logger.warning(
            "%s: features %s are unbounded in the observation space; using bounds estimated from a seeded "
            "random rollout (low=%s, high=%s). Give bounds=(low, high) or an env config to fix them.",
            self.env_id,
            features,
            np.round(low, 4).tolist(),
            np.round(high, 4).tolist(),
        )

    def _scaled(self, observation: Any) -> np.ndarray:
        x = self.layout.flatten(observation)
        if x.size != self.layout.n_features:
            raise ValueError(
                f"observation has {x.size} values, but the observation space has {self.layout.n_features} "
                f"features; got shape {np.shape(observation)}"
            )
        u = np.empty((1, x.size))
        bad, self.last_clipped = normalize(x[None], self._low, self._high, u)
        self.last_nonfinite = 0
        if bad >= 0:
            finite = np.isfinite(x)
            if self.nan_policy == "raise":
                feature = int(np.flatnonzero(~finite)[0])
                where = f"env {self.env_id}" if self.env_id else "the env"
                raise ValueError(
                    f"{where} returned a non-finite observation at step {self.steps}: "
                    f"{self.layout.names[feature]} = {x[feature]}; pass nan_policy='zero' to replace such values by 0"
                )
            self.last_nonfinite = int(np.count_nonzero(~finite))
            _, self.last_clipped = normalize(np.where(finite, x, 0.0)[None], self._low, self._high, u)
        return u[0]

    def reset(self, observation: Any, seed: int | None = None) -> np.ndarray:
        """Start a new stream (episode) and encode its first observation.

        ``seed`` keys a stochastic encoder's spike stream; ``None`` draws a key
        from the encoder's own seed.
        """
        self.steps = 0
        self.state = self.encoder.stream_state((), seed)
        self._previous = None
        return self.step(observation)

    def step(self, observation: Any) -> np.ndarray:
        """The spike block ``(substeps, C)`` of ``int8`` in ``{0, 1}`` for the next observation."""
        if self.state is None:
            raise RuntimeError("call reset(observation) before step(observation)")
        u = self._scaled(observation)
        if self.upsample == "hold" or self._previous is None:
            block = np.broadcast_to(u, (self.substeps, u.size))
        else:
            block = self._previous + (u - self._previous) * self._ramp
        self._previous = u
        self.steps += 1
        spikes = self.encoder.stream_encode(np.ascontiguousarray(block, self.encoder.np_dtype), self.state)
        if self.encoder.signed:
            return np.stack([spikes > 0, spikes < 0], axis=-1).reshape(self.substeps, -1).view(np.int8)
        return spikes
