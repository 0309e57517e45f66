"""The spiking-RL benchmark: spiking agents against the MLP baseline, same algorithm, budget and seeds.

For every env with a recipe in ``agents/`` (the algorithm below per env) and
every seed, it trains the spiking agent (the env's shipped encoder config) and
the MLP baseline (``--ann``: raw observations) with ``spikegym.rl.training.train``,
evaluates each on 20 deterministic episodes with ``spikegym.rl.replay.replay``,
and appends a row to ``results/agents.csv``:

    env, algo, policy, seed, steps, final_return, final_return_std, wall_s,
    steps_per_s, input_spike_rate, synaptic_ops, macs, energy_nj,
    effective_acs, effective_macs, neuron_updates, energy_nj_45nm_fp32,
    energy_nj_loihi, run_dir, recipe

(input spike rate per channel per sub-step; operations and energy per
decision). ``synaptic_ops``, ``macs`` and ``energy_nj`` are spikegym's own
counts under its default energy model (0.9 pJ per AC, 4.6 pJ per MAC). The
next five come from the same replay: for a spiking row, NeuroBench's effective
ACs, effective MACs and membrane updates per decision
(``spikegym.rl.neurobench_metrics``, with NeuroBench installed), priced under
the presets ``horowitz-45nm-fp32`` and ``loihi`` of
``spikegym.rl.energy_models``; for an MLP row, which NeuroBench does not run
here, its dense MACs as effective MACs, 0 ACs and 0 neuron updates, so under
``loihi`` too the MLP is priced at 45 nm fp32 MACs (Loihi runs no dense layers;
``docs/energy.md``). Rows written before these columns keep them empty, and
the table shows ``n/a (rerun)``; ``--recount`` replays the rows whose run
directory is on this machine and fills them (keeping the old file as
``agents.csv.bak``). Appending to a file with the old header rewrites it with
the new one first, its rows unchanged.

Finished ``(env, policy, seed)`` rows are not run again, so a long run resumes.
Each row records the digest of the recipe it trained with (:func:`recipe_digest`:
its budget aside, and the keys of the other kind of agent); a row whose recipe
has changed since is stale: it runs again, and the table leaves it out and
lists it (the row stays in the file).
At the end it draws ``results/learning_curves.png``: the periodic evaluations,
mean ± std across seeds, spiking vs MLP, one panel per env, and prints a
summary table, also written to ``results/agents_table.md``: per env the
rl-baselines3-zoo's published MLP return (:data:`ZOO_MLP`), spikegym's MLP and
spiking returns, whether the spiking agent is within 10% of spikegym's MLP,
the spiking agent's effective ACs and MACs, the energy per decision of both
under the two presets, and the energy ratio under the default model (target:
at most a fifth of the MLP's). Run from the repository root::

    python scripts/bench_agents.py                      # all envs, 3 seeds, recipe budgets
    python scripts/bench_agents.py --envs CartPole-v1   # a subset
    python scripts/bench_agents.py --quick              # minutes: 2 envs, 1 seed, tiny budgets
    python scripts/bench_agents.py --only-seed 2        # one seed: run seeds side by side
    python scripts/bench_agents.py --report-only        # the table and figure from the CSV, nothing trained
    python scripts/bench_agents.py --recount            # fill old rows' new columns by replaying their runs
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import functools
import hashlib
import os
import stat
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import yaml

from spikegym.rl.energy import decision_cost
from spikegym.rl.energy_models import energy_model
from spikegym.rl.extractors import NIR_EXACT
from spikegym.rl.neurobench_metrics import NEUROBENCH_INSTALL, neurobench_installed
from spikegym.rl.recipes import Recipe, load_recipe
from spikegym.rl.replay import ReplayReport, replay
from spikegym.rl.runs import RunError, load_run
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
PRICED = {"energy_nj_45nm_fp32": "horowitz-45nm-fp32", "energy_nj_loihi": "loihi"}
"""The energy columns priced from each replay's counts, and their presets (``spikegym.rl.energy_models``)."""
COUNT_COLUMNS = ["effective_acs", "effective_macs", "neuron_updates", *PRICED]
"""The columns of NeuroBench's counts per decision and their energies; empty in rows written before them."""
COLUMNS = [
    "env", "algo", "policy", "seed", "steps", "final_return", "final_return_std", "wall_s", "steps_per_s",
    "input_spike_rate", "synaptic_ops", "macs", "energy_nj", *COUNT_COLUMNS, "run_dir", "recipe",
]  # fmt: skip
POLICIES = ("spiking", "spiking-nir", "mlp")
QUICK_ENVS = ("CartPole-v1", "Pendulum-v1")
QUICK_STEPS = 1000
MISSING = "n/a (rerun)"
"""How the table shows a figure its rows do not hold (written before the column existed)."""
TABLE = "agents_table.md"
RATIO_TARGET = 0.2


