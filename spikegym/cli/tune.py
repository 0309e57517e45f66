"""``spikegym tune``: tune one encoder or all six for an env and write ``envs_configs/<env-id>.yaml``."""

from __future__ import annotations

import argparse
import logging
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import optuna
import yaml

from spikegym.encoders import encoder_class, names, parameters
from spikegym.envs.bounds import robust_bounds
from spikegym.envs.configs import config_filename, find_config, load_config
from spikegym.envs.gym_encoder import GymnasiumEncoder
from spikegym.envs.layout import ObservationLayout
from spikegym.envs.rollouts import Rollouts, record
from spikegym.rl.rollouts import record_agent
from spikegym.rl.runs import RunError, load_run
from spikegym.tuning.studies import OBJECTIVES, TunedEncoder, open_storage, provenance, tune_encoder

logger = logging.getLogger(__name__)


def add_parser(commands: Any) -> None:
    """Add the ``tune`` sub-command to the ``spikegym`` parser's sub-parsers."""
    parser = commands.add_parser(
        "tune",
        help="tune an encoder (or all) for an env with optuna and write envs_configs/<env-id>.yaml",
        description="Record seeded random-policy rollouts of ENV_ID, tune each feature's encoder parameters "
        "to minimise reconstruction error plus spike cost, report held-out scores and write the config.",
    )
    parser.add_argument("env_id", help="Gymnasium environment id, e.g. CartPole-v1")
    parser.add_argument("--encoder", default="all", help=f"one of {names()} or 'all' (default all)")
    parser.add_argument("--trials", type=int, default=100, help="trials per feature (default 100)")
    parser.add_argument("--steps", type=int, default=4000, help="observations to record (default 4000)")
    parser.add_argument("--episodes", type=int, help="record this many whole episodes instead of --steps")
    parser.add_argument("--substeps", type=int, default=8, help="encoder steps per observation T (default 8)")
    parser.add_argument("--upsample", choices=("hold", "linear"), default="hold")
    parser.add_argument("--objective", choices=OBJECTIVES, default="nrmse", help="error measure (default nrmse)")
    weight = parser.add_mutually_exclusive_group()
    weight.add_argument("--spike-weight", type=float, default=0.002, help="error per spike/feature/step (0.002)")
    weight.add_argument("--pareto", action="store_true", help="two-objective studies (error, spike rate)")
    parser.add_argument("--max-spike-rate", type=float, help="with --encoder all: best only among encoders below")
    parser.add_argument(
        "--bounds",
        choices=("auto", "space", "data", "config"),
        default="auto",
        help="auto: the env's config if any, else the space where finite, else the data (default)",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="hold an encoder parameter fixed, e.g. --param n_bins=6 (repeatable)",
    )
    parser.add_argument("--storage", help="optuna storage URL (sqlite:///tune.db) or journal file (*.log)")
    parser.add_argument("--study-name", help="study name prefix in --storage (default spikegym)")
    parser.add_argument("--seed", type=int, default=0, help="rollout and sampler seed (default 0)")
    parser.add_argument("--held-out", type=float, default=0.2, help="fraction of episodes held out (default 0.2)")
    parser.add_argument("--rollouts", help="tune on a saved .npz of rollouts instead of recording")
    parser.add_argument("--agent", help="record with a trained agent (a spikegym train run directory), not at random")
    parser.add_argument("--output", help="config path (default envs_configs/<env-id>.yaml)")
    parser.add_argument("--force", action="store_true", help="replace an existing config (kept as .yaml.bak)")
    parser.add_argument("--plot", help="save a figure of a held-out episode through the chosen encoder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace, parser: argparse.ArgumentParser, argv: Sequence[str]) -> int:
    """Check every argument, then tune, print the table and write the config."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    encoders = _check(args, parser)
    fixed = _fixed_params(args.param, parser)
    known = {name for encoder in encoders for name in parameters(encoder)}
    if set(fixed) - known:
        parser.error(f"--param {sorted(set(fixed) - known)}: not a parameter of {encoders}; they take {sorted(known)}")
    space = gym.make(args.env_id).observation_space
    layout = ObservationLayout.of(space)
    output = Path(args.output) if args.output else Path("envs_configs") / config_filename(args.env_id)
    if output.exists() and not args.force:
        parser.error(f"{output} exists; pass --force to replace it (the old one is kept as {output.name}.bak)")
    rollouts = _rollouts(args, layout)
    tuning, held_out = rollouts.split(args.held_out, seed=args.seed)
    low, high = _bounds(args, layout, tuning)
    print(
        f"{args.env_id}: {rollouts.n_steps} observations in {len(rollouts.episodes)} episodes "
        f"({len(tuning.episodes)} tuning, {len(held_out.episodes)} held out); T={args.substeps}, {args.trials} trials "
        f"per feature, objective {args.objective}"
        + (" + spike rate (Pareto)" if args.pareto else f" + {args.spike_weight} x spike rate")
    )
    results: dict[str, TunedEncoder] = {}
    for name in encoders:
        own = {k: v for k, v in fixed.items() if k in parameters(name)}
        results[name] = tune_encoder(
            name,
            tuning,
            held_out,
            low,
            high,
            substeps=args.substeps,
            upsample=args.upsample,
            n_trials=args.trials,
            objective=args.objective,
            spike_weight=args.spike_weight,
            pareto=args.pareto,
            storage=args.storage,
            study_name=args.study_name,
            seed=args.seed,
            fixed=own,
            features=layout.names,
            progress=not args.no_progress,
        )
    best = _print_table(results, args)
    if best is None:
        parser.error(f"no encoder reaches --max-spike-rate {args.max_spike_rate}; no config written")
    chosen = results[best]
    command = "spikegym " + shlex.join(argv)
    config = chosen.to_config(
        args.env_id,
        low.tolist(),
        high.tolist(),
        layout.names,
        substeps=args.substeps,
        upsample=args.upsample,
        provenance=provenance(command, args.seed, args.trials, args.objective),
    )
    path = config.save(output, force=args.force)
    print(f"wrote {path} ({best})")
    if args.plot:
        encoder = GymnasiumEncoder(space, config)
        title = f"{args.env_id}: {best}, held-out NRMSE {chosen.held_out_scores['nrmse']:.4f}"
        from spikegym.tuning.plots import plot_encoding

        print(f"plotted {plot_encoding(encoder, held_out.episodes[0], args.plot, title, chosen.fronts)}")
    return 0


def _check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[str]:
    """Fail on bad arguments before any work; the encoders to tune."""
    try:
        gym.spec(args.env_id)
    except gym.error.Error as error:
        parser.error(f"unknown env id {args.env_id!r}: {error}")
    if args.encoder != "all" and args.encoder not in names():
        try:
            encoder_class(args.encoder)
        except ValueError:
            parser.error(f"--encoder must be one of {names()} or 'all', got {args.encoder!r}")
    for flag, value, minimum in (
        ("--trials", args.trials, 1),
        ("--steps", args.steps, 2),
        ("--substeps", args.substeps, 1),
    ):
        if value < minimum:
            parser.error(f"{flag} must be >= {minimum}, got {value}")
    if args.episodes is not None and args.episodes < 2:
        parser.error(f"--episodes must be >= 2 (some are held out), got {args.episodes}")
    if not 0 < args.held_out < 1:
        parser.error(f"--held-out must be a fraction in (0, 1), got {args.held_out}")
    if args.spike_weight < 0:
        parser.error(f"--spike-weight must be >= 0, got {args.spike_weight}")
    if args.storage is not None:
        try:
            open_storage(args.storage)
        except ValueError as error:
            parser.error(str(error))
    try:
        ObservationLayout.of(gym.make(args.env_id).observation_space)
    except TypeError as error:
        parser.error(f"{args.env_id}: {error}")
    if args.agent:
        try:
            trained_on = load_run(args.agent).info.env_id
        except RunError as error:
            parser.error(f"--agent: {error}")
        if trained_on != args.env_id:
            parser.error(f"--agent {args.agent} was trained on {trained_on}, not {args.env_id}")
    if args.rollouts and not Path(args.rollouts).is_file():
        parser.error(f"--rollouts {args.rollouts!r} is not a file of recorded rollouts (.npz)")
    return names() if args.encoder == "all" else [encoder_class(args.encoder).name]


def _fixed_params(pairs: list[str], parser: argparse.ArgumentParser) -> dict[str, Any]:
    fixed: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            parser.error(f"--param must look like NAME=VALUE, got {pair!r}")
        fixed[name] = yaml.safe_load(text)
    return fixed


def _rollouts(args: argparse.Namespace, layout: ObservationLayout) -> Rollouts:
    if args.rollouts:
        rollouts = Rollouts.load(args.rollouts)
        if rollouts.env_id != args.env_id or rollouts.features != layout.names:
            raise ValueError(
                f"{args.rollouts} holds rollouts of {rollouts.env_id} with features {list(rollouts.features)}, "
                f"not of {args.env_id} ({list(layout.names)})"
            )
        return rollouts
    if args.agent:
        n_steps, n_episodes = _budget(args)
        return record_agent(args.agent, n_steps, args.seed, progress=not args.no_progress, n_episodes=n_episodes)
    n_steps, n_episodes = _budget(args)
    return record(args.env_id, n_steps, seed=args.seed, progress=not args.no_progress, n_episodes=n_episodes)


def _budget(args: argparse.Namespace) -> tuple[int | None, int | None]:
    """``(n_steps, n_episodes)`` to record: ``--episodes`` if given, else ``--steps``."""
    return (None, args.episodes) if args.episodes is not None else (args.steps, None)


def _bounds(args: argparse.Namespace, layout: ObservationLayout, tuning: Rollouts) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature bounds by ``--bounds``: a config's, the space's, or robust ranges of the tuning data."""
    existing = find_config(args.env_id)
    if args.bounds == "config" or (args.bounds == "auto" and existing is not None):
        if existing is None:
            raise FileNotFoundError(f"--bounds config: no config for {args.env_id} to take bounds from")
        config = load_config(existing)
        if config.low is not None and config.n_features == layout.n_features:
            print(f"bounds from {existing}")
            return np.asarray(config.low), np.asarray(config.high)
        if args.bounds == "config":
            raise ValueError(f"--bounds config: {existing} has no bounds for {layout.n_features} features")
    data_low, data_high = robust_bounds(tuning.values())
    finite = np.isfinite(layout.low) & np.isfinite(layout.high)
    if args.bounds == "data":
        low = np.where(finite, np.maximum(data_low, layout.low), data_low)
        high = np.where(finite, np.minimum(data_high, layout.high), data_high)
        print("bounds from the tuning data (robust quantiles, within the space)")
    else:
        low, high = np.where(finite, layout.low, data_low), np.where(finite, layout.high, data_high)
        print("bounds from the space" + ("" if finite.all() else ", unbounded features from the tuning data"))
    return low + 0.0, high + 0.0  # + 0.0: no -0.0 in the written config


def _print_table(results: dict[str, TunedEncoder], args: argparse.Namespace) -> str | None:
    """Print one row per encoder and return the best under ``--max-spike-rate`` (or ``None``)."""

    def objective(result: TunedEncoder) -> float:
        scores = result.held_out_scores
        return scores[args.objective] + args.spike_weight * scores["spike_rate"]

    allowed = [
        name
        for name, r in results.items()
        if args.max_spike_rate is None or r.held_out_scores["spike_rate"] <= args.max_spike_rate
    ]
    best = min(allowed, key=lambda name: objective(results[name])) if allowed else None
    print(
        f"\n{'encoder':<14}{'held-out ' + args.objective:>18}{'spikes/feature/step':>21}{'objective':>11}"
        f"{'trials':>8}{'time s':>8}"
    )
    for name, result in results.items():
        mark = " *" if name == best else ""
        scores = result.held_out_scores
        print(
            f"{name:<14}{scores[args.objective]:>18.5f}{scores['spike_rate']:>21.3f}{objective(result):>11.5f}"
            f"{result.n_trials:>8}{result.seconds:>8.1f}{mark}"
        )
    limit = "" if args.max_spike_rate is None else f" with at most {args.max_spike_rate} spikes/feature/step"
    print(f"* best held-out objective{limit}")
    return best
