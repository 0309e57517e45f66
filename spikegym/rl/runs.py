"""Run directories: everything needed to load a trained agent exactly as it was trained.

A run directory ``runs/<env>-<algo>-<encoder>-<seed>-<time>/`` holds
``model.zip`` (the SB3 model), ``run.yaml`` (env, algorithm, policy, seed,
package version, command, how training ended and the sha256 of the other
files), ``encoder.yaml`` (the exact encoder config the agent saw; absent for
an ANN run on raw observations), ``recipe.yaml``, for a run whose recipe normalises (an ANN run's
observations, ``ann_normalize``; a spiking run's returns, ``normalize_reward``) the ``VecNormalize``
statistics ``vecnormalize.pkl`` (as rl-baselines3-zoo saves them; a pickle too), ``progress.csv``,
TensorBoard event files, the evaluations (``eval/``) and, with a save
frequency, periodic checkpoints (``checkpoints/``).

:func:`load_run` checks every file: a malformed one, or one changed since the
run was written (its sha256 differs from ``run.yaml``'s), is a
:class:`RunError` naming the file. ``model.zip`` is a pickle (SB3 loads it
with cloudpickle): loading a run from an untrusted source can run its code.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
import re
import zipfile
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from spikegym._version import __version__
from spikegym._yaml import read_yaml
from spikegym.envs.configs import EncoderConfig, load_config
from spikegym.rl.recipes import ALGOS, Recipe, RecipeError

logger = logging.getLogger(__name__)

MODEL_FILE = "model.zip"
RUN_FILE = "run.yaml"
ENCODER_FILE = "encoder.yaml"
RECIPE_FILE = "recipe.yaml"
VECNORMALIZE_FILE = "vecnormalize.pkl"
CHECKPOINT_DIR = "checkpoints"
RUN_FILES = (MODEL_FILE, ENCODER_FILE, RECIPE_FILE, VECNORMALIZE_FILE)
"""The files whose sha256 ``run.yaml`` records."""
POLICIES = ("spiking", "ann")
STATUSES = ("training", "complete", "interrupted")
"""``training``: written when training starts (a run killed outright keeps it); then how it ended."""
MODEL_ENTRIES = ("data", "policy.pth")
"""Entries every SB3 model archive holds."""


class RunError(ValueError):
    """A run directory that is missing a file, holds a malformed or edited one, or does not match what is asked."""


@dataclass(frozen=True)
class RunInfo:
    """What ``run.yaml`` records about a training run.

    :param n_timesteps: the budget in env steps (counted from the start of the first run for a continued one).
    :param status: ``training`` (not finished: killed or still running), ``complete`` or ``interrupted``.
    :param steps: env steps trained when the model was saved (``None`` for runs written before it was recorded).
    :param stop_signal: the signal that interrupted training (``SIGINT``, ``SIGTERM``), if any.
    :param continued_from: the run directory this run's training continued, if any.
    :param checksums: sha256 of ``model.zip``, ``encoder.yaml``, ``recipe.yaml`` and ``vecnormalize.pkl`` as written.
    :param env_kwargs: keyword arguments of ``gym.make`` for the env (``--env-kwargs``); replay makes it so too.
    :param overrides: what the command changed in the recipe (``hyperparams``, ``n_envs``) and, where no
        recipe file had the pair, ``recipe: default``; ``recipe.yaml`` holds the recipe that trained.
    """

    env_id: str
    algo: str
    policy: str
    encoder: str | None
    seed: int
    n_timesteps: int
    spikegym_version: str
    created: str
    command: str
    status: str = "complete"
    steps: int | None = None
    stop_signal: str | None = None
    continued_from: str | None = None
    checksums: dict[str, str] = field(default_factory=dict)
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Run:
    """A loaded run directory (the model is loaded separately, see :func:`spikegym.rl.training.load_model`).

    :param edited: files whose sha256 differs from ``run.yaml``'s (only with ``allow_edited``).
    :param verified: whether ``run.yaml`` recorded checksums to verify the files against.
    """

    path: Path
    info: RunInfo
    config: EncoderConfig | None
    recipe: Recipe
    edited: tuple[str, ...] = ()
    verified: bool = True
    checkpoint: Path | None = None

    @property
    def model_path(self) -> Path:
        """The model file to load: ``model.zip``, or the checkpoint the run was loaded from."""
        return self.checkpoint or self.path / MODEL_FILE

    @property
    def spiking(self) -> bool:
        return self.info.policy == "spiking"

    @property
    def normalization_path(self) -> Path | None:
        """The run's ``VecNormalize`` statistics: ``vecnormalize.pkl``, or those saved with the checkpoint (SB3's
        ``model_vecnormalize_<steps>_steps.pkl``); ``None`` for a run that does not normalise (an ANN run whose
        recipe has no ``ann_normalize``, a spiking run without ``normalize_reward``)."""
        if self.recipe.normalization(ann=not self.spiking) is None:
            return None
        if self.checkpoint is None:
            return self.path / VECNORMALIZE_FILE
        return self.checkpoint.with_name(re.sub(r"_(\d+_steps)\.zip$", r"_vecnormalize_\1.pkl", self.checkpoint.name))

    @property
    def normalizes_observations(self) -> bool:
        """Whether the model acts on observations normalised by the run's statistics (an ANN run with
        ``ann_normalize``; a spiking run's statistics hold its returns only)."""
        normalization = self.recipe.normalization(ann=not self.spiking)
        return normalization is not None and normalization.get("norm_obs", True)

    @property
    def interrupted(self) -> bool:
        return self.info.status == "interrupted"