class ZooReturn(NamedTuple):
    """One row of rl-baselines3-zoo's ``benchmark.md``: an MLP agent's return (mean ± std over its evaluation
    episodes), the zoo's env id, training budget and evaluation episodes, and the row's line number in the
    file at commit 22e3ff2 (:data:`ZOO_SOURCE`)."""

    algo: str
    env_id: str
    mean: float
    std: float
    budget: str
    eval_episodes: int
    line: int


ZOO_SOURCE = (
    "rl-baselines3-zoo, benchmark.md (https://github.com/DLR-RM/rl-baselines3-zoo/blob/master/benchmark.md; "
    "last changed in commit 61a0d13, 2023-04-11, unchanged at 22e3ff2, 2026-04-23): one trained agent per row, "
    "trained for n_timesteps, run with its deterministic policy for about 150,000 evaluation steps; mean ± std of "
    "its episode returns"
)
ZOO_MLP = {
    "CartPole-v1": ZooReturn("ppo", "CartPole-v1", 500.0, 0.0, "100k", 300, 96),
    "Acrobot-v1": ZooReturn("ppo", "Acrobot-v1", -73.506, 18.201, "1M", 2013, 87),
    "MountainCar-v0": ZooReturn("dqn", "MountainCar-v0", -100.849, 9.925, "120k", 1487, 80),
    "MountainCarContinuous-v0": ZooReturn("sac", "MountainCarContinuous-v0", 94.679, 1.134, "50k", 1443, 156),
    "Pendulum-v1": ZooReturn("sac", "Pendulum-v1", -156.995, 88.714, "20k", 750, 157),
    "LunarLander-v3": ZooReturn("ppo", "LunarLander-v2", 242.119, 31.823, "1M", 369, 102),
}
"""The zoo's published MLP return per benchmark env, with the algorithm the benchmark uses (:data:`ALGORITHM`),
from :data:`ZOO_SOURCE`. The zoo has no LunarLander-v3 row: its LunarLander-v2 figure stands in (gymnasium's v3
resets the wind at every reset, fixes a non-determinism and widens the observation bounds; the task and its
rewards are v2's)."""


SPIKING_ONLY = ("spiking", "net_arch", "critic", "nir_exact", "population_head", "normalize_reward")
"""Recipe keys that only the spiking agents train with (the MLP baseline's own keys start with ``ann_``)."""


def recipe_digest(recipe: Mapping[str, Any], policy: str = "spiking") -> str:
    """The recipe settings an agent of ``policy`` trains with, as 12 hex digits of sha256: the budget left out
    (a row's budget is its ``steps``), and so are the MLP baseline's keys (``ann_*``) for a spiking policy and
    the spiking-only keys (:data:`SPIKING_ONLY`) for ``"mlp"``.

    >>> recipe_digest({"algo": "ppo", "n_timesteps": 10}) == recipe_digest({"algo": "ppo", "ann_normalize": True})
    True
    >>> recipe_digest({"spiking": {"beta": 0.9}}, "mlp") == recipe_digest({"spiking": {"beta": 0.5}}, "mlp")
    True
    """
    leave_out = SPIKING_ONLY if policy == "mlp" else tuple(key for key in recipe if key.startswith("ann_"))
    kept = {key: value for key, value in recipe.items() if key != "n_timesteps" and key not in leave_out}
    settings = yaml.safe_load(yaml.safe_dump(kept))
    return hashlib.sha256(yaml.safe_dump(settings, sort_keys=True).encode()).hexdigest()[:12]


