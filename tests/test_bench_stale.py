"""The benchmarks rerun a row trained with a recipe that has changed since, and only such rows: bench_grid's cells
(spiking agents) and bench_agents' spiking and MLP rows, each judged by the recipe keys its agent trains with."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from spikegym.rl.recipes import load_recipe

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(SCRIPTS))  # as when run as a script: bench_grid imports bench_agents beside it
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def grid(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_script("bench_grid", monkeypatch)


@pytest.fixture
def agents(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_script("bench_agents", monkeypatch)


def run_dir_with(tmp_path: Path, name: str, recipe: dict) -> str:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    return str(folder)


def test_a_grid_row_is_stale_exactly_when_its_spiking_recipe_changed(
    grid: ModuleType, agents: ModuleType, tmp_path: Path
) -> None:
    now = load_recipe("recurrent_ppo", "Acrobot-v1").to_dict()
    row = {"env": "Acrobot-v1", "algo": "recurrent_ppo"}
    budget_and_baseline = {**now, "n_timesteps": 1, "ann_normalize": not now.get("ann_normalize")}
    assert not grid.stale({**row, "run_dir": run_dir_with(tmp_path, "same", budget_and_baseline)})
    older = {key: value for key, value in now.items() if key != "normalize_reward"}
    assert now.get("normalize_reward") and grid.stale({**row, "run_dir": run_dir_with(tmp_path, "older", older)})
    assert grid.stale({**row, "run_dir": "elsewhere", "recipe": agents.recipe_digest(older)})
    assert not grid.stale({**row, "run_dir": "elsewhere", "recipe": agents.recipe_digest(now)})
    assert not grid.stale({**row, "run_dir": str(tmp_path / "not-here")}), "an unknown recipe counts as current"


def test_an_mlp_row_goes_stale_with_the_baselines_keys_and_a_spiking_row_with_the_spiking_ones(
    agents: ModuleType,
) -> None:
    now = load_recipe("ppo", "Acrobot-v1").to_dict()  # no ann_algo_kwargs or nir_exact changes the shared keys
    baseline_changed = {**now, "ann_normalize": {"norm_obs": False}}
    spiking_changed = {**now, "spiking": {**now["spiking"], "beta": 0.5}}
    shared_changed = {**now, "algo_kwargs": {**now["algo_kwargs"], "n_epochs": 99}}
    for changed, stale_policies in ((baseline_changed, {"mlp"}), (spiking_changed, {"spiking"}),
                                    (shared_changed, {"mlp", "spiking"})):  # fmt: skip
        for policy in ("mlp", "spiking"):
            row = {"env": "Acrobot-v1", "algo": "ppo", "policy": policy, "run_dir": "elsewhere",
                   "recipe": agents.recipe_digest(changed, policy)}  # fmt: skip
            assert agents.stale_row(row) == (policy in stale_policies), (policy, changed)
            assert not agents.stale_row({**row, "recipe": agents.recipe_digest(now, policy)})


@pytest.mark.parametrize("policy", ["mlp", "spiking", "spiking-nir"])
def test_a_run_directory_of_the_recipe_now_is_current_and_one_edit_makes_it_stale(
    agents: ModuleType, tmp_path: Path, policy: str
) -> None:
    """What a run directory records is the recipe its agent trained with: the MLP's has the zoo's rate merged in
    (LunarLander-v3: constant where the spiking agent's decays), the NIR-exact one its layer changes."""
    recorded = agents.trained_recipe("ppo", "LunarLander-v3", policy).to_dict()
    assert recorded != load_recipe("ppo", "LunarLander-v3").to_dict() or policy == "spiking"
    row = {"env": "LunarLander-v3", "algo": "ppo", "policy": policy}
    assert not agents.stale_row({**row, "run_dir": run_dir_with(tmp_path, "now", recorded)})
    edited = {**recorded, "algo_kwargs": {**recorded["algo_kwargs"], "n_epochs": 1}}
    assert agents.stale_row({**row, "run_dir": run_dir_with(tmp_path, "edited", edited)})


def test_stale_agent_rows_run_again_and_leave_the_table_but_stay_in_the_file(
    agents: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = load_recipe("ppo", "Acrobot-v1").to_dict()
    older = {**recipe, "algo_kwargs": {**recipe["algo_kwargs"], "n_epochs": 1}}

    def row(policy: str, seed: int, trained_with: dict, final_return: float) -> dict:
        return {"env": "Acrobot-v1", "algo": "ppo", "policy": policy, "seed": seed, "steps": 100,
                "final_return": final_return, "final_return_std": 0.0, "wall_s": 1.0, "steps_per_s": 100.0,
                "input_spike_rate": 0.1, "synaptic_ops": 10.0, "macs": 5.0, "energy_nj": 1.0,
                "run_dir": f"gone/{policy}-{seed}", "recipe": agents.recipe_digest(trained_with, policy)}  # fmt: skip

    rows = [row("mlp", 0, recipe, 500.0), row("spiking", 0, recipe, 480.0), row("spiking", 1, older, 9.0)]
    csv_path = tmp_path / "agents.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=agents.COLUMNS, restval="")
        writer.writeheader()
        writer.writerows(rows)
    assert agents.finished(csv_path) == {("Acrobot-v1", "mlp", 0), ("Acrobot-v1", "spiking", 0)}
    (entry,) = agents.summary(csv_path)
    assert entry["spiking"] == "480.0 ± 0.0 (1 seed)"
    assert "stale (trained with an older recipe; left out, to run again): Acrobot-v1 spiking seed 1" in (
        capsys.readouterr().out
    )
    assert len(agents.read_rows(csv_path)) == 3
