"""Run directories: everything needed to load a trained agent exactly as it was trained.

A run directory ``runs/<env>-<algo>-<encoder>-<seed>-<time>/`` holds
``model.zip`` (the SB3 model), ``run.yaml`` (env, algorithm, policy, seed,
package version, command), ``encoder.yaml`` (the exact encoder config the
agent saw; absent for an ANN run on raw observations), ``recipe.yaml``,
``progress.csv``, TensorBoard event files and the evaluations (``eval/``).
"""

from __future__ import annotations

import datetime
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from spikegym._version import __version__
from spikegym.envs.configs import EncoderConfig, load_config
from spikegym.rl.recipes import ALGOS, Recipe

MODEL_FILE = "model.zip"
RUN_FILE = "run.yaml"
ENCODER_FILE = "encoder.yaml"
RECIPE_FILE = "recipe.yaml"


class RunError(ValueError):
    """A run directory that is missing a file or does not match what is asked of it."""


@dataclass(frozen=True)
class RunInfo:
    """What ``run.yaml`` records about a training run."""

    env_id: str
    algo: str
    policy: str
    encoder: str | None
    seed: int
    n_timesteps: int
    spikegym_version: str
    created: str
    command: str


@dataclass(frozen=True)
class Run:
    """A loaded run directory (the model is loaded separately, see :func:`spikegym.rl.training.load_model`)."""

    path: Path
    info: RunInfo
    config: EncoderConfig | None
    recipe: Recipe

    @property
    def spiking(self) -> bool:
        return self.info.policy == "spiking"


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


def write_run(path: Path, info: RunInfo, config: EncoderConfig | None, recipe: Recipe) -> None:
    """Write ``run.yaml``, ``encoder.yaml`` and ``recipe.yaml`` into a new run directory."""
    (path / RUN_FILE).write_text(yaml.safe_dump(asdict(info), sort_keys=False))
    (path / RECIPE_FILE).write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))
    if config is not None:
        config.save(path / ENCODER_FILE)


def load_run(path: str | Path) -> Run:
    """Read and check a run directory: its files, its package major version and its algorithm."""
    run_dir = Path(path)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir} is not a directory")
    for required in (RUN_FILE, MODEL_FILE, RECIPE_FILE):
        if not (run_dir / required).is_file():
            raise RunError(f"{run_dir} is not a spikegym run directory: {required} is missing")
    data: Any = yaml.safe_load((run_dir / RUN_FILE).read_text())
    try:
        info = RunInfo(**data)
    except TypeError as error:
        raise RunError(f"{run_dir / RUN_FILE} is malformed: {error}") from None
    if info.spikegym_version.split(".")[0] != __version__.split(".")[0]:
        raise RunError(
            f"{run_dir} was trained with spikegym {info.spikegym_version}; this is {__version__}, "
            "a different major version whose models and encoders may differ"
        )
    if info.algo not in ALGOS:
        raise RunError(f"{run_dir / RUN_FILE}: unknown algo {info.algo!r}")
    recipe_data = yaml.safe_load((run_dir / RECIPE_FILE).read_text())
    entry = {k: v for k, v in recipe_data.items() if k not in ("algo", "env_id")}
    recipe = Recipe.from_dict(info.algo, info.env_id, entry, str(run_dir / RECIPE_FILE))
    config = load_config(run_dir / ENCODER_FILE) if info.policy == "spiking" else None
    return Run(run_dir, info, config, recipe)