def trained_recipe(algo: str, env_id: str, policy: str = "spiking") -> Recipe:
    """The recipe an agent of ``policy`` trains with now, as its run directory records it: ``algo``'s recipe for
    ``env_id``, for the MLP baseline :meth:`~spikegym.rl.recipes.Recipe.for_ann`, for ``spiking-nir`` with its
    NIR-exact changes."""
    recipe = load_recipe(algo, env_id)
    if policy == "mlp":
        return recipe.for_ann()
    return recipe.with_nir_exact(NIR_EXACT) if policy == "spiking-nir" else recipe


@functools.cache
def current_digest(algo: str, env_id: str, policy: str = "spiking") -> str:
    """The digest (:func:`recipe_digest`) of the recipe an agent of ``policy`` trains with now."""
    return recipe_digest(trained_recipe(algo, env_id, policy).to_dict(), policy)


@functools.cache
def trained_digest(run_dir: str, policy: str = "spiking") -> str | None:
    """The digest of the recipe a run directory here trained with (``None``: not on this machine)."""
    path = Path(run_dir) / "recipe.yaml"
    return recipe_digest(yaml.safe_load(path.read_text()), policy) if path.is_file() else None


def stale(row: Mapping[str, Any], policy: str = "spiking") -> bool:
    """Whether a row of an agent of ``policy`` trained with a recipe other than its algorithm's recipe for its env
    now (rows from before rows held the digest: from their run directory, if here; otherwise they count as
    current)."""
    trained = row.get("recipe") or trained_digest(str(row["run_dir"]), policy)
    return trained is not None and trained != current_digest(row["algo"], row["env"], policy)


def stale_row(row: Mapping[str, str]) -> bool:
    """Whether a benchmark row is stale (:func:`stale` for its policy)."""
    return stale(row, row["policy"])


def finished(csv_path: Path) -> set[tuple[str, str, int]]:
    """The ``(env, policy, seed)`` rows already in the results file and not stale."""
    return {(row["env"], row["policy"], int(row["seed"])) for row in current_rows(csv_path)}


def current_rows(csv_path: Path) -> list[dict[str, str]]:
    """The rows of a results file that are not stale (none if there is no file)."""
    return sorted_rows(csv_path)[0]