def new_run_dir(root: str | Path, env_id: str, algo: str, encoder: str, seed: int) -> Path:
    """Create a fresh, empty run directory under ``root``; never reuses an existing one.

    >>> import tempfile
    >>> path = new_run_dir(tempfile.mkdtemp(), "CartPole-v1", "ppo", "population", 0)
    >>> path.name.startswith("CartPole-v1-ppo-population-0-")
    True
    """
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{env_id.replace('/', '__')}-{algo}-{encoder}-{seed}-{stamp}"
    for attempt in range(1000):
        path = base if attempt == 0 else base.with_name(f"{base.name}-{attempt}")
        try:
            path.mkdir(parents=True, exist_ok=False)
            return path
        except FileExistsError:
            continue
    raise RunError(f"could not create a new run directory next to {base}")


def sha256(path: Path) -> str:
    """The sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_run(path: Path, info: RunInfo, config: EncoderConfig | None, recipe: Recipe) -> RunInfo:
    """Write ``encoder.yaml``, ``recipe.yaml`` and ``run.yaml`` (with their checksums) into a new run directory.

    Returns the info as written. :func:`finish_run` records the model when training ends.
    """
    (path / RECIPE_FILE).write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))
    if config is not None:
        config.save(path / ENCODER_FILE)
    return update_run(path, info)


def finish_run(path: Path, info: RunInfo, status: str, steps: int, stop_signal: str | None = None) -> RunInfo:
    """Record in ``run.yaml`` how training ended, the steps trained and the checksum of the saved ``model.zip``."""
    return update_run(path, replace(info, status=status, steps=steps, stop_signal=stop_signal))


def update_run(path: Path, info: RunInfo) -> RunInfo:
    """Rewrite ``run.yaml`` with ``info`` and the sha256 of the run files present, atomically."""
    written = replace(info, checksums={name: sha256(path / name) for name in RUN_FILES if (path / name).is_file()})
    partial = path / f".{RUN_FILE}.partial"
    partial.write_text(yaml.safe_dump(asdict(written), sort_keys=False))
    os.replace(partial, path / RUN_FILE)
    return written


def load_run(path: str | Path, *, allow_edited: bool = False) -> Run:
    """Read and check a run directory: its files, their checksums, its package major version and its algorithm.

    Every problem is a :class:`RunError` naming the file. A file changed since
    the run was written is refused unless ``allow_edited``, which loads it
    with a warning (and lists it in :attr:`Run.edited`). Runs written before
    checksums were recorded load with a warning (:attr:`Run.verified` false).
    ``path`` may also be a checkpoint ``RUN_DIR/checkpoints/model_<steps>_steps.zip``:
    the run with that model (which needs no ``model.zip``: a run killed outright keeps its checkpoints).
    """
    run_dir, checkpoint = _run_and_checkpoint(Path(path))
    if not (run_dir / RUN_FILE).is_file():
        raise RunError(f"{run_dir} is not a spikegym run directory: {RUN_FILE} is missing")
    info = _read_info(run_dir / RUN_FILE)
    model = () if checkpoint is not None else (MODEL_FILE,)
    for required in model + (RECIPE_FILE,) + ((ENCODER_FILE,) if info.policy == "spiking" else ()):
        if not (run_dir / required).is_file():
            raise RunError(f"{run_dir} is incomplete: {required} is missing{_unfinished(run_dir, info, required)}")
    edited = _check_files(run_dir, info, allow_edited, model_required=checkpoint is None)
    _check_model_archive(checkpoint or run_dir / MODEL_FILE)
    recipe = _read_recipe(run_dir / RECIPE_FILE, info)
    config = _read_config(run_dir / ENCODER_FILE, info) if info.policy == "spiking" else None
    run = Run(run_dir, info, config, recipe, edited, verified=bool(info.checksums), checkpoint=checkpoint)
    _check_normalization(run)
    return run


def _check_normalization(run: Run) -> None:
    """A normalising run needs its statistics (and ``run.yaml`` their checksum): an ANN run's model acts with
    them, a spiking run's continued training starts from them."""
    path = run.normalization_path
    if path is None:
        return
    if not path.is_file():
        raise RunError(
            f"{run.path} is incomplete: {path.name} is missing (its recipe normalises {_normalized(run)})"
            f"{_unfinished(run.path, run.info, MODEL_FILE) if run.checkpoint is None else ''}"
        )
    if run.checkpoint is None and run.verified and VECNORMALIZE_FILE not in run.info.checksums:
        raise RunError(f"{run.path / RUN_FILE} is malformed: it records no checksum of {VECNORMALIZE_FILE}")


