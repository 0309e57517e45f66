"""bench_grid reruns a cell whose row trained with a recipe that has changed since, and only such cells."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from spikegym.rl.recipes import load_recipe

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.syspath_prepend(str(SCRIPTS))  # as when run as a script: it imports bench_agents beside it
    spec = importlib.util.spec_from_file_location("bench_grid", SCRIPTS / "bench_grid.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_dir_with(tmp_path: Path, name: str, recipe: dict) -> str:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    return str(folder)


def test_a_row_is_stale_exactly_when_its_spiking_recipe_changed(bench: object, tmp_path: Path) -> None:
    now = load_recipe("recurrent_ppo", "Acrobot-v1").to_dict()
    row = {"env": "Acrobot-v1", "algo": "recurrent_ppo"}
    budget_and_baseline = {**now, "n_timesteps": 1, "ann_normalize": not now.get("ann_normalize")}
    assert not bench.stale({**row, "run_dir": run_dir_with(tmp_path, "same", budget_and_baseline)})
    older = {key: value for key, value in now.items() if key != "normalize_reward"}
    assert now.get("normalize_reward") and bench.stale({**row, "run_dir": run_dir_with(tmp_path, "older", older)})
    assert bench.stale({**row, "run_dir": "elsewhere", "recipe": bench.recipe_digest(older)})
    assert not bench.stale({**row, "run_dir": "elsewhere", "recipe": bench.recipe_digest(now)})
    assert not bench.stale({**row, "run_dir": str(tmp_path / "not-here")}), "an unknown recipe counts as current"
