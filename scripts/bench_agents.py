"""The spiking-RL benchmark: spiking agents against the MLP baseline, same algorithm, budget and seeds.

For every env with a recipe in ``agents/`` (the algorithm below per env) and
every seed, it trains the spiking agent (the env's shipped encoder config) and
the MLP baseline (``--ann``: raw observations) with ``spikegym.rl.training.train``,
evaluates each on 20 deterministic episodes with ``spikegym.rl.replay.replay``,
and appends a row to ``results/agents.csv``:

    env, algo, policy, seed, steps, final_return, final_return_std, wall_s,
    steps_per_s, input_spike_rate, synaptic_ops, macs, energy_nj, run_dir

(input spike rate per channel per sub-step; operations and energy per
decision under the energy model of ``spikegym.rl.energy``). Finished
``(env, policy, seed)`` rows are not run again, so a long run resumes. At the
end it draws ``results/learning_curves.png``: the periodic evaluations, mean
± std across seeds, spiking vs MLP, one panel per env, and prints a summary
table against the targets (spiking within 10% of the MLP's return, energy per
decision at most a fifth of the MLP's). Run from the repository root::

    python scripts/bench_agents.py                      # all envs, 3 seeds, recipe budgets
    python scripts/bench_agents.py --envs CartPole-v1   # a subset
    python scripts/bench_agents.py --quick              # minutes: 2 envs, 1 seed, tiny budgets
    python scripts/bench_agents.py --only-seed 2        # one seed: run seeds side by side
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from spikegym.rl.recipes import load_recipe
from spikegym.rl.replay import replay
from spikegym.rl.runs import load_run
from spikegym.rl.training import train

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ALGORITHM = {
    "CartPole-v1": "ppo",
    "Acrobot-v1": "ppo",
    "MountainCar-v0": "dqn",
    "MountainCarContinuous-v0": "sac",
    "Pendulum-v1": "sac",
    "LunarLander-v3": "ppo",
}
COLUMNS = [
    "env", "algo", "policy", "seed", "steps", "final_return", "final_return_std", "wall_s", "steps_per_s",
    "input_spike_rate", "synaptic_ops", "macs", "energy_nj", "run_dir",
]  # fmt: skip
POLICIES = ("spiking", "spiking-nir", "mlp")
QUICK_ENVS = ("CartPole-v1", "Pendulum-v1")
QUICK_STEPS = 1000


def finished(csv_path: Path) -> set[tuple[str, str, int]]:
    """The ``(env, policy, seed)`` rows already in the results file."""
    if not csv_path.is_file():
        return set()
    with csv_path.open(newline="") as handle:
        return {(row["env"], row["policy"], int(row["seed"])) for row in csv.DictReader(handle)}


def run_one(env_id: str, policy: str, seed: int, steps: int | None, runs_dir: Path, episodes: int) -> dict:
    """Train and evaluate one agent; the CSV row."""
    algo = ALGORITHM[env_id]
    start = time.perf_counter()
    run_dir, model = train(
        env_id,
        algo,
        timesteps=steps,
        seed=seed,
        ann=policy == "mlp",
        nir_exact=policy == "spiking-nir",
        runs_dir=runs_dir,
        progress=True,
    )
    wall = time.perf_counter() - start
    report = replay(load_run(run_dir), episodes=episodes, deterministic=True, seed=seed + 1000)
    cost = report.spiking if report.spiking is not None else report.ann
    budget = model.num_timesteps
    return {
        "env": env_id,
        "algo": algo,
        "policy": policy,
        "seed": seed,
        "steps": budget,
        "final_return": round(report.mean_return, 3),
        "final_return_std": round(report.std_return, 3),
        "wall_s": round(wall, 1),
        "steps_per_s": round(budget / wall, 1),
        "input_spike_rate": round(report.input_rate, 5),
        "synaptic_ops": round(cost.synaptic_ops, 1),
        "macs": round(cost.macs, 1),
        "energy_nj": round(cost.energy_pj / 1000, 4),
        "run_dir": str(run_dir),
    }


def append(csv_path: Path, row: dict, columns: list[str] = COLUMNS) -> None:
    """Append ``row`` to ``csv_path`` (its header first, if the file is new)."""
    new = not csv_path.is_file()
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with csv_path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        if new:
            writer.writeheader()
        writer.writerow(row)


def _clip_far_from_the_baseline(axis: object, spans: dict[str, tuple[float, float]]) -> None:
    """Where spiking evaluations (mean ± std) stray more than the MLP's whole range beyond it, which
    would flatten both curves, cut the axis half that range beyond the MLP's and say how far they went."""
    if "mlp" not in spans or "spiking" not in spans:
        return
    (mlp_low, mlp_high), (spiking_low, spiking_high) = spans["mlp"], spans["spiking"]
    span = max(mlp_high - mlp_low, 1e-9)
    notes = []
    if spiking_low < mlp_low - span:
        axis.set_ylim(bottom=mlp_low - 0.5 * span)
        notes.append(f"down to {spiking_low:.0f}")
    if spiking_high > mlp_high + span:
        axis.set_ylim(top=mlp_high + 0.5 * span)
        notes.append(f"up to {spiking_high:.0f}")
    if notes:
        text = f"spiking mean ± std {' and '.join(notes)}, off the axis"
        axis.text(0.02, 0.02, text, transform=axis.transAxes, fontsize=7)


