"""The encoder x env benchmark: every encoder on every env, with the stateless and the stateful policy, 3 seeds.

Each cell of the grid (env, encoder, policy, seed) trains an agent with
``spikegym.rl.training.train`` on that env's tuned config of that encoder,
evaluates it on 20 deterministic episodes with ``spikegym.rl.replay.replay``
and records the row:

    env, encoder, policy, algo, seed, steps, final_return, final_return_std,
    input_spikes_per_decision, hidden_spikes_per_decision, synaptic_ops,
    energy_nj, wall_s, steps_per_s, run_dir, recipe

(spikes, synaptic operations and energy per decision under the energy model
of ``spikegym.rl.energy``). The stateless policy is the env's feed-forward
algorithm (``bench_agents.ALGORITHM``: PPO, PPO, SAC), the stateful one
RecurrentPPO with spiking layers that keep their membranes across env steps.

Two grids run one after the other, both kept as optuna studies in one
storage (``spikegym.tuning.grid``): first the configs, one cell per (env,
encoder): ``spikegym tune ENV --encoder NAME --policy stateful`` writes
``<results>/grid/configs/ENV/NAME.yaml`` (a config already there is used as it
is, so committed configs are not tuned again) and the cell's row holds the
config's text, so a worker on another machine gets the same config from the
storage; then the training cells, each of which takes its config from the
first grid's row (helping to tune any config not done yet). Workers are
processes, by default one per core of this machine; workers started on other
machines with the same ``--storage`` share the grids, no cell runs twice, and
a grid interrupted anywhere resumes where it stopped. After every cell a
worker rewrites ``results/grid.csv`` from the storage. Each row records the
digest of the recipe it trained with (its budget aside); a row whose recipe
has changed since (its digest, or for older rows the ``recipe.yaml`` of its run
directory, differs from the recipe now) is stale: its cell runs again and the
report leaves it out, saying how many. At the end the script
draws ``results/grid.png`` (return against energy per decision, one panel per
env, one marker per encoder, filled stateless and hollow stateful, error bars
over seeds) and prints a table of mean ± std over seeds. Run from the
repository root::

    python scripts/bench_grid.py                                 # the whole grid on this machine's cores
    python scripts/bench_grid.py --envs CartPole-v1 --seeds 1    # a part
    python scripts/bench_grid.py --storage sqlite:///shared/grid.db --workers 8   # on each of several machines
    python scripts/bench_grid.py --report-only                   # CSV, figure and table from the storage
    python scripts/bench_grid.py --quick                         # CI smoke run, under a minute
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from bench_agents import ALGORITHM, stale, trained_digest, write_rows

from spikegym.cli.main import main as spikegym
from spikegym.encoders import names
from spikegym.rl.recipes import RecipeError, load_recipe
from spikegym.rl.replay import replay
from spikegym.rl.runs import load_run
from spikegym.rl.training import train
from spikegym.tuning.grid import Grid, default_workers, run_processes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ENVS = ("CartPole-v1", "Acrobot-v1", "Pendulum-v1")
STATEFUL = {"stateful": "recurrent_ppo"}
"""The algorithm of each stateful policy; a stateless policy uses the env's algorithm in ``ALGORITHM``."""
POLICIES = ("stateless", *STATEFUL)
COLUMNS = [
    "env", "encoder", "policy", "algo", "seed", "steps", "final_return", "final_return_std",
    "input_spikes_per_decision", "hidden_spikes_per_decision", "synaptic_ops", "energy_nj", "wall_s",
    "steps_per_s", "run_dir", "recipe",
]  # fmt: skip
TUNE_TRIALS, TUNE_STEPS = 100, 4000
TUNE_POLICY = "stateful"
"""``spikegym tune --policy``: the stateful policy reads all six encoders, so every encoder gets a config, and
both policies of an (env, encoder) train on the same one; the stateless policy's cells of temporal codes
measure what it makes of them."""
QUICK = {"envs": ["CartPole-v1"], "encoders": ["rate", "step_forward"], "seeds": 1, "steps": 512, "episodes": 2,
         "trials": 4, "tune_steps": 300}  # fmt: skip
MARKERS = dict(zip(names(), ("o", "s", "^", "D", "v", "P"), strict=False))
HEARTBEAT = 30.0
"""Seconds between a running cell's signs of life (a cell silent for three is taken for a dead worker's)."""


def algorithm(env_id: str, policy: str) -> str:
    """The algorithm a policy trains with on an env."""
    return STATEFUL.get(policy, ALGORITHM[env_id])


def available(env_id: str, policy: str) -> bool:
    """Whether the policy's algorithm has a recipe for the env."""
    try:
        load_recipe(algorithm(env_id, policy), env_id)
    except RecipeError:
        return False
    return True