def sorted_rows(csv_path: Path) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The rows of a results file (none if there is no file), current and stale (:func:`stale_row`)."""
    current, stale_rows = [], []
    for row in read_rows(csv_path) if csv_path.is_file() else []:
        (stale_rows if stale_row(row) else current).append(row)
    return current, stale_rows


def read_rows(csv_path: Path) -> list[dict[str, str]]:
    """The rows of a results file; a column its header lacks is absent from its rows."""
    with csv_path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def value(row: dict[str, str], column: str) -> float | None:
    """``row``'s number in ``column``, or ``None`` where the row has none (an old row, an empty cell).

    >>> value({"energy_nj": "4.3"}, "energy_nj"), value({"energy_nj": ""}, "energy_nj"), value({}, "energy_nj")
    (4.3, None, None)
    """
    text = row.get(column)
    return None if text is None or not text.strip() else float(text)


def count_columns(report: ReplayReport) -> dict[str, float]:
    """The :data:`COUNT_COLUMNS` of a replay: NeuroBench's counts per decision of a spiking run (``{}`` if it was
    replayed without NeuroBench), an MLP run's dense MACs (0 ACs, 0 neuron updates), each priced under the
    :data:`PRICED` presets.

    >>> count_columns(ReplayReport([1.0], ann=decision_cost(0.0, 1000)))["energy_nj_loihi"]
    4.6
    """
    models = {column: energy_model(name) for column, name in PRICED.items()}
    if report.spiking is None:
        macs = float(report.ann.macs)
        counts = {"effective_acs": 0.0, "effective_macs": macs, "neuron_updates": 0.0}
        costs = {column: decision_cost(0.0, macs, model) for column, model in models.items()}
    elif report.neurobench is None:
        return {}
    else:
        measured = report.neurobench
        counts = {
            "effective_acs": measured.effective_acs,
            "effective_macs": measured.effective_macs,
            "neuron_updates": measured.membrane_updates,
        }
        costs = {column: measured.cost(model) for column, model in models.items()}
    rounded = {column: round(count, 1) for column, count in counts.items()}
    return rounded | {column: round(cost.energy_pj / 1000, 4) for column, cost in costs.items()}


def run_one(env_id: str, policy: str, seed: int, steps: int | None, runs_dir: Path, episodes: int) -> dict:
    """Train and evaluate one agent; the CSV row. The MLP trains at the spiking agent's budget (the recipe's
    ``n_timesteps``, not the zoo's ``ann_n_timesteps``: ``spikegym train --ann`` uses that), so that the two
    are compared at the same budget; the zoo's own number is the table's zoo column."""
    algo = ALGORITHM[env_id]
    start = time.perf_counter()
    run_dir, model = train(
        env_id,
        algo,
        timesteps=steps or load_recipe(algo, env_id).n_timesteps,
        seed=seed,
        ann=policy == "mlp",
        nir_exact=policy == "spiking-nir",
        runs_dir=runs_dir,
        progress=True,
    )
    wall = time.perf_counter() - start
    report = replay(
        load_run(run_dir), episodes=episodes, deterministic=True, seed=seed + 1000, neurobench=neurobench_installed()
    )
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
        **count_columns(report),
        "run_dir": str(run_dir),
        "recipe": trained_digest(str(run_dir), policy),
    }


def replay_counts(row: dict[str, str], episodes: int) -> tuple[dict[str, float], float]:
    """Replay ``row``'s run as the benchmark evaluated it (deterministic, seed ``seed + 1000``, with NeuroBench):
    its :data:`COUNT_COLUMNS` and the replayed mean return."""
    report = replay(
        load_run(row["run_dir"]), episodes=episodes, deterministic=True, seed=int(row["seed"]) + 1000, neurobench=True
    )
    return count_columns(report), report.mean_return


def backup_path(csv_path: Path) -> Path:
    """Where ``--recount`` keeps the file it rewrites: ``agents.csv`` -> ``agents.csv.bak``."""
    return csv_path.with_name(f"{csv_path.name}.bak")


def recount(csv_path: Path, episodes: int = 20) -> dict[str, int]:
    """Fill the :data:`COUNT_COLUMNS` of the rows of ``csv_path`` that lack them by replaying their runs
    (:func:`replay_counts`), and write the file anew atomically, the old one kept as ``<name>.bak``.

    Rows already counted are kept; rows whose run directory is not on this machine, or whose run cannot be
    loaded, are left as they are and counted in the returned tally and the printed message. Refuses with a
    ``FileExistsError``, before replaying anything, if the ``.bak`` file exists (it may be a copy someone
    kept); writes nothing if no row was filled.
    """
    backup = backup_path(csv_path)
    if backup.exists():
        raise FileExistsError(
            f"{backup} exists: --recount keeps the current {csv_path.name} there before writing it anew and "
            "never overwrites a backup; move or delete it first"
        )
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path} does not exist: nothing to recount")
    with csv_path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows, header = list(reader), list(reader.fieldnames or [])
    tally = {"recounted": 0, "already counted": 0, "run dir missing": 0, "failed": 0}
    for row in rows:
        label = f"{row['env']} {row['policy']} seed {row['seed']}"
        if all(value(row, column) is not None for column in COUNT_COLUMNS):
            tally["already counted"] += 1
            continue
        if not Path(row["run_dir"]).is_dir():
            tally["run dir missing"] += 1
            continue
        try:
            columns, mean_return = replay_counts(row, episodes)
        except (RunError, OSError, RuntimeError) as error:
            print(f"recount: {label}: {row['run_dir']} cannot be replayed, left as it is ({error})")
            tally["failed"] += 1
            continue
        if value(row, "final_return") is not None and abs(mean_return - float(row["final_return"])) > 1e-3:
            print(f"recount: {label}: replayed return {mean_return:.3f} differs from the row's {row['final_return']} "
                  f"(evaluated on other than --episodes {episodes}?); the row's return is kept")  # fmt: skip
        row.update({column: str(number) for column, number in columns.items()})
        tally["recounted"] += 1
    if tally["recounted"]:
        with backup.open("xb") as kept:
            kept.write(csv_path.read_bytes())
        write_rows(csv_path, rows, [*COLUMNS, *(column for column in header if column not in COLUMNS)])
    saved = f"; {csv_path} written anew, the old file kept as {backup}" if tally["recounted"] else "; nothing written"
    print(
        f"recount: {tally['recounted']} rows recounted, {tally['already counted']} already counted, "
        f"{tally['run dir missing']} left (run dir not on this machine), {tally['failed']} failed{saved}"
    )
    return tally


def write_rows(csv_path: Path, rows: Sequence[dict], columns: Sequence[str]) -> None:
    """Write ``rows`` under ``columns`` (missing cells empty) to a temporary file beside ``csv_path``, then
    replace ``csv_path`` with it (keeping its permissions), so a reader or a crash never sees half a file."""
    mode = stat.S_IMODE(csv_path.stat().st_mode) if csv_path.exists() else 0o644
    descriptor, temporary = tempfile.mkstemp(prefix=f".{csv_path.name}.", suffix=".tmp", dir=csv_path.parent)
    try:
        os.chmod(temporary, mode)
        with os.fdopen(descriptor, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(columns), restval="")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(temporary, csv_path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def upgrade_header(csv_path: Path, columns: Sequence[str] = COLUMNS) -> None:
    """Rewrite ``csv_path`` with the header ``columns`` if its own holds only some of them (written before the
    others existed): its rows unchanged, their new cells empty; said when done. A header with a column not in
    ``columns`` is refused with a ``ValueError``; a missing or empty file is left alone."""
    if not csv_path.is_file() or csv_path.stat().st_size == 0:
        return
    with csv_path.open(newline="") as handle:
        header = next(csv.reader(handle), [])
    if header == list(columns):
        return
    unknown = [column for column in header if column not in columns]
    if unknown:
        raise ValueError(f"{csv_path} has columns {unknown} that are not among {list(columns)}")
    write_rows(csv_path, read_rows(csv_path), columns)
    added = [column for column in columns if column not in header]
    print(f"{csv_path}: header rewritten with the columns {added}, empty in its earlier rows")


def append(csv_path: Path, row: dict, columns: list[str] = COLUMNS) -> None:
    """Append ``row`` to ``csv_path`` (its header first, if the file is new), after :func:`upgrade_header`."""
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    upgrade_header(csv_path, columns)
    new = not csv_path.is_file() or csv_path.stat().st_size == 0
    with csv_path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
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

    rows = current_rows(csv_path)
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


HEADERS = {
    "env": "env",
    "algo": "algo",
    "steps": "steps",
    "zoo": "zoo MLP return (zoo budget)",
    "mlp": "MLP return (seeds)",
    "spiking": "spiking return (seeds)",
    "within_10%": "spiking within 10% of MLP",
    "spiking_acs": "spiking eff. ACs/decision",
    "spiking_macs": "spiking eff. MACs/decision",
    "spiking_nj_45nm_fp32": "spiking nJ/decision, 45 nm fp32",
    "mlp_nj_45nm_fp32": "MLP nJ/decision, 45 nm fp32",
    "spiking_nj_loihi": "spiking nJ/decision, Loihi",
    "mlp_nj_loihi": "MLP nJ/decision, Loihi",
    "ratio": f"energy ratio, default model (target <= {RATIO_TARGET})",
}
"""The summary table's columns: each row's key and its header."""


def within(spiking: float, mlp: float, share: float = 0.1) -> bool:
    """Whether a return of ``spiking`` is within ``share`` of the MLP's ``mlp``: below it by at most
    ``share * |mlp|`` (above it, always), negative returns included.

    >>> within(-109.0, -100.0), within(-111.0, -100.0), within(451.0, 500.0), within(449.0, 500.0)
    (True, False, True, False)
    """
    return spiking >= mlp - share * abs(mlp)


def zoo_cell(env_id: str) -> str:
    """The zoo's published MLP return for ``env_id`` with the benchmark's algorithm, as the table shows it.

    >>> zoo_cell("Acrobot-v1"), zoo_cell("LunarLander-v3")
    ('-73.5 ± 18.2 (1M)', '242.1 ± 31.8 (LunarLander-v2, 1M)')
    """
    zoo = ZOO_MLP.get(env_id)
    if zoo is None or zoo.algo != ALGORITHM.get(env_id):
        return "n/a"
    other = "" if zoo.env_id == env_id else f"{zoo.env_id}, "
    return f"{zoo.mean:.1f} ± {zoo.std:.1f} ({other}{zoo.budget})"


def _returns_cell(runs: list[dict[str, str]]) -> str:
    returns = np.array([float(row["final_return"]) for row in runs])
    return f"{returns.mean():.1f} ± {returns.std():.1f} ({len(runs)} seed{'' if len(runs) == 1 else 's'})"


def _mean_cell(runs: list[dict[str, str]], column: str, digits: int) -> str:
    """The mean of ``column`` over ``runs``; :data:`MISSING` where no row holds it, and how many did where some
    do not."""
    values = [number for row in runs if (number := value(row, column)) is not None]
    if not values:
        return MISSING
    text = f"{np.mean(values):.{digits}f}"
    return text if len(values) == len(runs) else f"{text} ({len(values)} of {len(runs)} seeds)"


def summary(csv_path: Path, table_path: Path | None = None) -> list[dict]:
    """Per env with spiking and MLP rows: the zoo's published MLP return, spikegym's MLP and spiking returns
    (mean ± std over seeds), whether the spiking agent is within 10% of the MLP, its effective ACs and MACs per
    decision, both agents' energy per decision under the :data:`PRICED` presets, and the energy ratio under the
    default model against its target. Printed as a markdown table with notes (and written to ``table_path`` if
    given); returned as rows keyed as :data:`HEADERS` (``within_10%`` a bool, ``ratio`` a float, the rest text).
    Stale rows (:func:`stale_row`) are left out and listed.
    """
    rows, stale_rows = sorted_rows(csv_path)
    for row in stale_rows:
        print(f"stale (trained with an older recipe; left out, to run again): {row['env']} {row['policy']} "
              f"seed {row['seed']} ({row['run_dir']})")  # fmt: skip
    table = []
    for env_id in [env for env in ALGORITHM if any(row["env"] == env for row in rows)]:
        runs = {p: [r for r in rows if r["env"] == env_id and r["policy"] == p] for p in ("spiking", "mlp")}
        if not runs["spiking"] or not runs["mlp"]:
            continue
        mean_return = {p: np.mean([float(r["final_return"]) for r in runs[p]]) for p in runs}
        energy = {p: np.mean([float(r["energy_nj"]) for r in runs[p]]) for p in runs}
        energies = {f"{p}_{column[len('energy_'):]}": _mean_cell(runs[p], column, 2) for column in PRICED
                    for p in runs}  # fmt: skip
        table.append(
            {
                "env": env_id,
                "algo": ALGORITHM[env_id],
                "steps": runs["mlp"][0]["steps"],
                "zoo": zoo_cell(env_id),
                "mlp": _returns_cell(runs["mlp"]),
                "spiking": _returns_cell(runs["spiking"]),
                "within_10%": bool(within(mean_return["spiking"], mean_return["mlp"])),
                "spiking_acs": _mean_cell(runs["spiking"], "effective_acs", 0),
                "spiking_macs": _mean_cell(runs["spiking"], "effective_macs", 0),
                **energies,
                "ratio": float(energy["spiking"] / energy["mlp"]),
            }
        )
    text = markdown(table)
    print(f"\n{text}")
    if table_path is not None:
        table_path.parent.mkdir(parents=True, exist_ok=True)
        table_path.write_text(f"{text}\n")
    return table


def markdown(table: list[dict]) -> str:
    """The summary rows as a markdown table of :data:`HEADERS`, then notes on where each figure comes from."""
    lines = [f"| {' | '.join(HEADERS.values())} |", f"|{'---|' * len(HEADERS)}"]
    for row in table:
        cells = dict(row)
        cells["within_10%"] = "yes" if row["within_10%"] else "no"
        met = "met" if row["ratio"] <= RATIO_TARGET else "not met"
        cells["ratio"] = f"{row['ratio']:.3f} ({met})"
        lines.append(f"| {' | '.join(str(cells[key]) for key in HEADERS)} |")
    notes = [
        f"Zoo: {ZOO_SOURCE}. LunarLander-v3's figure is the zoo's LunarLander-v2 (it has no v3 row).",
        "MLP and spiking: spikegym's agents, same algorithm, budget (steps) and seeds; mean ± std over seeds of "
        "each seed's mean return over its deterministic evaluation episodes (the zoo's ± is over one agent's "
        "episodes). Within 10%: the spiking mean is at least the MLP's mean minus a tenth of its magnitude.",
        "Eff. ACs/MACs: NeuroBench's effective synaptic operations per decision of the spiking acting network. "
        "Energies: those counts and NeuroBench's membrane updates priced under the presets horowitz-45nm-fp32 "
        "and loihi (docs/energy.md); the MLP's dense MACs at 45 nm fp32 under both (Loihi runs no dense layers). "
        "Energy ratio: spiking/MLP under spikegym's default model (0.9 pJ per AC, 4.6 pJ per MAC).",
    ]
    if any(MISSING in str(cell) for row in table for cell in row.values()):
        notes.append(
            f"{MISSING}: these rows were written before the column existed; `python scripts/bench_agents.py "
            "--recount` replays the runs whose directories are on the machine and fills them."
        )
    return "\n".join([*lines, "", *(f"- {note}" for note in notes)])


def nir_summary(csv_path: Path) -> list[dict]:
    """Per env with NIR-exact rows: its return against the recipe's spiking layers (mean ± std over seeds),
    and whether it is within 5%; printed as a table and returned as rows (stale rows left out)."""
    rows = current_rows(csv_path)
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
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--report-only", action="store_true", help="train nothing: print and write the table and figure from the CSV"
    )
    mode.add_argument(
        "--recount",
        action="store_true",
        help="train nothing: replay (with --episodes) the rows that lack the NeuroBench and preset columns and "
        "whose run dir is here, fill them, and write the CSV anew (the old one kept as agents.csv.bak; refused "
        "if that exists); then the table and figure",
    )
    args = parser.parse_args()
    envs, seeds, steps, episodes = args.envs, args.seeds, args.timesteps, args.episodes
    if args.quick:
        envs, seeds, steps, episodes = list(QUICK_ENVS), 1, QUICK_STEPS, 2
    if args.only_seed is not None and args.only_seed < 0:
        parser.error(f"--only-seed must be >= 0, got {args.only_seed}")
    if episodes < 1:
        parser.error(f"--episodes must be >= 1, got {episodes}")
    seed_list = range(seeds) if args.only_seed is None else [args.only_seed]
    results = Path(args.results)
    csv_path = results / "agents.csv"
    if args.report_only or args.recount:
        if not csv_path.is_file():
            parser.error(f"{'--recount' if args.recount else '--report-only'} reads {csv_path}, which does not exist")
        if args.recount and not neurobench_installed():
            parser.error(f"--recount measures spiking runs with NeuroBench, not installed: {NEUROBENCH_INSTALL}")
        if args.recount:
            try:
                recount(csv_path, episodes)
            except FileExistsError as error:
                parser.error(f"--recount: {error}")
    else:
        train_all(csv_path, envs, seed_list, args.policies, steps, episodes)
    figure = results / "learning_curves.png"
    drawn = learning_curves(csv_path, figure) is not None
    summary(csv_path, results / TABLE)
    nir_summary(csv_path)
    written = [*([] if args.report_only else [csv_path]), results / TABLE, *([figure] if drawn else [])]
    print(f"\nwrote {', '.join(str(path) for path in written)}")


def train_all(
    csv_path: Path, envs: Sequence[str], seeds: Sequence[int], policies: Sequence[str], steps: int | None, episodes: int
) -> None:
    """Train, evaluate and append every ``(env, seed, policy)`` row not yet in ``csv_path``."""
    if not neurobench_installed():
        print(f"NeuroBench is not installed ({NEUROBENCH_INSTALL}): the spiking rows' {COUNT_COLUMNS} stay empty; "
              "--recount fills them once it is")  # fmt: skip
    upgrade_header(csv_path)  # once, before any training: seeds run side by side then append to one header
    done = finished(csv_path)
    for env_id in envs:
        load_recipe(ALGORITHM[env_id], env_id)
        for seed in seeds:
            for policy in policies:
                if (env_id, policy, seed) in done:
                    print(f"{env_id} {policy} seed {seed}: done, skipped")
                    continue
                row = run_one(env_id, policy, seed, steps, csv_path.parent / "runs", episodes)
                append(csv_path, row)
                print(f"{env_id} {policy} seed {seed}: return {row['final_return']} in {row['wall_s']} s")


if __name__ == "__main__":
    main()
