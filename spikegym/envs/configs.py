"""Per-environment encoder configs: ``envs_configs/<env-id>.yaml`` to a typed, validated object and back.

A config holds what the wrapper needs to encode an env's observations the
way they were tuned: the encoder and its parameters, the sub-steps per
observation, the upsampling, the per-feature bounds, and the provenance
(how and when it was made, with its scores)::

    env_id: CartPole-v1
    encoder: step_forward
    params:
      threshold: [0.05, 0.05, 0.05, 0.05]
    substeps: 8
    upsample: hold
    bounds:
      features: ['x[0]', 'x[1]', 'x[2]', 'x[3]']
      low: [-2.4, -2.0, -0.21, -2.5]
      high: [2.4, 2.0, 0.21, 2.5]
    provenance:
      method: hand-checked
      date: '2026-11-27'
      spikegym_version: 0.1.0

Loading checks every field and reports the file, the field and what was
expected. Configs are looked up by env id in ``$SPIKEGYM_CONFIG_DIR`` (if
set), then ``./envs_configs`` (where ``spikegym tune`` writes), then the
configs shipped with spikegym (package data); a ``.yaml`` path is read as is.
"""

from __future__ import annotations

import datetime
import itertools
import logging
import math
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from spikegym._yaml import read_yaml
from spikegym.data import search_path, shipped
from spikegym.encoders import ALIASES, make, names, parameters

logger = logging.getLogger(__name__)

SHIPPED_DIR = shipped("envs_configs")
"""The configs shipped with spikegym (package data: ``spikegym/data/envs_configs``)."""

FIELDS = ("env_id", "encoder", "params", "substeps", "upsample", "bounds", "provenance")
PROVENANCE_FIELDS = {
    "method": str,
    "command": str,
    "date": str,
    "spikegym_version": str,
    "seed": int,
    "trials": int,
    "objective": str,
    "scores": dict,
    "policy": str,
    "considered": list,
    "left_out": dict,
    "choice": str,
    "notes": str,
}
"""Provenance keys and their types. ``policy`` is the kind of policy the encoder was tuned for (one of
:data:`POLICY_KINDS`), ``considered`` the encoders tuning chose among, ``left_out`` those it left out with the
reason, ``choice`` why the chosen one won."""
POLICY_KINDS: tuple[str, ...] = ("stateless", "stateful")
"""Policies by how they read spike windows: stateless (each observation's window alone) or stateful
(membranes carried across env steps)."""


class ConfigError(ValueError):
    """A config file that cannot be read or holds a field of the wrong type or value."""


