"""Rate coding: deterministic or Poisson spikes at a rate set by the value."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

import numpy as np
import torch

from spikegym.encoders import _kernels, _torch
from spikegym.encoders.base import (
    FeatureValues,
    SpikeEncoder,
    check_bool,
    check_choice,
    check_int,
    feature_values,
)
from spikegym.encoders.search import SearchRange, SearchSpace, SignalStats

Seed = int | torch.Generator | None
StreamSeeds = np.ndarray | list[int] | tuple[int, ...]
MODES = ("deterministic", "poisson")


class RateState(NamedTuple):
    """State of a rate-coded encoder.

    ``accumulator`` (deterministic phase per spike channel), ``step`` (steps
    encoded so far) and ``key`` (the Poisson stream's key), each a tensor;
    ``step`` and ``key`` hold one value per stream (batch entry).
    """

    accumulator: torch.Tensor
    step: torch.Tensor
    key: torch.Tensor


class RateDecodeState(NamedTuple):
    """Decoder state of a rate-coded encoder: the spikes of the last ``max(window)`` steps and how many steps
    were seen."""

    history: torch.Tensor
    filled: torch.Tensor


def _seed_value(seed: Seed) -> int:
    """The integer behind a seed; ``None`` or a ``torch.Generator`` draws one from torch."""
    if isinstance(seed, torch.Generator) or seed is None:
        return int(torch.randint(0, 2**62, (), generator=seed))
    allowed = "a non-negative integer, a torch.Generator or None"
    if isinstance(seed, bool | np.bool_) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be {allowed}, got {seed!r} ({type(seed).__name__})")
    if seed < 0:
        raise ValueError(f"seed must be {allowed}, got {seed!r}")
    return int(seed)


def _stream_keys(seed: Seed | StreamSeeds, batch_shape: tuple[int, ...]) -> np.ndarray:
    """63-bit keys of the counter-based Poisson generator, one per stream, shaped ``batch_shape``.

    One seed keys a batch of streams with distinct keys, the first of which is
    the key of a single stream with that seed; an array of seeds (shaped
    ``batch_shape``) gives each stream the key of its own seed.
    """
    if isinstance(seed, (np.ndarray, list, tuple)):
        seeds = np.asarray(seed)
        if seeds.shape != batch_shape:
            raise ValueError(f"seeds must have the batch shape {batch_shape}, got shape {seeds.shape}")
        keys = [_stream_keys(_seed_value(s.item()), ()) for s in seeds.reshape(-1)]
        return np.asarray(keys, np.int64).reshape(batch_shape)
    n = math.prod(batch_shape)
    words = np.random.SeedSequence(_seed_value(seed)).generate_state(max(n, 1), np.uint64)[:n]
    return (words >> np.uint64(1)).astype(np.int64).reshape(batch_shape)


def window_range(stats: SignalStats) -> SearchRange:
    """The decoder window's search range: ``substeps`` to eight times that, in steps."""
    ones = np.ones_like(stats.step_change)
    return SearchRange(stats.substeps * ones, 8 * stats.substeps * ones, log=True, integer=True)


def _windows(window: int | Sequence[int], n_features: int) -> torch.Tensor:
    """Per-feature decoder windows as an int64 tensor, each an integer >= 1 (integral floats accepted,
    as tuning hands them over in float arrays).

    >>> _windows([4, 8.0], 2)
    tensor([4, 8])
    """
    values = window.tolist() if isinstance(window, torch.Tensor | np.ndarray) else window
    per_feature = isinstance(values, list | tuple)
    if per_feature and len(values) != n_features:
        raise ValueError(f"window must be an integer or one per feature (n_features={n_features}), got {window!r}")
    if not per_feature and (isinstance(values, str | bytes) or not isinstance(values, numbers.Number)):
        raise TypeError(
            f"window must be an integer or one per feature (n_features={n_features}), "
            f"got {window!r} ({type(window).__name__})"
        )
    whole = [int(w) if _integral_float(w) else w for w in (values if per_feature else [values] * n_features)]
    try:
        return torch.tensor([check_int("window", w, 1) for w in whole], dtype=torch.int64)
    except TypeError as error:
        if not per_feature:
            raise
        raise TypeError(f"{error} in {window!r}") from None


def _integral_float(value: Any) -> bool:
    return isinstance(value, float | np.floating) and float(value).is_integer()


class RateCodedEncoder(SpikeEncoder):
    """Shared machinery of the rate and population encoders.

    A subclass names its encoding kernel (:meth:`_kernel_call`) and maps the decoder's
    windowed spike means back to the scaled signal (:meth:`_from_rates`).
    """

    state_type = RateState
    decode_state_type = RateDecodeState
    window_carries_value = True
    """A window's spike count sets the value: decoded alone it is off by the code's own resolution (one
    spike in ``T`` deterministic, Poisson noise), as the stream decoder is."""
    checked_attributes = MappingProxyType({"mode": lambda name, value: check_choice(name, value, MODES)})

    max_rate: torch.Tensor

    def __init__(
        self,
        n_features: int,
        *,
        mode: Literal["deterministic", "poisson"],
        max_rate: FeatureValues,
        window: int | Sequence[int],
        seed: Seed,
        low: FeatureValues,
        high: FeatureValues,
    ) -> None:
        super().__init__(n_features, low=low, high=high)
        self.mode = mode
        self.register_buffer(
            "max_rate", feature_values("max_rate", max_rate, n_features, "in (0, 1]", lambda v: (v > 0) & (v <= 1))
        )
        self.register_buffer("window", _windows(window, n_features))
        if not (seed is None or isinstance(seed, torch.Generator)):
            _seed_value(seed)
        self.seed = seed
        self._window_size = int(self.window.max())

    @property
    def stochastic(self) -> bool:
        return self.mode == "poisson"

    def _initial_state(self, first: np.ndarray, batch_shape: tuple[int, ...], seed: Seed = None) -> RateState:
        shape = (*batch_shape, *self.spike_shape)
        if self.mode == "poisson":
            keys = _stream_keys(self.seed if seed is None else seed, batch_shape)
        else:
            keys = np.zeros(batch_shape, np.int64)
        return RateState(np.full(shape, 0.5, self.np_dtype), np.zeros(batch_shape, np.int64), keys)

    def _initial_decode_state(self, first: np.ndarray | None, batch_shape: tuple[int, ...]) -> RateDecodeState:
        history = np.zeros((self._window_size, *batch_shape, *self.spike_shape), np.int8)
        return RateDecodeState(history, np.array(0, np.int64))

    def _stream_arrays(self, state: RateState) -> tuple[np.ndarray, bool, np.ndarray, np.ndarray]:
        """The kernels' view of a stream: flat accumulators, whether Poisson, the keys as ``uint64`` and the
        step counts (advanced by the kernel)."""
        keys = state.key.reshape(-1).view(np.uint64)
        return state.accumulator.reshape(-1), self.mode == "poisson", keys, state.step.reshape(-1)

    def _encode_tensor(
        self, u: torch.Tensor, state: RateState, buffers: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, RateState]:
        counters = _torch.counters(state.key, state.step, self._stream_columns(u.device))
        spikes, accumulator = self._fire_tensor(u, state.accumulator, counters, buffers)
        return spikes, RateState(accumulator, state.step + u.shape[0], state.key)

    def _stream_columns(self, device: torch.device) -> torch.Tensor:
        """Each spike channel's column within its stream, shaped ``spike_shape``."""
        return torch.arange(math.prod(self.spike_shape), device=device).reshape(self.spike_shape)

    def _fire_tensor(
        self, u: torch.Tensor, accumulator: torch.Tensor, counters: torch.Tensor, buffers: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Spikes and accumulators by torch operations for the scaled ``u``, from each channel's ``counters``."""
        raise NotImplementedError

    def _decode(self, spikes: np.ndarray, state: RateDecodeState, stride: int = 1) -> np.ndarray:
        rates = np.empty(spikes.shape, self.np_dtype)
        history = state.history.reshape(self._window_size, -1)
        filled = _kernels.window_mean(spikes, history, int(state.filled), self._np("window"), self._spike_width, rates)
        state.filled[...] = filled
        kept = rates if stride == 1 else rates[stride - 1 :: stride]
        by_channel = kept.reshape(kept.shape[0], -1, self.n_features, self._spike_width)
        return self._from_rates(by_channel).reshape(kept.shape[0], -1)

    def _from_rates(self, rates: np.ndarray) -> np.ndarray:
        """The scaled signal ``(T, B, F)`` from the mean spike values ``(T, B, F, channels)``."""
        raise NotImplementedError


class RateEncoder(RateCodedEncoder):
    """Rate encoder: the scaled value sets the probability of a spike per step.

    Deterministic mode spaces spikes evenly (over ``n`` steps of a constant
    input, ``round(p * n)`` spikes from a fresh state and ``round(p * n) ± 1``
    over any window); Poisson mode draws a Bernoulli spike per step from the
    encoder's own counter-based generator, seeded by ``seed`` (an integer,
    a ``torch.Generator``, or ``None`` for a draw from torch's global
    generator), never from a global numpy state.

    The decoder estimates the rate by a causal moving average over the last
    ``window`` steps and maps it back to the value.

    :param n_features: number of features.
    :param mode: ``"deterministic"`` or ``"poisson"``.
    :param max_rate: per-feature spike probability at the top of the range, in (0, 1].
    :param exc_inh: signed spikes around the middle of the range: excitatory
        (+1) above, inhibitory (-1) below, at a rate growing with the distance.
    :param inverted: code ``1 - x`` instead of ``x`` (low values fire most).
    :param window: decoder moving-average window in steps, per feature.
    :param seed: Poisson stream seed.

    >>> import torch
    >>> enc = RateEncoder(n_features=1)
    >>> spikes, _ = enc.encode(torch.full((8, 1), 0.25))
    >>> int(spikes.sum())
    2
    """

    name = "rate"
    checked_attributes = MappingProxyType(
        {**RateCodedEncoder.checked_attributes, "exc_inh": check_bool, "inverted": check_bool}
    )

    def __init__(
        self,
        n_features: int,
        mode: Literal["deterministic", "poisson"] = "deterministic",
        max_rate: FeatureValues = 1.0,
        exc_inh: bool = False,
        inverted: bool = False,
        window: int | Sequence[int] = 16,
        seed: Seed = None,
        *,
        low: FeatureValues = 0.0,
        high: FeatureValues = 1.0,
    ) -> None:
        super().__init__(n_features, mode=mode, max_rate=max_rate, window=window, seed=seed, low=low, high=high)
        self.exc_inh = exc_inh
        self.inverted = inverted

    @property
    def signed(self) -> bool:
        return self.exc_inh

    def extra_repr(self) -> str:
        return (
            f"n_features={self.n_features}, mode={self.mode!r}, exc_inh={self.exc_inh}, "
            f"inverted={self.inverted}, window={self.window.tolist()}"
        )

    def _kernel_call(self, state: RateState) -> tuple[Callable[..., int], Callable[..., int], tuple[Any, ...]]:
        args = (self._np("max_rate"), self.inverted, self.exc_inh, *self._stream_arrays(state))
        return _kernels.rate_encode, _kernels.rate_encode_parallel, args

    def _fire_tensor(
        self, u: torch.Tensor, accumulator: torch.Tensor, counters: torch.Tensor, buffers: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        one = torch.ones((), dtype=u.dtype, device=u.device)
        u = one - u if self.inverted else u
        u = (one + one) * u - one if self.exc_inh else u
        return _torch.rate_spikes(u * buffers["max_rate"], accumulator, self.mode == "poisson", counters)

    @classmethod
    def search_space(cls, stats: SignalStats, **fixed: Any) -> SearchSpace:
        """Peak spike probability in [0.05, 1]; decoder window from one to eight observations' steps."""
        ones = np.ones_like(stats.step_change)
        return {"max_rate": SearchRange(0.05 * ones, ones), "window": window_range(stats)}

    def _from_rates(self, rates: np.ndarray) -> np.ndarray:
        u = rates[..., 0] / self._np("max_rate")
        if self.exc_inh:
            u = 0.5 * (u + 1.0)
        return np.clip(1.0 - u if self.inverted else u, 0.0, 1.0)
