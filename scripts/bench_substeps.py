"""Sub-steps per env step as a choice: the stateful spiking policy on a temporal code at T = 1, 2, 4, 8.

A stateless policy must read each observation's value from its own ``T``-step
window; a stateful one (``recurrent_ppo``) carries its membranes across env
steps, so ``T`` can be as low as 1. For each ``T`` this tunes the encoder for
that ``T`` (``spikegym tune ENV --encoder NAME --policy stateful --substeps T``),
trains the recurrent PPO recipe on it for each seed, replays 20 deterministic
episodes, and appends a row to ``results/substeps.csv``:

    env, encoder, substeps, seed, steps, final_return, final_return_std, input_spikes_per_decision,
    synaptic_ops, energy_nj, wall_s, steps_per_s, run_dir

Finished ``(env, encoder, substeps, seed)`` rows are not run again, so a long
run resumes. At the end it draws ``results/substeps-<env>-<encoder>.png`` (return, input
spikes and energy per decision against ``T``, mean ± std over seeds) and prints
a table. Run from the repository root::

    python scripts/bench_substeps.py                          # CartPole-v1, step_forward, T 1 2 4 8, 3 seeds
    python scripts/bench_substeps.py --encoder lif --seeds 1
    python scripts/bench_substeps.py --quick                  # seconds: T 1 and 2, tiny budgets
"""

from __future__ import annotations

import argparse
import csv
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from bench_agents import append

from spikegym.cli.main import main as spikegym
from spikegym.encoders import names
from spikegym.rl.replay import replay
from spikegym.rl.runs import load_run
from spikegym.rl.training import train

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ALGO = "recurrent_ppo"
COLUMNS = [
    "env", "encoder", "substeps", "seed", "steps", "final_return", "final_return_std", "input_spikes_per_decision",
    "synaptic_ops", "energy_nj", "wall_s", "steps_per_s", "run_dir",
]  # fmt: skip
QUICK = {"substeps": [1, 2], "seeds": 1, "steps": 256, "episodes": 2, "trials": 4}


def tuned_config(folder: Path, env_id: str, encoder: str, substeps: int, trials: int) -> Path:
    """The encoder's config for ``substeps`` sub-steps, tuned once (for a stateful reader) and kept in ``folder``."""
    path = folder / "configs" / f"{env_id}.{encoder}.T{substeps}.yaml"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        argv = ["tune", env_id, "--encoder", encoder, "--policy", "stateful", "--substeps", str(substeps),
                "--trials", str(trials), "--no-progress", "--output", str(path)]  # fmt: skip
        if spikegym(argv) != 0:
            raise RuntimeError(f"spikegym {' '.join(argv)} failed")
    return path


def finished(csv_path: Path) -> set[tuple[str, str, int, int]]:
    if not csv_path.is_file():
        return set()
    with csv_path.open(newline="") as handle:
        return {(r["env"], r["encoder"], int(r["substeps"]), int(r["seed"])) for r in csv.DictReader(handle)}


def run_one(env_id: str, encoder: str, substeps: int, seed: int, options: argparse.Namespace) -> dict:
    config = tuned_config(Path(options.folder), env_id, encoder, substeps, options.trials)
    start = time.perf_counter()
    run_dir, model = train(env_id, ALGO, encoder=str(config), seed=seed, timesteps=options.steps,
                           runs_dir=Path(options.folder) / "runs", progress=False)  # fmt: skip
    wall = time.perf_counter() - start
    report = replay(load_run(run_dir), episodes=options.episodes, deterministic=True, seed=seed + 1000)
    return {
        "env": env_id, "encoder": encoder, "substeps": substeps, "seed": seed, "steps": model.num_timesteps,
        "final_return": round(report.mean_return, 3), "final_return_std": round(report.std_return, 3),
        "input_spikes_per_decision": round(report.input_spikes, 3),
        "synaptic_ops": round(report.spiking.synaptic_ops, 1), "energy_nj": round(report.spiking.energy_pj / 1000, 4),
        "wall_s": round(wall, 1), "steps_per_s": round(model.num_timesteps / wall, 1), "run_dir": str(run_dir),
    }  # fmt: skip


