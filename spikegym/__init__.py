"""spikegym: spike-encoded Gymnasium observations for spiking reinforcement learning.

The package is layered; each layer imports only those below it:

- :mod:`spikegym.encoders`: the stream-filter core (numpy, numba, torch);
- :mod:`spikegym.envs`: the Gymnasium side (layout, bounds, configs, wrappers, ``make``);
- :mod:`spikegym.tuning`: reconstruction objectives and optuna studies, over ``envs``;
- :mod:`spikegym.rl`: spiking policies for stable-baselines3, training, replay, NIR, over ``envs``;
- :mod:`spikegym.cli`: the ``spikegym`` command, on top.

The names below come from :mod:`spikegym.envs` on first use, so that
``import spikegym.encoders`` does not import gymnasium.

>>> import spikegym
>>> env = spikegym.make("CartPole-v1")
>>> observation, info = env.reset(seed=0)
>>> observation.shape, observation.dtype
((8, 32), dtype('int8'))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from spikegym._version import __version__

if TYPE_CHECKING:
    from spikegym.envs import (
        EncoderConfig,
        GymnasiumEncoder,
        SpikeObservationVectorWrapper,
        SpikeObservationWrapper,
        load_config,
        make,
        make_vec,
    )

__all__ = [
    "EncoderConfig",
    "GymnasiumEncoder",
    "SpikeObservationVectorWrapper",
    "SpikeObservationWrapper",
    "__version__",
    "load_config",
    "make",
    "make_vec",
]


def __getattr__(name: str) -> Any:
    """The Gymnasium-side names of :data:`__all__`, imported from :mod:`spikegym.envs` when first used."""
    if name in __all__:
        value = getattr(importlib.import_module("spikegym.envs"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'spikegym' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