def _normalized(run: Run) -> str:
    if run.normalizes_observations:
        return "the observations, and the model acts on them normalised with these statistics"
    return "the returns, and continued training starts from these statistics"


def _run_and_checkpoint(path: Path) -> tuple[Path, Path | None]:
    if path.is_dir():
        return path, None
    if path.is_file() and path.suffix == ".zip" and path.parent.name == CHECKPOINT_DIR:
        return path.parent.parent, path
    if path.is_file():
        raise RunError(f"{path} is neither a run directory nor a checkpoint in a run's {CHECKPOINT_DIR}/")
    raise RunError(f"{path} is not a directory")


def checkpoints(run_dir: Path) -> list[Path]:
    """A run's checkpoints, fewest steps first."""

    def steps(path: Path) -> int:
        found = re.search(r"_(\d+)_steps\.zip$", path.name)
        return int(found.group(1)) if found else -1

    return sorted((run_dir / CHECKPOINT_DIR).glob("*.zip"), key=steps)


def _unfinished(run_dir: Path, info: RunInfo, missing: str) -> str:
    if missing != MODEL_FILE or info.status != "training":
        return ""
    saved = checkpoints(run_dir)
    hint = f"; its latest checkpoint {saved[-1]} can be replayed or continued" if saved else ""
    return f" (run.yaml says training never finished: the process was killed or is still running{hint})"


