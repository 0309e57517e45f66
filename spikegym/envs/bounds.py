"""Per-feature bounds: the ``low``/``high`` that scale each observation feature into ``[0, 1]``.

Bounds come from the user, else the space where it is finite, else the env's
config, else robust percentiles of a seeded random rollout (warned about once
per env id).

>>> from gymnasium import spaces
>>> low, high = resolve_bounds(ObservationLayout.of(spaces.Box(-1, 1, (2,))), None, None)
>>> low.tolist(), high.tolist()
([-1.0, -1.0], [1.0, 1.0])
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from spikegym.envs.configs import ConfigError, EncoderConfig, find_config, load_config
from spikegym.envs.layout import HUGE_BOUND, ObservationLayout
from spikegym.envs.rollouts import record

logger = logging.getLogger(__name__)

Bounds = tuple[Sequence[float] | np.ndarray, Sequence[float] | np.ndarray]
"""``(low, high)``, one value per feature (or one for all)."""

_estimated_bounds: dict[str, tuple[np.ndarray, np.ndarray]] = {}
"""Rollout bounds per env id, estimated once per process (and warned about once)."""


def robust_bounds(
    values: np.ndarray, quantiles: tuple[float, float] = (0.005, 0.995), margin: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature bounds of recorded ``values`` ``(n, F)``: the ``quantiles`` (not the extremes of
    one batch), widened by ``margin`` times their spread on each side. Constant features get a
    unit-wide range around their value.

    >>> low, high = robust_bounds(np.array([[0.0], [1.0], [2.0]]), quantiles=(0.0, 1.0))
    >>> low.tolist(), high.tolist()
    ([-0.2], [2.2])
    """
    low, high = np.quantile(values, quantiles, axis=0)
    spread = high - low
    constant = spread <= 0
    low, high = low - margin * spread, high + margin * spread
    low[constant] -= 0.5
    high[constant] += 0.5
    return low, high


def rollout_bounds(
    env_id: str,
    n_steps: int = 2000,
    seed: int = 0,
    quantiles: tuple[float, float] = (0.005, 0.995),
    margin: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature :func:`robust_bounds` of a seeded random-action rollout of a fresh ``env_id``."""
    return robust_bounds(record(env_id, n_steps, seed).values(), quantiles, margin)


def check_config_features(config: EncoderConfig, layout: ObservationLayout) -> None:
    """Raise a :class:`~spikegym.envs.configs.ConfigError` if ``config``'s bounds are for other features."""
    where = config.source or f"config for {config.env_id}"
    if config.n_features is not None and config.n_features != layout.n_features:
        raise ConfigError(
            f"{where}: field 'bounds' has {config.n_features} features, but the observation space has "
            f"{layout.n_features} ({', '.join(layout.names)})"
        )
    if config.features is not None and tuple(config.features) != layout.names:
        raise ConfigError(
            f"{where}: field 'bounds.features' is {config.features}, but the observation space's features "
            f"are {list(layout.names)}"
        )


def resolve_bounds(
    layout: ObservationLayout, bounds: Bounds | None, env_id: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature ``(low, high)``: ``bounds`` if given, else the space's where finite, else the env's
    config in ``envs_configs/``, else an estimate from a seeded random rollout of ``env_id`` (warned
    about once per env id). Without ``env_id``, unbounded features are an error that says how to fix it.
    A feature the space holds constant (``low == high``) gets the unit range around its value, so it
    encodes as the constant it is.
    """
    if bounds is not None:
        return given_bounds(bounds, layout)
    low, high = layout.low.copy(), layout.high.copy()
    constant = np.isfinite(low) & (low == high)
    low[constant] -= 0.5
    high[constant] += 0.5
    open_features = layout.unbounded
    if not open_features:
        return low, high
    if env_id is None:
        raise ValueError(
            f"features {open_features} have no finite bounds in the observation space (or bounds beyond "
            f"±{HUGE_BOUND:g}); give them with "
            "bounds=(low, high), one value per feature, or wrap an env made with gym.make(<id>) so that "
            "spikegym can estimate them from a rollout"
        )
    missing = ~(np.isfinite(low) & np.isfinite(high))
    config_path = find_config(env_id)
    if config_path is not None:
        config = load_config(config_path)
        if config.low is not None:
            check_config_features(config, layout)
            low[missing] = np.asarray(config.low)[missing]
            high[missing] = np.asarray(config.high)[missing]
            logger.info("%s: bounds of %s from %s", env_id, open_features, config_path)
            return low, high
    first_estimate = env_id not in _estimated_bounds
    if first_estimate:
        _estimated_bounds[env_id] = rollout_bounds(env_id)
    estimated_low, estimated_high = _estimated_bounds[env_id]
    low[missing], high[missing] = estimated_low[missing], estimated_high[missing]
    if first_estimate:
        logger.warning(
            "%s: features %s are unbounded in the observation space (or bounded beyond ±%g); using bounds "
            "estimated from a seeded "
            "random rollout (low=%s, high=%s). Give bounds=(low, high) or an env config to fix them.",
            env_id,
            open_features,
            HUGE_BOUND,
            np.round(low[missing], 4).tolist(),
            np.round(high[missing], 4).tolist(),
        )
    return low, high


def given_bounds(bounds: Bounds, layout: ObservationLayout) -> tuple[np.ndarray, np.ndarray]:
    """``bounds`` as per-feature float arrays ``(low, high)``, each given as one number or one per feature.

    >>> from gymnasium import spaces
    >>> given_bounds((0, [1, 2]), ObservationLayout.of(spaces.Box(-5, 5, (2,))))
    (array([0., 0.]), array([1., 2.]))
    """
    n_features = layout.n_features
    if not isinstance(bounds, tuple | list) or len(bounds) != 2:
        raise ValueError(f"bounds must be a pair (low, high), got {bounds!r}")
    arrays = []
    for name, value in zip(("low", "high"), bounds, strict=True):
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"bounds {name} must be a number or a sequence of numbers, got {value!r}") from None
        if array.ndim == 0:
            array = np.full(n_features, float(array))
        elif array.shape != (n_features,):
            raise ValueError(
                f"bounds {name} must be one number or one per feature ({n_features}: {list(layout.names)}), "
                f"got shape {array.shape}"
            )
        arrays.append(array)
    low, high = arrays
    bad = np.flatnonzero(~(np.isfinite(low) & np.isfinite(high) & (high > low)))
    if bad.size:
        i = int(bad[0])
        feature = layout.names[i]
        raise ValueError(f"bounds must be finite with high > low for each feature; {feature} has {low[i]} to {high[i]}")
    return low, high
