"""bench_agents' summary table and --recount on hand-written results files: nothing is trained or replayed."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
OLD_COLUMNS = [
    "env", "algo", "policy", "seed", "steps", "final_return", "final_return_std", "wall_s", "steps_per_s",
    "input_spike_rate", "synaptic_ops", "macs", "energy_nj", "run_dir",
]  # fmt: skip
"""The header of results files written before NeuroBench's counts and the presets' energies."""


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_agents", ROOT / "scripts" / "bench_agents.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def row(env: str, policy: str, seed: int, final_return: float, energy_nj: float, **more: object) -> dict:
    algo = {"CartPole-v1": "ppo", "Acrobot-v1": "ppo", "MountainCar-v0": "dqn", "LunarLander-v3": "ppo"}[env]
    values = {"env": env, "algo": algo, "policy": policy, "seed": seed, "steps": 1000, "final_return": final_return,
              "final_return_std": 1.0, "wall_s": 1.0, "steps_per_s": 1.0, "input_spike_rate": 0.1,
              "synaptic_ops": 100.0, "macs": 32, "energy_nj": energy_nj,
              "run_dir": f"gone/{env}-{policy}-{seed}"}  # fmt: skip
    return values | more


def write(path: Path, rows: list[dict], columns: list[str]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def counted(acs: float, macs: float, fp32: float, loihi: float) -> dict:
    return {"effective_acs": acs, "effective_macs": macs, "neuron_updates": 640.0, "energy_nj_45nm_fp32": fp32,
            "energy_nj_loihi": loihi}  # fmt: skip


def test_old_rows_show_na_rerun_beside_the_zoo_numbers(bench: ModuleType, tmp_path: Path, capsys) -> None:
    rows = [
        row("Acrobot-v1", p, s, r, e) for p, r, e in (("spiking", -90.0, 2.0), ("mlp", -84.0, 21.5)) for s in (0, 1)
    ]
    rows += [row("LunarLander-v3", p, 0, 240.0, e) for p, e in (("spiking", 2.0), ("mlp", 22.0))]
    table_path = tmp_path / "agents_table.md"
    table = bench.summary(write(tmp_path / "agents.csv", rows, OLD_COLUMNS), table_path)
    assert [entry["env"] for entry in table] == ["Acrobot-v1", "LunarLander-v3"]
    acrobot = table[0]
    for key in ("spiking_acs", "spiking_macs", "spiking_nj_45nm_fp32", "mlp_nj_45nm_fp32", "spiking_nj_loihi",
                "mlp_nj_loihi"):  # fmt: skip
        assert acrobot[key] == "n/a (rerun)", key
    assert acrobot["zoo"] == "-73.5 ± 18.2 (1M)"
    assert table[1]["zoo"] == "242.1 ± 31.8 (LunarLander-v2, 1M)", "the zoo has LunarLander-v2 only, and says so"
    assert acrobot["mlp"] == "-84.0 ± 0.0 (2 seeds)" and acrobot["spiking"] == "-90.0 ± 0.0 (2 seeds)"
    assert acrobot["ratio"] == pytest.approx(2.0 / 21.5), "the default model's ratio still reads from old rows"
    text = table_path.read_text()
    assert "| zoo MLP return (zoo budget) |" in text and "| -73.5 ± 18.2 (1M) |" in text
    assert "--recount" in text, "the table says how to fill the n/a cells"
    assert "benchmark.md" in text, "the table names the zoo's file"
    assert text.strip() in capsys.readouterr().out


def test_counted_rows_fill_the_cells_and_partly_counted_seeds_say_how_many(bench: ModuleType, tmp_path: Path) -> None:
    rows = [
        row("CartPole-v1", "spiking", 0, 490.0, 4.0, **counted(3000.0, 32.0, 6.6, 130.0)),
        row("CartPole-v1", "spiking", 1, 500.0, 4.2),
        row("CartPole-v1", "mlp", 0, 500.0, 20.6, **counted(0.0, 4480.0, 20.608, 20.608)),
        row("CartPole-v1", "mlp", 1, 500.0, 20.6, **counted(0.0, 4480.0, 20.608, 20.608)),
    ]
    (cartpole,) = bench.summary(write(tmp_path / "agents.csv", rows, bench.COLUMNS))
    assert cartpole["spiking_acs"] == "3000 (1 of 2 seeds)" and cartpole["spiking_macs"] == "32 (1 of 2 seeds)"
    assert cartpole["spiking_nj_loihi"] == "130.00 (1 of 2 seeds)"
    assert cartpole["mlp_nj_45nm_fp32"] == "20.61" and cartpole["mlp_nj_loihi"] == "20.61"
    assert cartpole["zoo"] == "500.0 ± 0.0 (100k)" and cartpole["within_10%"]


@pytest.mark.parametrize(
    ("spiking", "mlp", "expected"),
    [(-109.0, -100.0, True), (-111.0, -100.0, False), (-95.0, -100.0, True), (451.0, 500.0, True),
     (449.0, 500.0, False)],
)  # fmt: skip
def test_within_10_percent_of_the_mlp_holds_for_negative_returns(
    bench: ModuleType, tmp_path: Path, spiking: float, mlp: float, expected: bool
) -> None:
    rows = [row("MountainCar-v0", "spiking", 0, spiking, 10.0), row("MountainCar-v0", "mlp", 0, mlp, 300.0)]
    (entry,) = bench.summary(write(tmp_path / "agents.csv", rows, OLD_COLUMNS))
    assert entry["within_10%"] is expected


@given(st.floats(-1e6, 1e6), st.floats(0.0, 1e6))
def test_within_holds_at_the_mlp_and_fails_a_fifth_below_it(bench: ModuleType, mlp: float, margin: float) -> None:
    assert bench.within(mlp, mlp) and bench.within(mlp + margin, mlp)
    assert not bench.within(mlp - 0.2 * abs(mlp) - 1.0 - margin, mlp)


def test_the_zoo_numbers_use_the_benchmarks_algorithms_and_agree_with_zoo_baselines_csv(bench: ModuleType) -> None:
    assert set(bench.ZOO_MLP) == set(bench.ALGORITHM)
    assert all(bench.ZOO_MLP[env].algo == algo for env, algo in bench.ALGORITHM.items())
    with (ROOT / "results" / "zoo_baselines.csv").open(newline="") as handle:
        quoted = {(r["env"], r["algo"]): (float(r["zoo_mean"]), float(r["zoo_std"])) for r in csv.DictReader(handle)}
    assert quoted, "results/zoo_baselines.csv quotes the zoo"
    for (env, algo), (mean, std) in quoted.items():
        zoo = bench.ZOO_MLP[env]
        assert (zoo.algo, zoo.mean, zoo.std) == (algo, mean, std), env


def test_recount_refuses_when_the_backup_exists_and_touches_nothing(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    csv_path = write(tmp_path / "agents.csv", [row("CartPole-v1", "mlp", 0, 500.0, 20.6, run_dir=run_dir)],
                     OLD_COLUMNS)  # fmt: skip
    backup = tmp_path / "agents.csv.bak"
    backup.write_text("what a user kept\n")
    before = csv_path.read_bytes()

    def no_replay(*_: object) -> None:
        raise AssertionError("recount replayed before refusing")

    monkeypatch.setattr(bench, "replay_counts", no_replay)
    with pytest.raises(FileExistsError, match=r"agents\.csv\.bak exists"):
        bench.recount(csv_path)
    assert csv_path.read_bytes() == before and backup.read_text() == "what a user kept\n"


def test_recount_fills_rows_whose_run_is_here_and_keeps_the_old_file(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    rows = [row("CartPole-v1", "mlp", 0, 500.0, 20.6, run_dir=run_dir), row("CartPole-v1", "spiking", 0, 490.0, 4.0)]
    csv_path = write(tmp_path / "agents.csv", rows, OLD_COLUMNS)
    before = csv_path.read_bytes()
    replayed = []

    def fake(entry: dict, episodes: int) -> tuple[dict, float]:
        replayed.append((entry["run_dir"], episodes))
        return counted(0.0, 4480.0, 20.608, 20.608), float(entry["final_return"])

    monkeypatch.setattr(bench, "replay_counts", fake)
    tally = bench.recount(csv_path, episodes=3)
    assert replayed == [(str(run_dir), 3)], "only the row whose run dir is here is replayed"
    assert tally == {"recounted": 1, "already counted": 0, "run dir missing": 1, "failed": 0}
    assert "1 left (run dir not on this machine)" in capsys.readouterr().out
    assert (tmp_path / "agents.csv.bak").read_bytes() == before
    with csv_path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        mlp, spiking = list(reader)
    assert reader.fieldnames == bench.COLUMNS
    assert (mlp["effective_macs"], mlp["energy_nj_loihi"], mlp["final_return"]) == ("4480.0", "20.608", "500.0")
    assert all(spiking[column] == "" for column in bench.COUNT_COLUMNS) and spiking["energy_nj"] == "4.0"
    assert not list(tmp_path.glob(".agents.csv.*.tmp")), "no temporary file is left behind"


def test_appending_to_an_old_file_rewrites_its_header_and_keeps_its_rows(bench: ModuleType, tmp_path: Path) -> None:
    csv_path = write(tmp_path / "agents.csv", [row("Acrobot-v1", "mlp", 0, -84.0, 21.5)], OLD_COLUMNS)
    bench.append(csv_path, row("Acrobot-v1", "mlp", 1, -80.0, 21.5, **counted(0.0, 4672.0, 21.49, 21.49)))
    with csv_path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        old, new = list(reader)
    assert reader.fieldnames == bench.COLUMNS
    assert old["final_return"] == "-84.0" and old["effective_macs"] == "" and old["run_dir"] == "gone/Acrobot-v1-mlp-0"
    assert new["effective_macs"] == "4672.0" and new["seed"] == "1"
    with pytest.raises(ValueError, match=r"columns \['mine'\]"):
        bench.append(write(tmp_path / "other.csv", [], [*OLD_COLUMNS, "mine"]), {})


@pytest.mark.parametrize("policy", ["spiking", "mlp"])
def test_the_mlp_trains_at_the_spiking_agents_budget_not_the_zoos(
    bench: ModuleType, policy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Acrobot-v1's recipe gives the MLP the zoo's 1M steps (``ann_n_timesteps``); the benchmark compares both
    policies at the spiking agent's budget."""
    recipe = bench.load_recipe("ppo", "Acrobot-v1")
    assert recipe.ann_n_timesteps not in (None, recipe.n_timesteps)
    asked = {}

    def stop(env_id: str, algo: str, **kwargs: object) -> None:
        asked.update(kwargs)
        raise StopIteration

    monkeypatch.setattr(bench, "train", stop)
    with pytest.raises(StopIteration):
        bench.run_one("Acrobot-v1", policy, 0, None, Path("unused"), 1)
    assert asked["timesteps"] == recipe.n_timesteps and asked["ann"] == (policy == "mlp")