@dataclass(frozen=True)
class EncoderConfig:
    """The encoder settings of one env, as stored in ``envs_configs/<env-id>.yaml``.

    :param env_id: the Gymnasium id the config is for.
    :param encoder: a registered encoder name (see :func:`spikegym.encoders.names`).
    :param params: the encoder's parameters (scalars or one value per feature).
    :param substeps: encoder steps per observation, ``T``.
    :param upsample: ``"hold"`` or ``"linear"``.
    :param low: per-feature lower bounds, or ``None`` to take them from the env.
    :param high: per-feature upper bounds (with ``low``).
    :param features: the feature names the bounds belong to (optional, checked against the env).
    :param provenance: how the config was made: method, command, date, version, scores.
    :param source: the file it was loaded from, if any (not saved).

    >>> config = EncoderConfig("CartPole-v1", "sf", {"threshold": 0.05}, low=[-1.0] * 4, high=[1.0] * 4)
    >>> EncoderConfig.from_dict(config.to_dict()) == config
    True
    """

    env_id: str
    encoder: str
    params: dict[str, Any] = field(default_factory=dict)
    substeps: int = 8
    upsample: str = "hold"
    low: list[float] | None = None
    high: list[float] | None = None
    features: list[str] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    source: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if (self.low is None) != (self.high is None):
            raise ConfigError(f"{self.source or 'config'}: give both bounds low and high, or neither")
        for name in ("params", "low", "high", "features", "provenance"):
            object.__setattr__(self, name, _plain(getattr(self, name)))

    @property
    def n_features(self) -> int | None:
        """Features the bounds cover, or ``None`` without bounds."""
        return None if self.low is None else len(self.low)

    def to_dict(self) -> dict[str, Any]:
        """The config as plain YAML-ready data, in the file's field order."""
        data: dict[str, Any] = {
            "env_id": self.env_id,
            "encoder": self.encoder,
            "params": dict(self.params),
            "substeps": self.substeps,
            "upsample": self.upsample,
        }
        if self.low is not None:
            bounds: dict[str, Any] = {} if self.features is None else {"features": list(self.features)}
            data["bounds"] = {**bounds, "low": self.low, "high": self.high}
        if self.provenance:
            data["provenance"] = dict(self.provenance)
        return data

    @classmethod
    def from_dict(cls, data: Any, source: Path | None = None) -> EncoderConfig:
        """Validate plain data (as loaded from YAML) into a config; a :class:`ConfigError` names the bad field."""
        where = str(source) if source is not None else "config"
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a mapping of fields {list(FIELDS)}, got {type(data).__name__}")
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {unknown}; allowed: {list(FIELDS)}")
        for required in ("env_id", "encoder"):
            if required not in data:
                raise ConfigError(f"{where}: missing field '{required}'")
        env_id = _typed(where, "env_id", data["env_id"], str, "a string")
        encoder = _typed(where, "encoder", data["encoder"], str, "a string")
        if encoder not in names() and encoder not in ALIASES:
            raise ConfigError(f"{where}: field 'encoder': expected one of {names()}, got {encoder!r}")
        params = _params(where, encoder, data.get("params") or {})
        substeps = data.get("substeps", 8)
        if isinstance(substeps, bool) or not isinstance(substeps, int) or substeps < 1:
            raise ConfigError(f"{where}: field 'substeps': expected an integer >= 1, got {substeps!r}")
        upsample = data.get("upsample", "hold")
        if upsample not in ("hold", "linear"):
            raise ConfigError(f"{where}: field 'upsample': expected 'hold' or 'linear', got {upsample!r}")
        low, high, features = _bounds(where, data.get("bounds"))
        provenance = _provenance(where, data.get("provenance") or {})
        config = cls(env_id, encoder, params, substeps, upsample, low, high, features, provenance, source)
        config.check_params(where)
        return config

    def check_params(self, where: str = "config") -> None:
        """Build the encoder once, so a bad parameter value fails here, naming the field."""
        n_features = self.n_features or max((len(v) for v in self.params.values() if isinstance(v, list)), default=1)
        bounds = {} if self.low is None else {"low": self.low, "high": self.high}
        try:
            make(self.encoder, n_features, **bounds, **self.params)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{where}: field 'params' of encoder {self.encoder!r}: {error}") from None

    def save(self, path: str | Path | None = None, *, force: bool = False) -> Path:
        """Write the config as YAML to ``path`` (default ``./envs_configs/<env-id>.yaml``).

        An existing file is never overwritten unless ``force``; then it is
        first kept as the next free numbered backup ``<name>.1.bak``,
        ``<name>.2.bak``, ... (logged), so no earlier version is lost. Returns the path written.
        """
        target = Path(path) if path is not None else Path("envs_configs") / config_filename(self.env_id)
        if target.exists():
            if not force:
                raise FileExistsError(f"{target} exists; pass force=True (--force) to replace it (a backup is kept)")
            backup = next_backup(target)
            shutil.copy2(target, backup)
            logger.warning("%s is replaced; the previous file is kept as %s", target, backup)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None, width=100)
        target.write_text(f"# spikegym encoder config for {self.env_id}\n{text}")
        return target


def next_backup(path: Path) -> Path:
    """The first of ``<name>.1.bak``, ``<name>.2.bak``, ... beside ``path`` that does not exist yet.

    >>> next_backup(Path("/nonexistent/CartPole-v1.yaml")).name
    'CartPole-v1.yaml.1.bak'
    """
    return next(
        candidate
        for number in itertools.count(1)
        if not (candidate := path.with_name(f"{path.name}.{number}.bak")).exists()
    )


def config_filename(env_id: str, encoder: str | None = None) -> str:
    """The file name of ``env_id``'s config (a namespace's ``/`` becomes ``__``), or of its config for one
    ``encoder`` (``<env-id>.<encoder>.yaml``, beside the env's own).

    >>> config_filename("ALE/Pong-v5"), config_filename("CartPole-v1", "step_forward")
    ('ALE__Pong-v5.yaml', 'CartPole-v1.step_forward.yaml')
    """
    return env_id.replace("/", "__") + (f".{encoder}" if encoder else "") + ".yaml"


def config_dirs() -> list[Path]:
    """Where configs are looked up by env id, in order: ``$SPIKEGYM_CONFIG_DIR``, ``./envs_configs``, the shipped."""
    return search_path("envs_configs", "SPIKEGYM_CONFIG_DIR")


def find_config(env_id: str, encoder: str | None = None) -> Path | None:
    """The first config file for ``env_id`` (for ``encoder``, if given) in :func:`config_dirs`, or ``None``.

    >>> find_config("CartPole-v1", "step_forward").name
    'CartPole-v1.step_forward.yaml'
    """
    for directory in config_dirs():
        path = directory / config_filename(env_id, encoder)
        if path.is_file():
            return path
    return None


def is_config_path(value: object) -> bool:
    """Whether ``value`` names a config file rather than an encoder or an env id."""
    return isinstance(value, Path) or (isinstance(value, str) and value.endswith((".yaml", ".yml")))


