"""The result-producing scripts' --quick modes: their outputs have the documented columns and files."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def run(script: str, *arguments: str) -> str:
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / script), *arguments], capture_output=True, text=True, timeout=600, check=True
    )
    return done.stdout


@pytest.mark.slow
def test_bench_agents_quick_writes_the_table_and_the_curves(tmp_path: Path) -> None:
    out = run("bench_agents.py", "--quick", "--results", str(tmp_path))
    with (tmp_path / "agents.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    counts = ["effective_acs", "effective_macs", "neuron_updates", "energy_nj_45nm_fp32", "energy_nj_loihi"]
    expected = [
        "env", "algo", "policy", "seed", "steps", "final_return", "final_return_std", "wall_s", "steps_per_s",
        "input_spike_rate", "synaptic_ops", "macs", "energy_nj", *counts, "run_dir", "recipe",
    ]  # fmt: skip
    assert list(rows[0]) == expected
    assert all(len(row["recipe"]) == 12 for row in rows), "every row records its recipe's digest"
    assert len({row["recipe"] for row in rows if row["env"] == "CartPole-v1"}) == 2, "spiking and MLP keys differ"
    assert {(row["env"], row["policy"]) for row in rows} == {
        (env, policy) for env in ("CartPole-v1", "Pendulum-v1") for policy in ("spiking", "mlp")
    }
    for row in rows:
        assert float(row["energy_nj"]) > 0 and int(row["steps"]) >= 1000
        assert (float(row["synaptic_ops"]) > 0) == (row["policy"] == "spiking")
        assert all(row[column] != "" for column in counts), f"{row['env']} {row['policy']}: NeuroBench columns empty"
        assert (float(row["effective_acs"]) > 0) == (row["policy"] == "spiking")
        assert (float(row["neuron_updates"]) > 0) == (row["policy"] == "spiking")
        assert float(row["effective_macs"]) > 0 and float(row["energy_nj_45nm_fp32"]) > 0
        if row["policy"] == "mlp":  # dense MACs, at 45 nm fp32 under both presets
            assert float(row["effective_macs"]) == float(row["macs"])
            assert row["energy_nj_45nm_fp32"] == row["energy_nj_loihi"]
        else:  # Loihi's synaptic op (23.6 pJ) and neuron update (81 pJ) cost more than 45 nm fp32's
            assert float(row["energy_nj_loihi"]) > float(row["energy_nj_45nm_fp32"])
    assert (tmp_path / "learning_curves.png").stat().st_size > 10_000
    assert "energy ratio" in out
    table = (tmp_path / "agents_table.md").read_text()
    assert "| zoo MLP return (zoo budget) |" in table and "| CartPole-v1 | ppo | " in table
    assert "500.0 ± 0.0 (100k)" in table and "-157.0 ± 88.7 (20k)" in table, "the zoo's CartPole and Pendulum"
    assert "n/a (rerun)" not in table
    again = run("bench_agents.py", "--quick", "--results", str(tmp_path))
    assert again.count("done, skipped") == 4, "finished runs are not run again"
    run("bench_agents.py", "--quick", "--only-seed", "1", "--results", str(tmp_path))
    with (tmp_path / "agents.csv").open(newline="") as handle:
        seeds = [int(row["seed"]) for row in csv.DictReader(handle)]
    assert sorted(seeds) == [0] * 4 + [1] * 4


@pytest.mark.slow
def test_bench_grid_quick_runs_every_cell_once_in_two_workers_and_resumes(tmp_path: Path) -> None:
    out = run("bench_grid.py", "--quick", "--workers", "2", "--results", str(tmp_path))
    with (tmp_path / "grid-quick.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = [
        "env", "encoder", "policy", "algo", "seed", "steps", "final_return", "final_return_std",
        "input_spikes_per_decision", "hidden_spikes_per_decision", "synaptic_ops", "energy_nj", "wall_s",
        "steps_per_s", "run_dir", "recipe",
    ]  # fmt: skip
    assert list(rows[0]) == expected
    assert all(len(row["recipe"]) == 12 for row in rows), "every row records its recipe's digest"
    cells = [(row["env"], row["encoder"], row["policy"], row["seed"]) for row in rows]
    assert len(cells) == len(set(cells))
    assert {(encoder, policy) for _, encoder, policy, _ in cells} >= {
        ("rate", "stateless"),
        ("step_forward", "stateless"),
    }
    assert {policy for _, _, policy, _ in cells} <= {"stateless", "stateful"}
    for row in rows:
        assert float(row["energy_nj"]) > 0 and float(row["input_spikes_per_decision"]) > 0
        assert float(row["hidden_spikes_per_decision"]) >= 0 and int(row["steps"]) >= 512
    configs = tmp_path / "grid-quick" / "configs" / "CartPole-v1"
    assert sorted(path.name for path in configs.glob("*.yaml")) == ["rate.yaml", "step_forward.yaml"]
    assert (tmp_path / "grid-quick.png").stat().st_size > 10_000
    assert "| CartPole-v1 | rate | stateless (ppo) | 1 |" in out
    again = run("bench_grid.py", "--quick", "--workers", "1", "--results", str(tmp_path))
    assert "return" not in again.split("cells,")[1].split("bench_grid-configs")[0], "nothing ran again"
    assert f"bench_grid-cells: {len(rows)}/{len(rows)} done" in again


def test_a_bench_grid_worker_runs_a_cell_whose_config_another_invocation_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers of runs with other env or encoder lists share one storage and take each other's cells: a cell
    finds (or tunes) its config whichever run listed it."""
    import importlib.util

    from spikegym.tuning.grid import Grid

    monkeypatch.syspath_prepend(str(SCRIPTS))  # as when run as a script: it imports bench_agents beside it
    spec = importlib.util.spec_from_file_location("bench_grid", SCRIPTS / "bench_grid.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    options = {"storage": str(tmp_path / "grid.log"), "folder": str(tmp_path / "grid")}
    listed_none = Grid(options["storage"], "bench_grid-configs", [])
    cell = {"env": "CartPole-v1", "encoder": "rate", "trials": 2, "tune_steps": 200}
    path = bench.config_for(cell, options, listed_none)
    assert path == tmp_path / "grid" / "configs" / "CartPole-v1" / "rate.yaml" and "encoder: rate" in path.read_text()


@pytest.mark.slow
def test_bench_substeps_quick_tunes_trains_and_resumes_per_substep_count(tmp_path: Path) -> None:
    out = run("bench_substeps.py", "--quick", "--results", str(tmp_path))
    with (tmp_path / "substeps-quick.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["substeps"], row["seed"]) for row in rows] == [("1", "0"), ("2", "0")]
    assert all(float(row["input_spikes_per_decision"]) > 0 and float(row["energy_nj"]) > 0 for row in rows)
    configs = sorted(path.name for path in (tmp_path / "substeps-quick" / "configs").glob("*.yaml"))
    assert configs == ["CartPole-v1.step_forward.T1.yaml", "CartPole-v1.step_forward.T2.yaml"]
    assert (tmp_path / "substeps-quick-CartPole-v1-step_forward.png").stat().st_size > 10_000 and "| 2 | " in out
    again = run("bench_substeps.py", "--quick", "--results", str(tmp_path))
    assert "seed 0: return" not in again, "finished rows ran again"


@pytest.mark.slow
def test_plot_encoders_quick_draws_every_encoder_and_an_overview(tmp_path: Path) -> None:
    run("plot_encoders.py", "--quick", "--out", str(tmp_path))
    names = {"bsa", "lif", "population", "pwm", "rate", "step_forward", "overview"}
    assert {path.stem for path in tmp_path.glob("*.png")} == names
    assert all(path.stat().st_size > 10_000 for path in tmp_path.glob("*.png"))


def test_bench_encoders_compares_with_minimal_loops_and_snntorch_spikegen(tmp_path: Path) -> None:
    out = run("bench_encoders.py", "--quick", "--csv", str(tmp_path / "encoders.csv"))
    with (tmp_path / "encoders.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["table"] for row in rows} == {"throughput", "streaming", "snntorch"}
    compared = [row for row in rows if row["table"] == "snntorch"]
    assert {row["snntorch"] for row in compared} == {"spikegen.rate", "spikegen.delta", "spikegen.latency (8 steps)"}
    assert all(float(row["encode_M_per_s"]) > 0 and float(row["snntorch_M_per_s"]) > 0 for row in compared)
    throughput = {row["encoder"]: row for row in rows if row["table"] == "throughput"}
    names = {"bsa", "lif", "population", "pwm", "rate", "step_forward"}
    assert set(throughput) == names | {"rate (poisson)", "population (poisson)"}
    for name, row in throughput.items():
        assert float(row["M_per_s_1_thread"]) > 0 and float(row["M_per_s_2_threads"]) > 0
        assert float(row["minimal_loop_M_per_s"]) > 0
        if not name.startswith("population"):  # population's minimal loop uses numpy's exp, not the exp rule
            assert row["minimal_spikes_differ"] == "0", f"the minimal loop of {name} is not the encoder's rule"
    assert all(row["chunked_equals_whole"] == "True" for row in rows if row["table"] == "streaming")
    assert "Issue 14 encoder targets:" in out


def test_bench_wrapper_reports_every_encoder_against_the_raw_step() -> None:
    out = run("bench_wrapper.py", "--steps", "200", "--envs", "4")
    table = [line for line in out.splitlines() if "|" in line and not line.startswith("encoder")]
    assert [line.split("|")[0].strip() for line in table] == [
        "bsa", "lif", "population", "pwm", "rate", "step_forward",
    ]  # fmt: skip
    assert all("<=2.5" in line for line in table)


def test_probe_dqn_inputs_quick_trains_on_every_view_and_skips_finished_rows(tmp_path: Path) -> None:
    out_csv = tmp_path / "dqn_inputs.csv"
    out = run("probe_dqn_inputs.py", "--quick", "--out", str(out_csv))
    with out_csv.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["view"] for row in rows] == ["raw", "scaled", "centred", "raw-position", "spikes"]
    assert all(row["steps"] == "600" and -200.0 <= float(row["final_return"]) <= 0.0 for row in rows)
    assert "MountainCar-v0 spikes seed 0: " in out
    assert run("probe_dqn_inputs.py", "--quick", "--out", str(out_csv)) == "", "finished rows ran again"


def test_probe_dqn_inputs_views_put_the_same_observation_on_their_scales(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(SCRIPTS))
    from probe_dqn_inputs import make_view

    observations = {}
    for view in ("raw", "scaled", "centred", "raw-position"):
        env = make_view("MountainCar-v0", view)
        observations[view] = env.reset(seed=3)[0]
        assert env.observation_space.contains(observations[view]), view
    position, velocity = observations["raw"]
    assert observations["scaled"][0] == pytest.approx((position + 1.2) / 1.8, abs=1e-6)
    assert observations["centred"] == pytest.approx(2 * observations["scaled"] - 1, abs=1e-6)
    assert observations["raw-position"] == pytest.approx([position, velocity / 0.07], abs=1e-6)