def _read_info(path: Path) -> RunInfo:
    data = _read_yaml(path)
    known = {f.name: f for f in fields(RunInfo)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise RunError(f"{path} is malformed: unknown key(s) {unknown}; allowed: {list(known)}")
    required = [name for name, f in known.items() if f.default is MISSING and f.default_factory is MISSING]
    missing = [name for name in required if name not in data]
    if missing:
        raise RunError(f"{path} is malformed: missing key(s) {missing}")
    for name, value in data.items():
        problem = _INFO_CHECKS[name](value)
        if problem:
            raise RunError(f"{path} is malformed: '{name}' must be {problem}, got {value!r}")
    info = RunInfo(**data)
    if (info.policy == "ann") != (info.encoder is None):
        raise RunError(f"{path} is malformed: an 'ann' run has no encoder and a spiking run has one, got {data!r}")
    if info.spikegym_version.split(".")[0] != __version__.split(".")[0]:
        raise RunError(
            f"{path.parent} was trained with spikegym {info.spikegym_version}; this is {__version__}, "
            "a different major version whose models and encoders may differ"
        )
    return info


def _read_yaml(path: Path) -> dict[str, Any]:
    data = read_yaml(path, RunError)
    if not isinstance(data, Mapping):
        raise RunError(f"{path} is malformed: expected a mapping of keys to values, got {type(data).__name__}")
    return dict(data)


def _is_int(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _choice(choices: tuple[str, ...]) -> Any:
    return lambda value: None if value in choices else f"one of {list(choices)}"


def _text(optional: bool) -> Any:
    allowed = (str, type(None)) if optional else str
    return lambda value: None if isinstance(value, allowed) else "a string" + (" or null" if optional else "")


def _checksums(value: Any) -> str | None:
    valid = isinstance(value, Mapping) and all(
        name in RUN_FILES and isinstance(digest, str) and len(digest) == 64 for name, digest in value.items()
    )
    return None if valid else f"a mapping of {list(RUN_FILES)} to sha256 hex digests"


_INFO_CHECKS: dict[str, Any] = {
    "env_id": _text(False),
    "algo": _choice(ALGOS),
    "policy": _choice(POLICIES),
    "encoder": _text(True),
    "seed": lambda value: None if _is_int(value, 0) else "an integer >= 0",
    "n_timesteps": lambda value: None if _is_int(value, 1) else "an integer >= 1",
    "spikegym_version": _text(False),
    "created": _text(False),
    "command": _text(False),
    "status": _choice(STATUSES),
    "steps": lambda value: None if value is None or _is_int(value, 0) else "an integer >= 0 or null",
    "stop_signal": _text(True),
    "env_kwargs": lambda value: None if isinstance(value, Mapping) else "a mapping",
    "overrides": lambda value: None if isinstance(value, Mapping) else "a mapping",
    "continued_from": _text(True),
    "checksums": _checksums,
}
"""Per ``run.yaml`` key: a check returning what was expected, or ``None`` when the value is fine."""


def _check_files(run_dir: Path, info: RunInfo, allow_edited: bool, model_required: bool) -> tuple[str, ...]:
    if not info.checksums:
        logger.warning(
            "%s was written before spikegym recorded checksums of its files: they cannot be verified "
            "(an edited encoder.yaml or recipe.yaml would load silently)",
            run_dir,
        )
        return ()
    edited = []
    for name, recorded in info.checksums.items():
        target = run_dir / name
        if name == MODEL_FILE and not model_required:
            continue
        if not target.is_file():
            raise RunError(f"{run_dir} is incomplete: {name} is missing (run.yaml records its checksum)")
        if sha256(target) != recorded:
            edited.append(name)
    model = (MODEL_FILE,) if model_required else ()
    for name in model + (RECIPE_FILE,) + ((ENCODER_FILE,) if info.policy == "spiking" else ()):
        if name not in info.checksums:
            raise RunError(f"{run_dir / RUN_FILE} is malformed: it records no checksum of {name}")
    if edited and not allow_edited:
        raise RunError(
            f"{', '.join(str(run_dir / name) for name in edited)} changed since the run was written (its sha256 "
            f"differs from the one in {RUN_FILE}): the agent would not run as trained. "
            "Load it anyway with --allow-edited (allow_edited=True)"
        )
    for name in edited:
        logger.warning("%s changed since the run was written; loading it anyway (allow_edited)", run_dir / name)
    return tuple(edited)


def _check_model_archive(path: Path) -> None:
    """A cheap check that ``model.zip`` is an intact SB3 archive (SB3 itself fails with raw tracebacks)."""
    try:
        with zipfile.ZipFile(path) as archive:
            broken = archive.testzip()
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise RunError(f"{path} is not a readable model archive (a truncated or non-zip file?): {error}") from None
    if broken is not None:
        raise RunError(f"{path} is corrupt: its entry {broken!r} fails its CRC check")
    missing = [name for name in MODEL_ENTRIES if name not in names]
    if missing:
        raise RunError(f"{path} is not a stable-baselines3 model: it lacks {missing}")


def _read_recipe(path: Path, info: RunInfo) -> Recipe:
    data = _read_yaml(path)
    for key in ("algo", "env_id"):
        if data.get(key) != getattr(info, key):
            expected = getattr(info, key)
            raise RunError(f"{path} is malformed: '{key}' must be {expected!r} as in run.yaml, got {data.get(key)!r}")
    entry = {k: v for k, v in data.items() if k not in ("algo", "env_id")}
    try:
        return Recipe.from_dict(info.algo, info.env_id, entry, str(path))
    except RecipeError as error:
        raise RunError(f"{path} is malformed: {error}") from None


def _read_config(path: Path, info: RunInfo) -> EncoderConfig:
    try:
        config = load_config(path)
    except (ValueError, TypeError) as error:
        raise RunError(f"{path} is malformed: {error}") from None
    if config.env_id != info.env_id:
        raise RunError(f"{path} is malformed: its env_id {config.env_id!r} is not the run's {info.env_id!r}")
    return config
