"""Population coding: Gaussian receptive fields, each rate-coded."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import torch

from spikegym.encoders import _kernels, _torch
from spikegym.encoders.base import FeatureValues, check_int, feature_values
from spikegym.encoders.rate import RateCodedEncoder, RateState, Seed, window_range
from spikegym.encoders.search import SearchRange, SearchSpace, SignalStats

_EXP_RULES: dict[np.dtype, tuple[np.ndarray, np.ndarray]] = {}


class PopulationEncoder(RateCodedEncoder):
    """Population encoder: ``n_bins`` Gaussian receptive fields per feature.

    The centres are spread evenly over the scaled range ``[0, 1]``; bin ``j``
    fires at a rate ``max_rate * exp(-(x - c_j)^2 / (2 sigma^2))``,
    deterministically or Poisson as in :class:`RateEncoder`. Spikes have shape
    ``(T, *batch, F, n_bins)``.

    The decoder estimates each bin's activity with a causal moving average,
    then inverts the Gaussian: for adjacent bins, ``log(a_(j+1) / a_j)`` is
    linear in ``x``, and the estimates of all active pairs are averaged with
    weights ``a_j * a_(j+1)``. That is exact for exact activities, with no
    pull towards the middle that a centre of mass has near the edges; it falls
    back to the centre of mass when only one bin is active.

    :param n_features: number of features.
    :param n_bins: receptive fields per feature, >= 2.
    :param sigma: per-feature field width in scaled units; default half the
        spacing between centres.
    :param mode: ``"deterministic"`` or ``"poisson"``.
    :param max_rate: per-feature spike probability at a field's centre, in (0, 1].
    :param window: decoder moving-average window in steps, per feature.
    :param seed: Poisson stream seed (see :class:`RateEncoder`).

    >>> import torch
    >>> enc = PopulationEncoder(n_features=1, n_bins=5)
    >>> spikes, _ = enc.encode(torch.full((4, 1), 0.5))
    >>> spikes.shape, spikes[:, 0].sum(0).tolist()
    (torch.Size([4, 1, 5]), [0, 1, 4, 1, 0])
    """

    name = "population"

    sigma: torch.Tensor
    centres: torch.Tensor

    def __init__(
        self,
        n_features: int,
        n_bins: int = 8,
        sigma: FeatureValues | None = None,
        mode: Literal["deterministic", "poisson"] = "deterministic",
        max_rate: FeatureValues = 1.0,
        window: int | Sequence[int] = 16,
        seed: Seed = None,
        *,
        low: FeatureValues = 0.0,
        high: FeatureValues = 1.0,
    ) -> None:
        self.n_bins = check_int("n_bins", n_bins, 2)
        super().__init__(n_features, mode=mode, max_rate=max_rate, window=window, seed=seed, low=low, high=high)
        spacing = 1.0 / (self.n_bins - 1)
        width = 0.5 * spacing if sigma is None else sigma
        self.register_buffer("sigma", feature_values("sigma", width, n_features, "> 0", lambda v: v > 0))
        self.register_buffer("centres", torch.linspace(0.0, 1.0, self.n_bins))

    @property
    def spike_shape(self) -> tuple[int, ...]:
        return (self.n_features, self.n_bins)

    def extra_repr(self) -> str:
        return f"n_features={self.n_features}, n_bins={self.n_bins}, mode={self.mode!r}, window={self.window.tolist()}"

    def _kernel_call(self, state: RateState) -> tuple[Callable[..., int], Callable[..., int], tuple[Any, ...]]:
        parameters = (self._np("centres"), self._np("sigma"), self._np("max_rate"), self._exp_rule()[0])
        return (
            _kernels.population_encode,
            _kernels.population_encode_parallel,
            (*parameters, *self._stream_arrays(state)),
        )

    def _exp_rule(self) -> tuple[np.ndarray, np.ndarray]:
        """The exp rule's constants in the encoder's dtype (cached per dtype)."""
        dtype = self.np_dtype
        if dtype not in _EXP_RULES:
            _EXP_RULES[dtype] = _kernels.exp_constants(dtype)
        return _EXP_RULES[dtype]

    def _fire_tensor(
        self, u: torch.Tensor, accumulator: torch.Tensor, counters: torch.Tensor, buffers: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        constants, powers = (torch.from_numpy(a).to(u.device) for a in self._exp_rule())
        d = (u[..., None] - buffers["centres"]) / buffers["sigma"][:, None]
        half = torch.tensor(0.5, dtype=u.dtype, device=u.device)
        gaussian = _torch.exp_negative(-half * d * d, constants, powers)
        return _torch.rate_spikes(
            buffers["max_rate"][:, None] * gaussian, accumulator, self.mode == "poisson", counters
        )

    @classmethod
    def search_space(cls, stats: SignalStats, **fixed: Any) -> SearchSpace:
        """Field width from a quarter to twice the spacing of the ``n_bins`` centres; peak rate in [0.05, 1];
        decoder window from one to eight observations' steps."""
        ones = np.ones_like(stats.step_change)
        spacing = 1.0 / (int(fixed.get("n_bins", 8)) - 1)
        return {
            "sigma": SearchRange(0.25 * spacing * ones, 2 * spacing * ones),
            "max_rate": SearchRange(0.05 * ones, ones),
            "window": window_range(stats),
        }

    def _from_rates(self, rates: np.ndarray) -> np.ndarray:
        centres = self._np("centres")
        variance = self._np("sigma")[:, None] ** 2
        log_rates = np.log(np.maximum(rates, np.finfo(rates.dtype).tiny))
        spacing = centres[1] - centres[0]
        midpoints = 0.5 * (centres[1:] + centres[:-1])
        pair_estimates = midpoints + variance * (log_rates[..., 1:] - log_rates[..., :-1]) / spacing
        weights = rates[..., 1:] * rates[..., :-1]
        weight_sum = weights.sum(-1)
        total = rates.sum(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            pairs = (weights * pair_estimates).sum(-1) / weight_sum
            centre_of_mass = (rates * centres).sum(-1) / total
        u = np.where(weight_sum > 0, pairs, np.where(total > 0, centre_of_mass, 0.5))
        return np.clip(u, 0.0, 1.0)