def load_config(source: str | Path) -> EncoderConfig:
    """Load and validate a config from a file path or by env id.

    >>> load_config("CartPole-v1").env_id
    'CartPole-v1'
    """
    if is_config_path(source):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
    else:
        found = find_config(str(source))
        if found is None:
            searched = ", ".join(str(d) for d in config_dirs())
            raise FileNotFoundError(
                f"no config for env {source!r}: looked for {config_filename(str(source))} in {searched}; "
                f"tune one with: spikegym tune {source}"
            )
        path = found
    return EncoderConfig.from_dict(read_yaml(path, ConfigError), source=path)


# ------------------------------------------------------------------ checks
def _plain(value: Any) -> Any:
    """``value`` with numpy/torch scalars and arrays turned into Python numbers and lists, for YAML."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    return value


def _typed(where: str, name: str, value: Any, kind: type, expected: str) -> Any:
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        raise ConfigError(f"{where}: field '{name}': expected {expected}, got {value!r}")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _params(where: str, encoder: str, params: Any) -> dict[str, Any]:
    if not isinstance(params, Mapping):
        raise ConfigError(f"{where}: field 'params': expected a mapping of parameter names to values, got {params!r}")
    allowed = parameters(encoder)
    checked: dict[str, Any] = {}
    for name, value in params.items():
        if name not in allowed:
            raise ConfigError(f"{where}: field 'params.{name}': not a parameter of {encoder!r}; allowed: {allowed}")
        ok = (
            value is None
            or isinstance(value, (bool, str))
            or _is_number(value)
            or (isinstance(value, list) and value and all(_is_number(v) for v in value))
        )
        if not ok:
            raise ConfigError(
                f"{where}: field 'params.{name}': expected a finite number, a list of them (one per feature), "
                f"a boolean or a string, got {value!r}"
            )
        checked[str(name)] = value
    return checked


def _number_list(where: str, name: str, value: Any) -> list[float]:
    if not isinstance(value, list) or not value or not all(_is_number(v) for v in value):
        raise ConfigError(f"{where}: field '{name}': expected a non-empty list of finite numbers, got {value!r}")
    return [float(v) for v in value]


def _bounds(where: str, bounds: Any) -> tuple[list[float] | None, list[float] | None, list[str] | None]:
    if bounds is None:
        return None, None, None
    if not isinstance(bounds, Mapping) or not {"low", "high"} <= set(bounds):
        raise ConfigError(f"{where}: field 'bounds': expected a mapping with 'low' and 'high' lists, got {bounds!r}")
    unknown = sorted(set(bounds) - {"low", "high", "features"})
    if unknown:
        raise ConfigError(f"{where}: field 'bounds': unknown key(s) {unknown}; allowed: ['features', 'low', 'high']")
    low, high = _number_list(where, "bounds.low", bounds["low"]), _number_list(where, "bounds.high", bounds["high"])
    if len(low) != len(high):
        raise ConfigError(f"{where}: field 'bounds': 'low' has {len(low)} values but 'high' has {len(high)}")
    for j, (lo, hi) in enumerate(zip(low, high, strict=True)):
        if not hi > lo:
            raise ConfigError(f"{where}: field 'bounds.high[{j}]': expected a value greater than low={lo}, got {hi}")
    features = bounds.get("features")
    names_ok = isinstance(features, list) and all(isinstance(f, str) for f in features) and len(features) == len(low)
    if features is not None and not names_ok:
        raise ConfigError(
            f"{where}: field 'bounds.features': expected a list of {len(low)} feature names, got {features!r}"
        )
    return low, high, features


_PROVENANCE_VALUES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "scores": ("names mapped to numbers", lambda v: all(isinstance(k, str) and _is_number(x) for k, x in v.items())),
    "policy": (f"one of {list(POLICY_KINDS)}", lambda v: v in POLICY_KINDS),
    "considered": ("encoder names", lambda v: all(isinstance(name, str) for name in v)),
    "left_out": (
        "encoder names mapped to reasons",
        lambda v: all(isinstance(k, str) and isinstance(x, str) for k, x in v.items()),
    ),
}
"""What the values of some provenance keys must be, beyond their type."""


def _provenance(where: str, provenance: Any) -> dict[str, Any]:
    if not isinstance(provenance, Mapping):
        raise ConfigError(f"{where}: field 'provenance': expected a mapping, got {provenance!r}")
    checked: dict[str, Any] = {}
    for key, value in provenance.items():
        if key not in PROVENANCE_FIELDS:
            raise ConfigError(f"{where}: field 'provenance.{key}': unknown; allowed: {sorted(PROVENANCE_FIELDS)}")
        if key == "date" and isinstance(value, (datetime.date, datetime.datetime)):
            value = value.isoformat()
        kind = PROVENANCE_FIELDS[key]
        _typed(where, f"provenance.{key}", value, kind, f"a {kind.__name__}")
        expected = _PROVENANCE_VALUES.get(key)
        if expected is not None and not expected[1](value):
            raise ConfigError(f"{where}: field 'provenance.{key}': expected {expected[0]}, got {value!r}")
        checked[key] = value
    return checked