def config_cells(options: Mapping[str, Any]) -> list[dict]:
    return [{"env": env, "encoder": encoder, "trials": options["trials"], "tune_steps": options["tune_steps"]}
            for env in options["envs"] for encoder in options["encoders"]]  # fmt: skip


def train_cells(options: Mapping[str, Any]) -> list[dict]:
    """Seed-major, so the first cells need distinct configs and the workers tune those side by side."""
    return [
        {"env": env, "encoder": encoder, "policy": policy, "seed": seed, "steps": options["steps"],
         "episodes": options["episodes"], "trials": options["trials"], "tune_steps": options["tune_steps"]}
        for seed in range(options["seeds"]) for policy in options["policies"]
        for env in options["envs"] for encoder in options["encoders"]
    ]  # fmt: skip


def grids(options: Mapping[str, Any], enqueue: bool = True) -> tuple[Grid, Grid]:
    """The configs and cells grids of ``options``; ``enqueue=False`` only reads them (a report adds no work)."""
    retry = options.get("retry_failed", False)
    kwargs = {"heartbeat": HEARTBEAT, "enqueue": enqueue}
    configs = Grid(options["storage"], "bench_grid-configs", config_cells(options), **kwargs)
    cells = Grid(
        options["storage"], "bench_grid-cells", train_cells(options), retry_failed=retry, stale=stale, **kwargs
    )
    return configs, cells


def config_path(options: Mapping[str, Any], env_id: str, encoder: str) -> Path:
    return Path(options["folder"]) / "configs" / env_id / f"{encoder}.yaml"


def write_atomically(path: Path, text: str) -> None:
    """Write a file whole (written beside it, then renamed): no reader ever sees it half written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    partial.write_text(text)
    os.replace(partial, path)


def tune_cell(cell: dict, options: Mapping[str, Any]) -> dict:
    """Tune one encoder for one env (unless its config is already here); the row holds the config's text."""
    path = config_path(options, cell["env"], cell["encoder"])
    start = time.perf_counter()
    cached = path.is_file()
    if not cached:
        partial = path.with_name(f".{path.stem}.{uuid.uuid4().hex}.yaml")
        path.parent.mkdir(parents=True, exist_ok=True)
        argv = [
            "tune",
            cell["env"],
            "--encoder",
            cell["encoder"],
            "--policy",
            TUNE_POLICY,
            "--no-progress",
            "--trials",
            str(cell["trials"]),
            "--steps",
            str(cell["tune_steps"]),
            "--output",
            str(partial),
        ]
        try:
            code = spikegym(argv)
        except SystemExit as stop:
            code = stop.code
        if code != 0:
            raise RuntimeError(f"spikegym {' '.join(argv)} exited with {code}")
        os.replace(partial, path)
    wall = time.perf_counter() - start
    print(f"config {cell['env']} {cell['encoder']}: {'cached' if cached else f'tuned in {wall:.0f} s'}", flush=True)
    return {**cell, "config": path.read_text(), "cached": cached, "tune_s": round(wall, 1)}


def config_for(cell: dict, options: Mapping[str, Any], configs: Grid) -> Path:
    """The cell's config file here, written from the configs grid's row; waits for (or helps with) tuning."""
    wanted = {key: cell[key] for key in ("env", "encoder", "trials", "tune_steps")}
    configs = Grid(options["storage"], configs.name, [wanted], heartbeat=HEARTBEAT)  # whichever run listed it
    while True:
        for row in configs.rows():
            if {key: row[key] for key in wanted} == wanted:
                path = config_path(options, cell["env"], cell["encoder"])
                if not path.is_file() or path.read_text() != row["config"]:
                    write_atomically(path, row["config"])
                return path
        for failed, error in configs.failures():
            if failed == wanted:
                raise RuntimeError(f"the {cell['encoder']} config of {cell['env']} could not be tuned: {error}")
        configs.sync()
        if not configs.run_next(lambda config: tune_cell(config, options)):
            if configs.status().running == 0 and not any(row_matches(row, wanted) for row in configs.rows()):
                raise RuntimeError(f"the {cell['encoder']} config of {cell['env']} is neither done nor being tuned")
            time.sleep(5)


