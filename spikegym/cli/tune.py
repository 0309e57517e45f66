"""``spikegym tune``: tune one encoder or all six for an env and write ``envs_configs/<env-id>.yaml``."""

from __future__ import annotations

import argparse
import logging
import math
import os
import shlex
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import optuna
import yaml

from spikegym.cli.checks import env_observation_space
from spikegym.encoders import encoder_class, names, parameters
from spikegym.envs.bounds import robust_bounds
from spikegym.envs.configs import ConfigError, EncoderConfig, config_filename, find_config, load_config, next_backup
from spikegym.envs.gym_encoder import GymnasiumEncoder
from spikegym.envs.layout import ObservationLayout
from spikegym.envs.rollouts import Rollouts, record
from spikegym.rl.rollouts import record_agent
from spikegym.rl.runs import RunError, load_run
from spikegym.tuning.plots import plot_formats
from spikegym.tuning.readers import POLICIES, readable_encoders
from spikegym.tuning.storage import open_storage
from spikegym.tuning.studies import (
    HEARTBEAT_SECONDS,
    OBJECTIVES,
    StudyMismatchError,
    TunedEncoder,
    check_studies,
    provenance,
    tune_encoder,
)

logger = logging.getLogger(__name__)

DEFAULT_STEPS = 4000
"""Observations recorded without ``--steps``, ``--episodes`` or ``--rollouts``."""


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
    parser.add_argument(
        "--policy",
        choices=POLICIES,
        default="stateless",
        help="the policy that will read the encoding. stateless (default: spikegym train's PPO, DQN and SAC "
        "policies reset their membranes at every observation, so they read each T-step window alone): only "
        "encoders whose window alone carries the value are tuned, and the others are named with the reason; "
        "stateful (spikegym train --algo recurrent_ppo, which carries its membranes across env steps): all six",
    )
    parser.add_argument("--trials", type=int, default=100, help="trials per feature (default 100)")
    parser.add_argument("--steps", type=int, help=f"observations to record (default {DEFAULT_STEPS})")
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
    parser.add_argument(
        "--heartbeat",
        type=float,
        default=HEARTBEAT_SECONDS,
        help="seconds between a worker's signs of life in --storage; a trial silent for three is rerun "
        f"(default {HEARTBEAT_SECONDS:g}; the same for every worker of a study)",
    )
    parser.add_argument("--seed", type=int, default=0, help="rollout and sampler seed (default 0)")
    parser.add_argument("--held-out", type=float, default=0.2, help="fraction of episodes held out (default 0.2)")
    parser.add_argument("--rollouts", help="tune on a saved .npz of rollouts instead of recording")
    parser.add_argument("--agent", help="record with a trained agent (a spikegym train run directory), not at random")
    parser.add_argument("--output", help="config path (default envs_configs/<env-id>.yaml)")
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace an existing config and --plot file (each kept as a numbered backup <name>.N.bak)",
    )
    parser.add_argument("--plot", help="save a figure of a held-out episode through the chosen encoder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace, parser: argparse.ArgumentParser, argv: Sequence[str]) -> int:
    """Check every argument, then tune, print the table and write the config."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    encoders = _check(args, parser)
    space = gym.make(args.env_id).observation_space
    layout = ObservationLayout.of(space)
    fixed = _fixed_params(args, parser, encoders, layout.n_features)
    encoders, left_out = _readable(args, parser, encoders, fixed, layout.n_features)
    output = _output(args)
    saved = _saved_rollouts(args, parser, layout)
    bounds_config = _bounds_config(args, parser, layout)
    rollouts = saved if saved is not None else _record(args)
    tuning, held_out = rollouts.split(args.held_out, seed=args.seed)
    low, high = _bounds(args, layout, tuning, bounds_config)
    settings = {
        "substeps": args.substeps,
        "upsample": args.upsample,
        "n_trials": args.trials,
        "objective": args.objective,
        "spike_weight": args.spike_weight,
        "pareto": args.pareto,
        "seed": args.seed,
        "heartbeat": args.heartbeat,
    }
    if args.storage is not None:
        for name in encoders:
            try:
                check_studies(
                    name, tuning, low, high, features=layout.names, storage=args.storage,
                    study_name=args.study_name, fixed=fixed[name], **settings,
                )  # fmt: skip
            except StudyMismatchError as error:
                parser.error(str(error))
    print(
        f"{args.env_id}: {rollouts.n_steps} observations in {len(rollouts.episodes)} episodes "
        f"({len(tuning.episodes)} tuning, {len(held_out.episodes)} held out); T={args.substeps}, {args.trials} trials "
        f"per feature, objective {args.objective}"
        + (" + spike rate (Pareto)" if args.pareto else f" + {args.spike_weight} x spike rate")
    )
    for name, reason in left_out.items():
        print(f"left out {name}: a {args.policy} policy cannot read it: {reason}")
    results: dict[str, TunedEncoder] = {}
    for name in encoders:
        try:
            results[name] = tune_encoder(
                name, tuning, held_out, low, high, storage=args.storage, study_name=args.study_name,
                fixed=fixed[name], features=layout.names, progress=not args.no_progress, **settings,
            )  # fmt: skip
        except StudyMismatchError as error:  # another worker made the study with other settings meanwhile
            parser.error(str(error))
    best = _print_table(results, args)
    if best is None:
        parser.error(f"no encoder reaches --max-spike-rate {args.max_spike_rate}; no config written")
    chosen = results[best]
    command = "spikegym " + shlex.join(argv)
    record = provenance(
        command, args.seed, chosen.n_trials, args.objective, notes=chosen.history(), policy=args.policy,
        considered=encoders, left_out=left_out, choice=_why_chosen(results, best, args),
    )  # fmt: skip
    config = chosen.to_config(
        args.env_id,
        low.tolist(),
        high.tolist(),
        layout.names,
        substeps=args.substeps,
        upsample=args.upsample,
        provenance=record,
    )
    backup = next_backup(output) if output.exists() else None
    path = config.save(output, force=args.force)
    print(f"wrote {path} ({best}; {chosen.history()})" + (f"; the previous one is kept as {backup}" if backup else ""))
    if args.plot:
        encoder = GymnasiumEncoder(space, config)
        title = f"{args.env_id}: {best}, held-out NRMSE {chosen.held_out_scores['nrmse']:.4f}"
        from spikegym.tuning.plots import plot_encoding

        if Path(args.plot).exists():
            kept = shutil.copy2(args.plot, next_backup(Path(args.plot)))
            print(f"the previous {args.plot} is kept as {kept}")
        print(f"plotted {plot_encoding(encoder, held_out.episodes[0], args.plot, title, chosen.fronts)}")
    return 0


def _check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[str]:
    """Fail on bad arguments before any work; the encoders to tune."""
    space = env_observation_space(args.env_id, parser)
    if args.encoder != "all" and args.encoder not in names():
        try:
            encoder_class(args.encoder)
        except ValueError:
            parser.error(f"--encoder must be one of {names()} or 'all', got {args.encoder!r}")
    _check_numbers(args, parser)
    _check_sources(args, parser)
    if args.storage is not None:
        try:
            open_storage(args.storage)
        except ValueError as error:
            parser.error(str(error))
    try:
        ObservationLayout.of(space)
    except TypeError as error:
        parser.error(f"{args.env_id}: {error}")
    _check_target("--output", _output(args), args.force, parser)
    if args.plot:
        _check_plot(args, parser)
    return names() if args.encoder == "all" else [encoder_class(args.encoder).name]


def _readable(
    args: argparse.Namespace,
    parser: argparse.ArgumentParser,
    encoders: list[str],
    fixed: dict[str, dict[str, Any]],
    n_features: int,
) -> tuple[list[str], dict[str, str]]:
    """The encoders ``--policy`` can read and those left out with the reason; an encoder named alone that it
    cannot read is refused, as its config would be of no use to that policy."""
    considered, left_out = readable_encoders(
        args.policy, encoders, substeps=args.substeps, n_features=n_features, fixed=fixed
    )
    if args.encoder != "all" and not considered:
        name = encoders[0]
        readable, _ = readable_encoders(args.policy, names(), substeps=args.substeps, n_features=n_features, fixed={})
        parser.error(
            f"--encoder {args.encoder} with --policy {args.policy}: a {args.policy} policy cannot read {name} at "
            f"--substeps {args.substeps}: {left_out[name]}. Choose one of {readable} or 'all', or pass --policy "
            "stateful for a policy that carries its membranes across env steps"
        )
    return considered, left_out


def _why_chosen(results: dict[str, TunedEncoder], best: str, args: argparse.Namespace) -> str:
    """Why ``best`` won, in words, with the runner-up's objective."""
    weight = f" + {args.spike_weight} x spike rate"
    ranked = sorted(results, key=lambda name: _objective(results[name], args))
    text = (
        f"{best}: lowest held-out {args.objective}{weight}, {_objective(results[best], args):.5f}, "
        f"of {len(results)} tuned"
    )
    if args.max_spike_rate is not None:
        text += f" with at most {args.max_spike_rate} spikes/feature/step"
    others = [name for name in ranked if name != best]
    if not others:
        return f"{best}: the only encoder tuned"
    return text + f" (next: {others[0]}, {_objective(results[others[0]], args):.5f})"


def _objective(result: TunedEncoder, args: argparse.Namespace) -> float:
    """The held-out objective the table ranks by: error plus ``--spike-weight`` times the spike rate."""
    scores = result.held_out_scores
    return scores[args.objective] + args.spike_weight * scores["spike_rate"]


def _check_numbers(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    for flag, value, minimum in (
        ("--trials", args.trials, 1),
        ("--steps", args.steps, 2),
        ("--substeps", args.substeps, 1),
    ):
        if value is not None and value < minimum:
            parser.error(f"{flag} must be >= {minimum}, got {value}")
    if args.episodes is not None and args.episodes < 2:
        parser.error(f"--episodes must be >= 2 (some are held out), got {args.episodes}")
    if not 0 < args.held_out < 1:
        parser.error(f"--held-out must be a fraction in (0, 1), got {args.held_out}")
    if not 0 <= args.spike_weight < math.inf:
        parser.error(f"--spike-weight must be a number >= 0, got {args.spike_weight}")
    if args.max_spike_rate is not None and not 0 < args.max_spike_rate < math.inf:
        parser.error(f"--max-spike-rate must be a number > 0, got {args.max_spike_rate}")
    if not 0 < args.heartbeat < math.inf:
        parser.error(f"--heartbeat must be a number of seconds > 0, got {args.heartbeat}")
    if args.study_name is not None and args.storage is None:
        parser.error("--study-name needs --storage: without one, every run starts a new study in memory")


def _check_sources(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Where the rollouts come from: one of --rollouts, --agent and recording at random, with its budget."""
    if args.rollouts and args.agent:
        parser.error("give one of --rollouts and --agent: the rollouts are read from a file or recorded")
    if args.rollouts:
        for flag, value in (("--steps", args.steps), ("--episodes", args.episodes)):
            if value is not None:
                parser.error(f"{flag}: the rollouts come from --rollouts {args.rollouts}, nothing is recorded")
        if not Path(args.rollouts).is_file():
            parser.error(f"--rollouts {args.rollouts!r} is not a file of recorded rollouts (.npz)")
    if args.steps is not None and args.episodes is not None:
        parser.error("give one of --steps and --episodes")
    if args.agent:
        try:
            trained_on = load_run(args.agent).info.env_id
        except RunError as error:
            parser.error(f"--agent: {error}")
        if trained_on != args.env_id:
            parser.error(f"--agent {args.agent} was trained on {trained_on}, not {args.env_id}")


def _output(args: argparse.Namespace) -> Path:
    return Path(args.output) if args.output else Path("envs_configs") / config_filename(args.env_id)


def _check_target(flag: str, path: Path, force: bool, parser: argparse.ArgumentParser) -> None:
    """A file to write: not a directory, in a directory that exists or can be made, not replaced without --force."""
    if path.is_dir():
        parser.error(f"{flag} {path} is a directory; give a file path")
    if path.exists() and not force:
        parser.error(f"{flag} {path} exists; pass --force to replace it (the old one is kept as a numbered backup)")
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        parser.error(f"{flag} {path}: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK):
        parser.error(f"{flag} {path}: cannot write in {ancestor}")


def _check_plot(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    path = Path(args.plot)
    formats = plot_formats()
    if not path.is_dir():
        if not path.suffix:
            parser.error(f"--plot {path}: give a file name ending in one of {['.' + f for f in formats]}")
        if path.suffix[1:].lower() not in formats:
            parser.error(f"--plot {path}: format {path.suffix[1:]!r} is not supported; choose one of {formats}")
    _check_target("--plot", path, args.force, parser)


def _fixed_params(
    args: argparse.Namespace, parser: argparse.ArgumentParser, encoders: list[str], n_features: int
) -> dict[str, dict[str, Any]]:
    """The ``--param`` values each encoder takes, each combination checked by building the encoder once."""
    fixed: dict[str, Any] = {}
    given: dict[str, str] = {}
    for pair in args.param:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            parser.error(f"--param must look like NAME=VALUE, got {pair!r}")
        fixed[name], given[name] = yaml.safe_load(text), pair
    known = {name for encoder in encoders for name in parameters(encoder)}
    if set(fixed) - known:
        parser.error(f"--param {sorted(set(fixed) - known)}: not a parameter of {encoders}; they take {sorted(known)}")
    per_encoder = {}
    for encoder in encoders:
        own = {k: v for k, v in fixed.items() if k in parameters(encoder)}
        cls = encoder_class(encoder)
        try:
            cls(n_features, **{**cls.tuning_defaults(args.substeps), **own})
        except Exception as error:  # whatever an encoder raises for a value it refuses
            pairs = " ".join(given[k] for k in own)
            parser.error(f"--param {pairs}: {encoder} refuses it ({type(error).__name__}: {error})")
        per_encoder[encoder] = own
    return per_encoder


def _saved_rollouts(
    args: argparse.Namespace, parser: argparse.ArgumentParser, layout: ObservationLayout
) -> Rollouts | None:
    """The rollouts of ``--rollouts``, checked to be of this env and its features; ``None`` without it."""
    if not args.rollouts:
        return None
    try:
        rollouts = Rollouts.load(args.rollouts)
    except Exception as error:  # numpy raises many kinds for a file that is not an .npz of rollouts
        parser.error(f"--rollouts {args.rollouts} cannot be read as rollouts ({type(error).__name__}: {error})")
    if rollouts.env_id != args.env_id or list(rollouts.features) != list(layout.names):
        parser.error(
            f"--rollouts {args.rollouts} holds rollouts of {rollouts.env_id} with features {list(rollouts.features)}, "
            f"not of {args.env_id} ({list(layout.names)})"
        )
    if len(rollouts.episodes) < 2 and (not rollouts.episodes or len(rollouts.episodes[0]) < 2):
        parser.error(f"--rollouts {args.rollouts} holds fewer than 2 observations; some are held out")
    return rollouts


def _record(args: argparse.Namespace) -> Rollouts:
    """Record rollouts with ``--agent`` or at random: ``--episodes`` whole episodes, else ``--steps``."""
    n_steps, n_episodes = (None, args.episodes) if args.episodes is not None else (args.steps or DEFAULT_STEPS, None)
    if args.agent:
        return record_agent(args.agent, n_steps, args.seed, progress=not args.no_progress, n_episodes=n_episodes)
    return record(args.env_id, n_steps, seed=args.seed, progress=not args.no_progress, n_episodes=n_episodes)


def _bounds_config(
    args: argparse.Namespace, parser: argparse.ArgumentParser, layout: ObservationLayout
) -> EncoderConfig | None:
    """The config ``--bounds`` takes the bounds from (``config``, or ``auto`` when there is one), or ``None``."""
    if args.bounds not in ("config", "auto"):
        return None
    existing = find_config(args.env_id)
    if existing is None:
        if args.bounds == "config":
            parser.error(f"--bounds config: no config for {args.env_id} to take bounds from")
        return None
    try:
        config = load_config(existing)
    except ConfigError as error:
        parser.error(f"--bounds {args.bounds}: {error}")
    if config.low is not None and config.n_features == layout.n_features:
        return config
    if args.bounds == "config":
        parser.error(f"--bounds config: {existing} has no bounds for {layout.n_features} features")
    return None


def _bounds(
    args: argparse.Namespace, layout: ObservationLayout, tuning: Rollouts, config: EncoderConfig | None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature bounds by ``--bounds``: a config's, the space's, or robust ranges of the tuning data."""
    if config is not None:
        print(f"bounds from {config.source}")
        return np.asarray(config.low), np.asarray(config.high)
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
        return _objective(result, args)

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
