"""The core: six spike encoders, each with its decoder, as stateful stream filters, and a registry.

``encode(signal, state) -> (spikes, state)`` and ``decode(spikes, state)``,
like ``scipy.signal.lfilter(..., zi)``; each rule is one compiled kernel
(:mod:`~spikegym.encoders._kernels`) over numpy arrays.

May import: numpy, numba, torch; nothing else of spikegym
and no gymnasium, so the encoders serve any stream, not only Gymnasium's.

>>> from spikegym.encoders import make, names
>>> names()
['bsa', 'lif', 'population', 'pwm', 'rate', 'step_forward']
>>> make("sf", n_features=4, threshold=0.1)
StepForwardEncoder(n_features=4, initial=first)
"""

from __future__ import annotations

import inspect
from typing import Any

from spikegym.encoders.base import MirroredEncoder, SpikeEncoder
from spikegym.encoders.bsa import BSAEncoder, BSAState
from spikegym.encoders.lif import LIFEncoder, LIFState
from spikegym.encoders.population import PopulationEncoder
from spikegym.encoders.pwm import PWMEncoder, PWMState
from spikegym.encoders.rate import RateCodedEncoder, RateDecodeState, RateEncoder, RateState
from spikegym.encoders.step_forward import StepForwardEncoder, StepForwardState

ENCODERS: dict[str, type[SpikeEncoder]] = {
    cls.name: cls for cls in (RateEncoder, PopulationEncoder, StepForwardEncoder, BSAEncoder, PWMEncoder, LIFEncoder)
}
ALIASES: dict[str, str] = {"sf": "step_forward", "step-forward": "step_forward", "pop": "population"}


def names() -> list[str]:
    """The registered encoder names, sorted."""
    return sorted(ENCODERS)


def encoder_class(name: str) -> type[SpikeEncoder]:
    """The encoder class registered under ``name`` or one of its aliases."""
    key = ALIASES.get(name, name)
    if key not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; choose one of {names()} (aliases: {sorted(ALIASES)})")
    return ENCODERS[key]


def parameters(name: str) -> list[str]:
    """The parameters of the encoder ``name`` besides ``n_features`` and the bounds.

    >>> parameters("sf")
    ['threshold', 'initial']
    """
    signature = inspect.signature(encoder_class(name).__init__)
    return [p for p in signature.parameters if p not in ("self", "n_features", "low", "high")]


def make(name: str, n_features: int, **params: Any) -> SpikeEncoder:
    """Build the encoder registered under ``name`` with ``params``."""
    return encoder_class(name)(n_features, **params)


__all__ = [
    "BSAEncoder",
    "BSAState",
    "LIFEncoder",
    "LIFState",
    "MirroredEncoder",
    "PWMEncoder",
    "PWMState",
    "PopulationEncoder",
    "RateCodedEncoder",
    "RateDecodeState",
    "RateEncoder",
    "RateState",
    "SpikeEncoder",
    "StepForwardEncoder",
    "StepForwardState",
    "encoder_class",
    "make",
    "names",
    "parameters",
]