def row_matches(row: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    return all(row.get(key) == value for key, value in wanted.items())


def train_cell(cell: dict, options: Mapping[str, Any], configs: Grid) -> dict:
    """Train and evaluate one agent; the CSV row."""
    config = config_for(cell, options, configs)
    env_id, seed, algo = cell["env"], cell["seed"], algorithm(cell["env"], cell["policy"])
    start = time.perf_counter()
    run_dir, model = train(
        env_id, algo, encoder=str(config), seed=seed, timesteps=cell["steps"],
        runs_dir=Path(options["folder"]) / "runs", progress=False,
    )  # fmt: skip
    wall = time.perf_counter() - start
    if load_run(run_dir).info.status != "complete":  # stopped by a signal: the cell goes back to the queue
        raise KeyboardInterrupt(f"training of {run_dir} was interrupted")
    report = replay(load_run(run_dir), episodes=cell["episodes"], deterministic=True, seed=seed + 1000)
    budget = model.num_timesteps
    row = {
        "env": env_id, "encoder": cell["encoder"], "policy": cell["policy"], "algo": algo, "seed": seed,
        "steps": budget, "final_return": round(report.mean_return, 3), "final_return_std": round(report.std_return, 3),
        "input_spikes_per_decision": round(report.input_spikes, 3),
        "hidden_spikes_per_decision": round(report.hidden_spikes, 3),
        "synaptic_ops": round(report.spiking.synaptic_ops, 1), "energy_nj": round(report.spiking.energy_pj / 1000, 4),
        "wall_s": round(wall, 1), "steps_per_s": round(budget / wall, 1), "run_dir": str(run_dir),
        "recipe": trained_digest(str(run_dir)),
    }  # fmt: skip
    print(f"{env_id} {cell['encoder']} {cell['policy']} seed {seed}: return {row['final_return']} "
          f"in {row['wall_s']} s", flush=True)  # fmt: skip
    return row


def write_csv(cells: Grid, csv_path: Path) -> list[dict]:
    """Every finished row in the storage (this run's cells first, in grid order), written whole to ``csv_path``:
    a run over fewer envs or encoders does not drop the rows of others from the file."""
    rows = [{column: row.get(column) for column in COLUMNS} for row in cells.rows(every=True)]
    if not rows:
        return rows
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    write_rows(csv_path, rows, COLUMNS)
    return rows


def work(options: dict) -> None:
    """One worker: tune the configs left, then train the cells left, rewriting the CSV after each."""
    import torch

    torch.set_num_threads(1)
    configs, cells = grids(options)
    configs.work(lambda cell: tune_cell(cell, options), wait=False)
    while cells.work(lambda cell: train_cell(cell, options, configs), max_cells=1):
        write_csv(cells, Path(options["csv"]))


def groups(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str, str], list[Mapping[str, Any]]]:
    """Rows by (env, encoder, policy), in the grid's order."""
    grouped: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        grouped.setdefault((row["env"], row["encoder"], row["policy"]), []).append(row)
    return grouped


def mean_std(rows: Sequence[Mapping[str, Any]], column: str) -> tuple[float, float]:
    values = np.array([float(row[column]) for row in rows])
    return float(values.mean()), float(values.std())


def table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The markdown table: mean ± std over seeds per env, encoder and policy."""
    columns = ["final_return", "input_spikes_per_decision", "hidden_spikes_per_decision", "synaptic_ops",
               "energy_nj", "steps_per_s"]  # fmt: skip
    lines = [
        "| env | encoder | policy (algo) | seeds | return | input spikes | hidden spikes | SynOps | nJ/decision "
        "| steps/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (env_id, encoder, policy), runs in groups(rows).items():
        cells = []
        for column in columns:
            mean, std = mean_std(runs, column)
            digits = 3 if column == "energy_nj" else 1
            cells.append(f"{mean:.{digits}f} ± {std:.{digits}f}")
        lines.append(f"| {env_id} | {encoder} | {policy} ({runs[0]['algo']}) | {len(runs)} | {' | '.join(cells)} |")
    return "\n".join(lines)


def figure(rows: Sequence[Mapping[str, Any]], path: Path) -> Figure:
    """Return against energy per decision, one panel per env, one marker per encoder (filled: stateless,
    hollow: stateful), error bars the std over seeds; saved to ``path`` and returned."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import NullFormatter

    envs = sorted({row["env"] for row in rows}, key=lambda env: (ENVS.index(env) if env in ENVS else len(ENVS), env))
    drawing = Figure(figsize=(4.6 * len(envs), 4.2), layout="constrained")
    axes = drawing.subplots(1, len(envs), squeeze=False)[0]
    colours = {name: f"C{index}" for index, name in enumerate(names())}
    for axis, env_id in zip(axes, envs, strict=True):
        for (env, encoder, policy), runs in groups(rows).items():
            if env != env_id:
                continue
            (energy, energy_std), (ret, ret_std) = mean_std(runs, "energy_nj"), mean_std(runs, "final_return")
            colour = colours[encoder]
            if len(runs) > 1:
                axis.errorbar(energy, ret, xerr=energy_std, yerr=ret_std, fmt="none", ecolor=colour, capsize=3)
            axis.plot(
                energy, ret, marker=MARKERS[encoder], markersize=9, markeredgewidth=1.6, color=colour, zorder=3,
                markerfacecolor=colour if policy == "stateless" else "white", linestyle="none",
            )  # fmt: skip
        axis.set_xscale("log")
        axis.xaxis.set_minor_formatter(NullFormatter())  # the minor ticks' labels overlap on a short range
        axis.set_xlabel("energy per decision (nJ)")
        axis.set_ylabel("final return (deterministic episodes)")
        axis.set_title(env_id)
    encoders = list(dict.fromkeys(row["encoder"] for row in rows))
    handles = [Line2D([], [], marker=MARKERS[name], color=colours[name], linestyle="none", label=name)
               for name in encoders]  # fmt: skip
    handles += [Line2D([], [], marker="o", color="grey", markerfacecolor=face, linestyle="none", label=label)
                for face, label in (("grey", "stateless"), ("white", "stateful"))]  # fmt: skip
    drawing.legend(handles=handles, loc="outside right upper", fontsize=8, title="mean ± std over seeds")
    path.parent.mkdir(parents=True, exist_ok=True)
    drawing.savefig(path, dpi=110)
    return drawing