def learning_curves(csv_path: Path, figure_path: Path) -> Figure | None:
    """Mean ± std across seeds of the periodic evaluations, spiking vs MLP, one panel per env; saved to
    ``figure_path`` and returned. Each curve's legend entry says over how many seeds; its band is clipped
    to the lowest and highest seed at each evaluation, so it never leaves the returns the seeds reached
    (never past CartPole-v1's 500). Legends sit above their panels, off the curves.

    Where some rows' run directories are not here (the table came from other machines), an existing figure
    is kept, not redrawn with fewer curves, and ``None`` is returned; both are said."""
    from matplotlib.figure import Figure

    with csv_path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = [row["run_dir"] for row in rows if row["policy"] in ("spiking", "mlp")
               and not (Path(row["run_dir"]) / "eval" / "evaluations.npz").is_file()]  # fmt: skip
    if missing:
        print(f"learning curves: {len(missing)} runs of {csv_path} have no evaluations here (e.g. {missing[0]})")
        if figure_path.is_file():
            print(f"learning curves: {figure_path} kept, not redrawn without them")
            return None
    envs = [env for env in ALGORITHM if any(row["env"] == env for row in rows)]
    columns = min(3, len(envs))
    rows_of_panels = -(-len(envs) // columns)
    figure = Figure(figsize=(4.8 * columns, 3.9 * rows_of_panels), layout="constrained")
    axes = figure.subplots(rows_of_panels, columns, squeeze=False)
    for axis in axes.flat[len(envs) :]:
        axis.set_visible(False)
    for axis, env_id in zip(axes.flat, envs, strict=False):
        spans = {}
        for policy, colour in (("spiking", "tab:red"), ("mlp", "tab:blue")):
            curves = []
            for row in rows:
                evaluations = Path(row["run_dir"]) / "eval" / "evaluations.npz"
                if row["env"] == env_id and row["policy"] == policy and evaluations.is_file():
                    with np.load(evaluations) as data:
                        curves.append((data["timesteps"], data["results"].mean(axis=1)))
            if not curves:
                continue
            length = min(len(c[1]) for c in curves)
            steps = curves[0][0][:length]
            values = np.stack([c[1][:length] for c in curves])
            mean, std = values.mean(axis=0), values.std(axis=0)
            low, high = np.maximum(mean - std, values.min(axis=0)), np.minimum(mean + std, values.max(axis=0))
            seeds = f"{len(curves)} seed{'' if len(curves) == 1 else 's'}"
            axis.plot(steps, mean, color=colour, marker="o", markersize=3, label=f"{policy}: mean ± std over {seeds}")
            axis.fill_between(steps, low, high, color=colour, alpha=0.2, linewidth=0)
            spans[policy] = (float(low.min()), float(high.max()))
        _clip_far_from_the_baseline(axis, spans)
        axis.set_xlabel("env steps")
        axis.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
        axis.set_ylabel("evaluation return")
        axis.legend(
            *axis.get_legend_handles_labels(), title=f"{env_id} ({ALGORITHM[env_id]})", loc="lower left",
            bbox_to_anchor=(0, 1.02), fontsize=8, frameon=False, borderaxespad=0, alignment="left",
        )  # fmt: skip
    figure_path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(figure_path, dpi=110)
    return figure


def summary(csv_path: Path) -> list[dict]:
    """Per env: returns and energies (mean ± std over seeds) and whether the targets are met; printed
    as a table and returned as rows."""
    with csv_path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    table = []
    for env_id in [env for env in ALGORITHM if any(row["env"] == env for row in rows)]:
        runs = {p: [r for r in rows if r["env"] == env_id and r["policy"] == p] for p in ("spiking", "mlp")}
        if not runs["spiking"] or not runs["mlp"]:
            continue
        returns = {p: np.array([float(r["final_return"]) for r in runs[p]]) for p in runs}
        energy = {p: np.mean([float(r["energy_nj"]) for r in runs[p]]) for p in runs}
        table.append(
            {
                "env": env_id,
                "algo": ALGORITHM[env_id],
                "seeds": f"{len(runs['spiking'])}/{len(runs['mlp'])}",
                "steps": runs["mlp"][0]["steps"],
                "spiking": f"{returns['spiking'].mean():.1f} ± {returns['spiking'].std():.1f}",
                "mlp": f"{returns['mlp'].mean():.1f} ± {returns['mlp'].std():.1f}",
                "within_10%": returns["spiking"].mean() >= returns["mlp"].mean() - 0.1 * abs(returns["mlp"].mean()),
                "spiking_nj": energy["spiking"],
                "mlp_nj": energy["mlp"],
                "ratio": energy["spiking"] / energy["mlp"],
            }
        )
    print(
        "\n| env | algo | seeds (spiking/MLP) | steps | spiking return | MLP return | within 10% | "
        "spiking nJ/decision | MLP nJ/decision | energy ratio (target <= 0.2) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in table:
        print(f"| {row['env']} | {row['algo']} | {row['seeds']} | {row['steps']} | {row['spiking']} | {row['mlp']} | "
              f"{'yes' if row['within_10%'] else 'no'} | {row['spiking_nj']:.2f} | {row['mlp_nj']:.2f} | "
              f"{row['ratio']:.3f} {'(met)' if row['ratio'] <= 0.2 else '(not met)'} |")  # fmt: skip
    return table


def nir_summary(csv_path: Path) -> list[dict]:
    """Per env with NIR-exact rows: its return against the recipe's spiking layers (mean ± std over seeds),
    and whether it is within 5%; printed as a table and returned as rows."""
    with csv_path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    table = []
    for env_id in ALGORITHM:
        runs = {p: [float(r["final_return"]) for r in rows if r["env"] == env_id and r["policy"] == p]
                for p in ("spiking", "spiking-nir")}  # fmt: skip
        if not runs["spiking"] or not runs["spiking-nir"]:
            continue
        today, exact = np.array(runs["spiking"]), np.array(runs["spiking-nir"])
        within = exact.mean() >= today.mean() - 0.05 * abs(today.mean())
        table.append({"env": env_id, "algo": ALGORITHM[env_id], "seeds": f"{len(today)}/{len(exact)}",
                      "spiking": f"{today.mean():.1f} ± {today.std():.1f}",
                      "spiking_nir": f"{exact.mean():.1f} ± {exact.std():.1f}", "within_5%": within})  # fmt: skip
    if table:
        print("\n| env | algo | seeds (spiking/NIR-exact) | spiking return | NIR-exact return | within 5% |")
        print("|---|---|---|---|---|---|")
        for row in table:
            print(f"| {row['env']} | {row['algo']} | {row['seeds']} | {row['spiking']} | {row['spiking_nir']} | "
                  f"{'yes' if row['within_5%'] else 'no'} |")  # fmt: skip
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=list(ALGORITHM), choices=list(ALGORITHM))
    parser.add_argument("--seeds", type=int, default=3, help="seeds per (env, policy) (default 3)")
    parser.add_argument(
        "--only-seed",
        type=int,
        help="run this one seed (split the seeds over processes or machines; rows append to the same file)",
    )
    parser.add_argument("--timesteps", type=int, help="override every recipe's budget")
    parser.add_argument("--episodes", type=int, default=20, help="evaluation episodes (default 20)")
    parser.add_argument("--results", default="results", help="output folder (default results/)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ENVS}, 1 seed, {QUICK_STEPS} steps")
    parser.add_argument(
        "--policies",
        nargs="+",
        default=["spiking", "mlp"],
        choices=POLICIES,
        help="spiking (the recipe's layers), spiking-nir (the same, NIR-exact: spikegym train --nir-exact) "
        "and mlp (default: spiking mlp)",
    )
    args = parser.parse_args()
    envs, seeds, steps, episodes = args.envs, args.seeds, args.timesteps, args.episodes
    if args.quick:
        envs, seeds, steps, episodes = list(QUICK_ENVS), 1, QUICK_STEPS, 2
    if args.only_seed is not None and args.only_seed < 0:
        parser.error(f"--only-seed must be >= 0, got {args.only_seed}")
    seed_list = range(seeds) if args.only_seed is None else [args.only_seed]
    results = Path(args.results)
    csv_path = results / "agents.csv"
    done = finished(csv_path)
    for env_id in envs:
        load_recipe(ALGORITHM[env_id], env_id)
        for seed in seed_list:
            for policy in args.policies:
                if (env_id, policy, seed) in done:
                    print(f"{env_id} {policy} seed {seed}: done, skipped")
                    continue
                row = run_one(env_id, policy, seed, steps, results / "runs", episodes)
                append(csv_path, row)
                print(f"{env_id} {policy} seed {seed}: return {row['final_return']} in {row['wall_s']} s")
    learning_curves(csv_path, results / "learning_curves.png")
    summary(csv_path)
    nir_summary(csv_path)
    print(f"\nwrote {csv_path} and {results / 'learning_curves.png'}")


if __name__ == "__main__":
    main()
