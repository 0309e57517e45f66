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

Every env with a shipped config is also a Gymnasium id, ``spikegym/<env id>``
(see :func:`register_env_ids`), so any tool that takes an env id takes it:

>>> import gymnasium as gym
>>> gym.make("spikegym/CartPole-v1", encoder="lif").observation_space
MultiBinary((8, 8))
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from importlib.machinery import ModuleSpec
from importlib.resources import files
from types import ModuleType
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
    "register_env_ids",
]


ENV_NAMESPACE = "spikegym"
"""The Gymnasium namespace of the spike-encoded env ids."""

_ENTRY_POINT = "spikegym.envs.env_ids:make_spike_env"
_VECTOR_ENTRY_POINT = "spikegym.envs.env_ids:make_spike_vector_env"
_logger = logging.getLogger(__name__)


def shipped_env_ids() -> list[str]:
    """The env ids with a config shipped in ``spikegym/data/envs_configs`` (``<env-id>.yaml``; the tuned configs of
    other encoders, ``<env-id>.<encoder>.yaml``, add none).

    >>> "CartPole-v1" in shipped_env_ids(), "CartPole-v1.step_forward" in shipped_env_ids()
    (True, False)
    """
    folder = files(__name__).joinpath("data", "envs_configs")
    stems = [path.name.removesuffix(".yaml") for path in folder.iterdir() if path.name.endswith(".yaml")]
    return sorted(stem.replace("__", "/") for stem in stems if "." not in stem)


def register_env_ids(*env_ids: str) -> list[str]:
    """Register ``spikegym/<env id>`` in Gymnasium's registry for each of ``env_ids`` (default: the shipped configs).

    ``gym.make("spikegym/<env id>", **kwargs)`` then builds the env wrapped with
    its config (:func:`spikegym.envs.env_ids.make_spike_env` says which kwargs
    pick the encoding). ``import spikegym`` registers the shipped configs (at
    once if gymnasium is loaded, else when it is); call this for an env whose
    config is your own (``./envs_configs``, ``$SPIKEGYM_CONFIG_DIR``) or that you
    will encode with ``encoder=...``. A namespace's ``/`` becomes ``-``
    (``ALE/Pong-v5``: ``spikegym/ALE-Pong-v5``). Registering an id again does
    nothing; an id registered otherwise by someone else is refused. Imports
    gymnasium only (not torch).

    :returns: the spike-encoded ids.

    >>> register_env_ids("CartPole-v1", "Acrobot-v1")
    ['spikegym/CartPole-v1', 'spikegym/Acrobot-v1']
    """
    from gymnasium.envs.registration import EnvSpec, registry

    registered = []
    for env_id in env_ids or shipped_env_ids():
        if not isinstance(env_id, str) or env_id not in registry:
            raise ValueError(
                f"env_ids: {env_id!r} is not a registered Gymnasium id; import the package that registers it first"
            )
        inner = registry[env_id]
        spec = EnvSpec(
            id=f"{ENV_NAMESPACE}/{env_id.replace('/', '-')}",
            entry_point=_ENTRY_POINT,
            vector_entry_point=_VECTOR_ENTRY_POINT,
            reward_threshold=inner.reward_threshold,
            nondeterministic=inner.nondeterministic,
            max_episode_steps=inner.max_episode_steps,
            kwargs={"env_id": env_id},
        )
        if registry.get(spec.id, spec) != spec:
            raise ValueError(f"{spec.id} is already registered with another spec: {registry[spec.id]}")
        registry[spec.id] = spec
        registered.append(spec.id)
    return registered


def _register_shipped_env_ids(_: ModuleType | None = None) -> None:
    """:func:`register_env_ids` of the shipped configs; a failure is logged, never raised into ``import gymnasium``."""
    try:
        register_env_ids()
    except Exception:
        _logger.warning("spikegym could not register its env ids in Gymnasium's registry", exc_info=True)


class _RegisterWhenGymnasiumLoads:
    """An import hook: once ``import gymnasium`` has run, registers the shipped env ids (then steps aside)."""

    registers_spikegym_env_ids = True

    def __init__(self) -> None:
        self.searching = False

    def find_spec(self, fullname: str, path: object, target: object = None) -> ModuleSpec | None:
        if fullname != "gymnasium" or self.searching:
            return None
        self.searching = True
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self.searching = False
        if spec is not None and spec.loader is not None:
            load = spec.loader.exec_module

            def load_then_register(module: ModuleType) -> None:
                load(module)
                if self in sys.meta_path:
                    sys.meta_path.remove(self)
                _register_shipped_env_ids()

            spec.loader.exec_module = load_then_register  # type: ignore[method-assign]
        return spec


if "gymnasium" in sys.modules:
    _register_shipped_env_ids()
elif not any(getattr(finder, "registers_spikegym_env_ids", False) for finder in sys.meta_path):
    sys.meta_path.insert(0, _RegisterWhenGymnasiumLoads())


def __getattr__(name: str) -> Any:
    """The Gymnasium-side names of :data:`__all__`, imported from :mod:`spikegym.envs` when first used."""
    if name in __all__:
        value = getattr(importlib.import_module("spikegym.envs"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'spikegym' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