def report(options: Mapping[str, Any]) -> list[dict]:
    """Write the CSV and the figure from the storage and print the table and any failed cells."""
    configs, cells = grids(options, enqueue=False)
    rows = write_csv(cells, Path(options["csv"]))
    for grid in (configs, cells):
        status = grid.status()
        print(f"{grid.name}: {status.done}/{status.cells} done, {status.failed} failed, {status.running} running")
        for cell, error in grid.failures():
            print(f"  failed: {cell}: {error}")
    for row in cells.stale_rows():
        print(f"  stale (trained with an older recipe; left out, to run again): {row['env']} {row['encoder']} "
              f"{row['policy']} seed {row['seed']}")  # fmt: skip
    if not rows:
        print("no finished cells yet")
        return rows
    figure(rows, Path(options["figure"]))
    print()
    print(table(rows))
    print(f"\nwrote {options['csv']} and {options['figure']}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=list(ENVS), choices=list(ALGORITHM))
    parser.add_argument("--encoders", nargs="+", default=names(), choices=names())
    parser.add_argument("--policies", nargs="+", default=list(POLICIES), choices=POLICIES)
    parser.add_argument("--seeds", type=int, default=3, help="seeds per (env, encoder, policy) (default 3)")
    parser.add_argument("--steps", type=int, help="training budget of every cell (default: each recipe's)")
    parser.add_argument("--episodes", type=int, default=20, help="evaluation episodes (default 20)")
    parser.add_argument("--trials", type=int, default=TUNE_TRIALS, help=f"tuning trials per feature ({TUNE_TRIALS})")
    parser.add_argument("--workers", type=int, help=f"worker processes here (default: the cores, {default_workers()})")
    parser.add_argument("--storage", help="optuna storage URL or journal file (default <results>/grid/grid.log)")
    parser.add_argument("--results", default="results", help="output folder (default results/)")
    parser.add_argument("--quick", action="store_true", help="CI smoke run: 1 env, 2 encoders, 1 seed, tiny budgets")
    parser.add_argument("--report-only", action="store_true", help="only write the CSV, figure and table")
    parser.add_argument("--retry-failed", action="store_true", help="run again the cells that raised")
    args = parser.parse_args()
    for flag in ("seeds", "steps", "episodes", "trials", "workers"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            parser.error(f"--{flag} must be >= 1, got {value}")
    results = Path(args.results)
    prefix = "grid-quick" if args.quick else "grid"
    options = {
        "envs": args.envs, "encoders": args.encoders, "policies": args.policies, "seeds": args.seeds,
        "steps": args.steps, "episodes": args.episodes, "trials": args.trials, "tune_steps": TUNE_STEPS,
        "folder": str(results / prefix), "csv": str(results / f"{prefix}.csv"),
        "figure": str(results / f"{prefix}.png"), "retry_failed": args.retry_failed,
    }  # fmt: skip
    if args.quick:
        options.update(QUICK)
    options["policies"] = [p for p in options["policies"] if not args.quick or p == "stateless" or
                           all(available(env, p) for env in options["envs"])]  # fmt: skip
    for env_id in options["envs"]:
        for policy in options["policies"]:
            if not available(env_id, policy):
                print(f"warning: {algorithm(env_id, policy)} has no recipe for {env_id} yet: its cells will fail")
    options["storage"] = args.storage or str(results / prefix / "grid.log")
    Path(options["folder"]).mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        workers = args.workers or default_workers()
        print(f"{len(train_cells(options))} cells, {len(config_cells(options))} configs, {workers} worker(s), "
              f"storage {options['storage']}", flush=True)  # fmt: skip
        if workers == 1:
            work(options)
        else:
            codes = run_processes(work, (options,), workers=workers)
            if any(codes):
                print(f"warning: worker exit codes {codes}")
    report(options)


if __name__ == "__main__":
    main()