def summary(rows: Sequence[dict]) -> dict[int, dict[str, tuple[float, float, int]]]:
    """Mean, std and count over seeds of each measure, per ``T``."""
    by_steps: dict[int, list[dict]] = {}
    for row in rows:
        by_steps.setdefault(int(row["substeps"]), []).append(row)
    measures = ("final_return", "input_spikes_per_decision", "energy_nj", "steps_per_s")
    return {
        steps: {m: (float(np.mean([float(r[m]) for r in group])), float(np.std([float(r[m]) for r in group])),
                    len(group)) for m in measures}
        for steps, group in sorted(by_steps.items())
    }  # fmt: skip


def figure(rows: Sequence[dict], path: Path, title: str) -> Figure:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = summary(rows)
    steps = list(table)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    labels = {"final_return": "return (20 episodes)", "input_spikes_per_decision": "input spikes per decision",
              "energy_nj": "energy per decision (nJ)"}  # fmt: skip
    for axis, (measure, label) in zip(axes, labels.items(), strict=True):
        means = [table[t][measure][0] for t in steps]
        stds = [table[t][measure][1] for t in steps]
        axis.errorbar(steps, means, yerr=stds, marker="o", capsize=3)
        axis.set_xscale("log", base=2)
        axis.set_xticks(steps, [str(t) for t in steps])
        axis.set_xlabel("sub-steps T per env step")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--encoder", default="step_forward", choices=names())
    parser.add_argument("--substeps", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only-seed", type=int, help="run this seed only (run seeds side by side)")
    parser.add_argument("--steps", type=int, help="training budget (default: the recipe's)")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--trials", type=int, default=100, help="tuning trials per feature (default 100)")
    parser.add_argument("--results", default="results", help="output folder (default results/)")
    parser.add_argument("--quick", action="store_true", help="CI smoke run: T 1 and 2, 1 seed, tiny budgets")
    options = parser.parse_args()
    for flag in ("seeds", "steps", "episodes", "trials"):
        value = getattr(options, flag)
        if value is not None and value < 1:
            parser.error(f"--{flag} must be >= 1, got {value}")
    if any(t < 1 for t in options.substeps):
        parser.error(f"--substeps must be >= 1, got {options.substeps}")
    if options.quick:
        for key, value in QUICK.items():
            setattr(options, key, value)
    prefix = "substeps-quick" if options.quick else "substeps"
    options.folder = str(Path(options.results) / prefix)
    csv_path = Path(options.results) / f"{prefix}.csv"
    done = finished(csv_path)
    seeds = [options.only_seed] if options.only_seed is not None else range(options.seeds)
    for seed in seeds:
        for substeps in options.substeps:
            if (options.env, options.encoder, substeps, seed) in done:
                continue
            row = run_one(options.env, options.encoder, substeps, seed, options)
            append(csv_path, row, COLUMNS)
            print(f"T={substeps} seed {seed}: return {row['final_return']}, {row['input_spikes_per_decision']} "
                  f"input spikes, {row['energy_nj']} nJ per decision", flush=True)  # fmt: skip
    with csv_path.open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["env"] == options.env and r["encoder"] == options.encoder]
    title = f"{options.env}, {options.encoder}, stateful spiking policy ({ALGO})"
    figure(rows, Path(options.results) / f"{prefix}-{options.env}-{options.encoder}.png", title)
    print(
        "| T | return | input spikes / decision | energy nJ / decision | steps/s | seeds |\n|---|---|---|---|---|---|"
    )
    for steps, measures in summary(rows).items():
        cells = [f"{measures[m][0]:.1f} ± {measures[m][1]:.1f}" for m in ("final_return", "input_spikes_per_decision")]
        energy, speed = measures["energy_nj"], measures["steps_per_s"]
        print(f"| {steps} | {' | '.join(cells)} | {energy[0]:.3f} ± {energy[1]:.3f} | {speed[0]:.0f} | "
              f"{measures['final_return'][2]} |")  # fmt: skip


if __name__ == "__main__":
    main()
