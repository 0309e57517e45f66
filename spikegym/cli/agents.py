"""``spikegym train``, ``replay`` and ``export``: spiking agents with stable-baselines3, what they cost, NIR."""

from __future__ import annotations

import argparse
import math
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from spikegym.cli.checks import env_spaces
from spikegym.rl.energy import E_AC_PJ, E_MAC_PJ, EnergyModel
from spikegym.rl.energy_models import PRESETS, energy_model
from spikegym.rl.recipes import ALGOS, RecipeError, find_recipe
from spikegym.rl.runs import Run, RunError, load_run

if TYPE_CHECKING:
    from spikegym.rl.replay import ReplayReport
    from spikegym.rl.training import Overrides


def add_parsers(commands: Any) -> None:
    """Add the ``train``, ``replay`` and ``export`` sub-commands."""
    train = commands.add_parser(
        "train",
        help="train a spiking agent (or the MLP baseline) with its recipe into a new run directory",
        description="Train an SB3 agent on ENV_ID with agents/ALGO.yaml, on spike observations from the env's "
        "encoder config (or --encoder), or with --ann an MLP on the raw observations.",
    )
    train.add_argument("env_id", help="Gymnasium environment id, e.g. CartPole-v1")
    train.add_argument("--algo", default="ppo", help=f"one of {list(ALGOS)} (default ppo)")
    train.add_argument(
        "--timesteps",
        type=int,
        help="training budget (default: the recipe's n_timesteps; with --continue, what the run has left)",
    )
    train.add_argument(
        "--seed", type=int, help="seed of the envs, the model and torch (default 0; with --continue, the run's)"
    )
    train.add_argument("--encoder", help="an encoder name or a .yaml config (default: the env's config)")
    train.add_argument("--ann", action="store_true", help="train the MLP baseline on raw observations")
    train.add_argument("--runs-dir", default="runs", help="where run directories go (default runs/)")
    train.add_argument("--eval-freq", type=int, help="evaluate every N env steps (default: a tenth of the budget)")
    train.add_argument("--eval-episodes", type=int, default=5, help="episodes per evaluation (default 5)")
    train.add_argument(
        "--save-freq", type=int, help="save a checkpoint every N env steps into RUN_DIR/checkpoints/ (default: none)"
    )
    train.add_argument(
        "--n-envs", type=int, help="parallel envs (default: the recipe's n_envs), recorded in the run directory"
    )
    train.add_argument(
        "--hyperparams",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override the recipe: keyword arguments of the SB3 algorithm (learning_rate=0.0005) and spiking "
        "options (spiking.beta=0.95, spiking.hidden=[128,64]); values are YAML, checked against the algorithm's "
        "and SpikingExtractor's signatures, recorded in the run directory",
    )
    train.add_argument(
        "--env-kwargs",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="keyword arguments of gym.make for the env (YAML values), recorded in the run; replay uses them",
    )
    train.add_argument(
        "-i",
        "--trained-agent",
        "--continue",
        dest="continue_from",
        metavar="RUN_DIR",
        help="train on from this run's model (or from one of its checkpoints/model_N_steps.zip), encoder config "
        "and recipe (same env and algo) into a new run directory; --timesteps N more steps (default: what an "
        "interrupted run has left)",
    )
    train.add_argument(
        "--nir-exact",
        action="store_true",
        help="spiking layers whose dynamics are NIR primitives (reset to zero, spike-count read-out), so that "
        "the NIR export runs as trained in snntorch, norse and on chips",
    )
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument(
        "--device", default="cpu", help="torch device of the networks: cpu (default), cuda, cuda:N or auto"
    )

    replay = commands.add_parser(
        "replay",
        help="evaluate a run directory and report spike rates, operations and energy per decision",
        description="Load RUN_DIR exactly as trained (its saved encoder config), evaluate it, and print the "
        "return, spike rates, synaptic operations and energy per decision next to the equivalent ANN.",
    )
    replay.add_argument(
        "run_dir", help="a run directory written by spikegym train, or one of its checkpoints/model_N_steps.zip"
    )
    replay.add_argument("--episodes", type=int, default=20, help="episodes to evaluate (default 20)")
    replay.add_argument("--deterministic", action="store_true", help="deterministic actions")
    replay.add_argument("--seed", type=int, default=0, help="seed of the first reset (default 0)")
    replay.add_argument("--video", help="save the first episode as a .gif or .mp4")
    replay.add_argument("--raster", help="save the first episode's input and hidden spike rasters (.png)")
    replay.add_argument(
        "--energy-model",
        metavar="NAME|FILE.yaml",
        help=f"price the operations with a preset ({', '.join(sorted(PRESETS))}) or a custom model's YAML file "
        "(name, e_ac_pj, e_mac_pj, optional e_neuron_pj, e_memory_pj, source, leaves_out); docs/energy.md "
        f"gives each preset's source (default: {E_AC_PJ} pJ per AC, {E_MAC_PJ} pJ per MAC, nothing else)",
    )
    replay.add_argument(
        "--memory", action="store_true", help="add the preset's memory-access term (a weight read per AC and MAC)"
    )
    replay.add_argument(
        "--e-ac", type=float, help=f"pJ per accumulate of a model of ACs and MACs only (default {E_AC_PJ})"
    )
    replay.add_argument(
        "--e-mac", type=float, help=f"pJ per multiply-accumulate of a model of ACs and MACs only ({E_MAC_PJ})"
    )
    replay.add_argument(
        "--no-neurobench",
        action="store_true",
        help="skip NeuroBench's counts of a spiking run (measured when neurobench is installed)",
    )
    replay.add_argument(
        "--allow-edited",
        action="store_true",
        help="load a run whose files changed since it was written (their sha256 differs from run.yaml's), "
        "with a warning; the agent may then not run as trained",
    )

    export = commands.add_parser(
        "export",
        help="write a run's spiking policy in the Neuromorphic Intermediate Representation (NIR)",
        description="Write RUN_DIR's acting network as a NIR graph that other tools (snntorch, norse, chips) run as "
        "trained: a NIR-exact spiking policy (spikegym train --nir-exact) of PPO, A2C or DQN, or the actor of SAC "
        "or TD3. --check runs recorded observations through each NIR reader and prints its agreement.",
    )
    export.add_argument("run_dir", help="a run directory written by spikegym train --nir-exact")
    export.add_argument("--nir", required=True, help="the .nir file to write (never overwritten)")
    export.add_argument(
        "--check",
        action="store_true",
        help="run recorded observations of the run's env through spikegym's, snntorch's and norse's NIR readers "
        "and the trained model, and print the agreement per reader (exit 1 if an installed reader agrees on "
        "fewer than 99%%)",
    )
    export.add_argument("--check-steps", type=int, default=300, help="observations --check records (default 300)")
    export.add_argument("--seed", type=int, default=0, help="seed of --check's recording (default 0)")
    export.add_argument(
        "--if-as-lif",
        action="store_true",
        help="write layers with beta = 1 as a LIF with a 2^30 dt time constant (a leak below float32's "
        "resolution) instead of NIR's IF, which snntorch 1.0's reader cannot run",
    )


def _check_device(device: str, parser: argparse.ArgumentParser) -> None:
    """Fail on a device torch does not know or that is not there (SB3 would fall back to the CPU silently)."""
    import torch

    if device == "auto":
        return
    try:
        parsed = torch.device(device)
    except RuntimeError as error:
        parser.error(f"--device {device!r} is not a torch device (cpu, cuda, cuda:N or auto): {error}")
    if parsed.type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {device!r}: torch sees no CUDA device here; use cpu or auto")
    if parsed.type not in ("cpu", "cuda"):
        parser.error(f"--device {device!r}: only cpu, cuda, cuda:N or auto are supported")


MAX_ENVS = 1024
"""The most parallel envs ``--n-envs`` accepts."""
TRAIN_FLAGS = {
    "timesteps": "--timesteps",
    "seed": "--seed",
    "eval_freq": "--eval-freq",
    "n_eval_episodes": "--eval-episodes",
    "save_freq": "--save-freq",
    "runs_dir": "--runs-dir",
}
"""The flag of each :func:`~spikegym.rl.training.train` argument, for error messages."""


def run_train(args: argparse.Namespace, parser: argparse.ArgumentParser, argv: Sequence[str]) -> int:
    """Check the arguments before any work, train, and print where the run went and how it ended.

    Returns 0, or ``128 + signal number`` when SIGINT (130) or SIGTERM (143) interrupted training.
    """
    from spikegym.rl.algorithms import action_space_problem
    from spikegym.rl.training import LEARNABLE, check_train_arguments, train

    overrides = _overrides(args, parser)
    _, action_space = env_spaces(args.env_id, parser, overrides.env_kwargs)
    problem = action_space_problem(args.algo, action_space)
    if problem:
        parser.error(f"--algo {args.algo}: {problem} ({args.env_id}'s); choose another algorithm")
    try:
        find_recipe(args.algo, args.env_id)
    except RecipeError as error:
        parser.error(str(error))
    try:
        check_train_arguments(
            args.timesteps, args.seed, args.eval_freq, args.eval_episodes, args.save_freq, args.runs_dir, TRAIN_FLAGS
        )
    except ValueError as error:
        parser.error(str(error))
    if args.ann and args.encoder:
        parser.error("--ann trains on raw observations; it takes no --encoder")
    if args.nir_exact and (args.ann or args.encoder == LEARNABLE or args.continue_from is not None):
        parser.error("--nir-exact trains new spiking layers on spike observations; it takes no --ann, "
                     f"--encoder {LEARNABLE} or --continue")  # fmt: skip
    if args.continue_from is not None:
        _check_continue(args, parser)
    elif not args.ann:
        _check_encoder(args, parser, overrides.env_kwargs)
    _check_device(args.device, parser)
    try:
        run_dir, _ = train(
            args.env_id,
            args.algo,
            timesteps=args.timesteps,
            seed=args.seed,
            encoder=args.encoder,
            ann=args.ann,
            runs_dir=args.runs_dir,
            progress=not args.no_progress,
            eval_freq=args.eval_freq,
            n_eval_episodes=args.eval_episodes,
            command="spikegym " + " ".join(argv),
            device=args.device,
            save_freq=args.save_freq,
            continue_from=args.continue_from,
            nir_exact=args.nir_exact,
            overrides=overrides,
        )
    except RunError as error:  # what only loading the run's model tells: e.g. a checkpoint with no steps left
        parser.error(f"--continue: {error}" if args.continue_from else str(error))
    except KeyboardInterrupt:
        print("interrupted before training started: nothing was saved", file=sys.stderr)
        return 128 + signal.SIGINT
    return _report_training(run_dir, args)


def _overrides(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Overrides:
    """``--hyperparams``, ``--n-envs`` and ``--env-kwargs`` parsed and checked (not with ``--continue``)."""
    from spikegym.rl.overrides import check_hyperparams, parse_pairs
    from spikegym.rl.training import Overrides

    if args.algo not in ALGOS:
        parser.error(f"--algo must be one of {list(ALGOS)}, got {args.algo!r}")
    if args.n_envs is not None and not 1 <= args.n_envs <= MAX_ENVS:
        parser.error(f"--n-envs must be an integer in [1, {MAX_ENVS}], got {args.n_envs}")
    try:
        hyperparams = check_hyperparams(args.algo, parse_pairs(args.hyperparams, "--hyperparams"))
        env_kwargs = parse_pairs(args.env_kwargs, "--env-kwargs")
    except ValueError as error:
        parser.error(str(error))
    overrides = Overrides(hyperparams, args.n_envs, env_kwargs)
    if overrides and args.continue_from is not None:
        parser.error("--continue trains the run on with its own recipe and env; it takes no --hyperparams, "
                     "--n-envs or --env-kwargs")  # fmt: skip
    return overrides


def _check_encoder(args: argparse.Namespace, parser: argparse.ArgumentParser, env_kwargs: Mapping[str, Any]) -> None:
    from spikegym.rl.training import resolve_encoder

    try:
        resolve_encoder(args.env_id, args.encoder, env_kwargs)
    except (ValueError, FileNotFoundError) as error:
        parser.error(f"--encoder: {error}")


def _check_continue(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """``--continue RUN_DIR``: a run that loads, of this env and algo, with steps left or ``--timesteps``."""
    if args.encoder or args.ann:
        parser.error("--continue keeps the encoder and policy of the run it continues; it takes no --encoder or --ann")
    try:
        run = load_run(args.continue_from)
    except RunError as error:
        parser.error(f"--continue: {error}")
    info = run.info
    if (info.env_id, info.algo) != (args.env_id, args.algo):
        parser.error(
            f"--continue {args.continue_from}: it is a {info.env_id} {info.algo} run; "
            f"it cannot continue training {args.env_id} with --algo {args.algo}"
        )
    if args.timesteps is None and run.checkpoint is None and (info.steps is None or info.steps >= info.n_timesteps):
        parser.error(
            f"--continue {args.continue_from}: the run trained its whole budget ({info.n_timesteps} steps); "
            "give --timesteps N to train N more"
        )


def _report_training(run_dir: Path, args: argparse.Namespace) -> int:
    info = load_run(run_dir).info
    if info.status == "interrupted":
        print(
            f"training interrupted by {info.stop_signal} at step {info.steps} of {info.n_timesteps}; "
            "the model is saved",
            file=sys.stderr,
        )
    print(f"run directory: {run_dir}")
    final = _last_evaluation(run_dir)
    if final is not None:
        print(f"last evaluation: mean return {final:.1f}")
    print(f"replay it with: spikegym replay {run_dir} --deterministic")
    if info.status != "interrupted":
        return 0
    print(f"continue it with: spikegym train {info.env_id} --algo {info.algo} --continue {run_dir}")
    return 128 + signal.Signals[info.stop_signal or "SIGINT"]


def _last_evaluation(run_dir: Path) -> float | None:
    evaluations = run_dir / "eval" / "evaluations.npz"
    if not evaluations.is_file():
        return None
    with np.load(evaluations) as data:
        return float(np.mean(data["results"][-1]))


def run_replay(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Load the run, replay it and print the report."""
    from spikegym.rl.neurobench_metrics import neurobench_installed
    from spikegym.rl.replay import baseline_name, check_outputs, replay

    if args.episodes < 1:
        parser.error(f"--episodes must be >= 1, got {args.episodes}")
    if not 0 <= args.seed < 2**32:
        parser.error(f"--seed must be an integer in [0, {2**32 - 1}], got {args.seed}")
    energy = _energy_model(args, parser)
    try:
        run = load_run(args.run_dir, allow_edited=args.allow_edited)
        check_outputs(run, args.video, args.raster, ("--video", "--raster"))
    except (RunError, ValueError) as error:
        parser.error(str(error))
    _warn_about(run)
    neurobench = run.spiking and not args.no_neurobench and neurobench_installed()
    report = replay(run, args.episodes, args.deterministic, args.seed, energy, args.video, args.raster, neurobench)
    info = run.info
    print(f"{info.env_id} {info.algo} ({info.policy}{', ' + info.encoder if info.encoder else ''}, seed {info.seed})")
    if run.checkpoint is not None:
        print(f"checkpoint: {run.checkpoint}")
    if run.interrupted:
        print(f"interrupted run: training stopped by {info.stop_signal} at step {info.steps} of {info.n_timesteps}")
    print(f"return over {args.episodes} episodes: {report.mean_return:.2f} +- {report.std_return:.2f}")
    print("\n".join(energy.describe()))
    if report.spiking is not None and report.ann is not None:
        print(f"input: {report.input_spikes:.1f} spikes per decision ({report.input_rate:.4f} per channel per step)")
        rates = ", ".join(f"layer {i + 1} {rate:.4f}" for i, rate in enumerate(report.hidden_rates))
        print(f"hidden spike rates (per neuron per step): {rates}")
        rows = [("spiking", report.spiking), ("same-size ANN", report.ann)]
        if report.baseline is not None:
            rows.append((baseline_name(run.recipe), report.baseline))
        print(f"{'per decision':<16}{'synaptic ops (AC)':>18}{'neuron updates':>16}{'MACs':>10}{'energy nJ':>11}")
        for name, cost in rows:
            print(
                f"{name:<16}{cost.synaptic_ops:>18.0f}{cost.neuron_updates:>16.0f}{cost.macs:>10.0f}"
                f"{cost.energy_pj / 1000:>11.3f}"
            )
        print(f"spiking / same-size ANN energy: {report.spiking.energy_pj / report.ann.energy_pj:.3f}")
        if report.baseline is not None:
            print(
                f"spiking / {info.algo} ANN baseline energy: {report.spiking.energy_pj / report.baseline.energy_pj:.3f}"
                " (the recipe's ann_net_arch on the raw observation, as spikegym train --ann trains it)"
            )
        _print_neurobench(report, energy, args.no_neurobench)
    elif report.ann is not None:
        print(f"per decision: {report.ann.macs:.0f} MACs, {report.ann.energy_pj / 1000:.3f} nJ")
    for flag, path in (("video", args.video), ("raster", args.raster)):
        if path:
            print(f"{flag}: {path}")
    return 0


def _energy_model(args: argparse.Namespace, parser: argparse.ArgumentParser) -> EnergyModel:
    """The energy model the replay flags ask for: a preset or YAML file (``--energy-model``, ``--memory``), or
    one of ACs and MACs only (``--e-ac``, ``--e-mac``); a conflict or a bad value is a usage error."""
    custom = [flag for flag, value in (("--e-ac", args.e_ac), ("--e-mac", args.e_mac)) if value is not None]
    for flag, value in (("--e-ac", args.e_ac), ("--e-mac", args.e_mac)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            parser.error(f"{flag} must be a finite energy >= 0 (pJ), got {value}")
    if args.energy_model is None:
        if args.memory:
            parser.error("--memory adds a preset's memory-access term: give --energy-model NAME with it")
        if not custom:
            return EnergyModel()
        return EnergyModel(
            E_AC_PJ if args.e_ac is None else args.e_ac,
            E_MAC_PJ if args.e_mac is None else args.e_mac,
            name="custom",
            source=f"given with {' and '.join(custom)}",
        )
    if custom:
        parser.error(
            f"{' and '.join(custom)} set the energies of a model of ACs and MACs only; --energy-model "
            f"{args.energy_model} brings its own: give one or the other (a YAML model can hold your own figures)"
        )
    if args.memory and args.energy_model not in PRESETS:
        parser.error("--memory adds a preset's memory-access term; a YAML model sets its own e_memory_pj")
    try:
        return energy_model(args.energy_model, args.memory)
    except ValueError as error:
        parser.error(f"--energy-model: {error}")


def _print_neurobench(report: ReplayReport, energy: EnergyModel, skipped: bool) -> None:
    """NeuroBench's counts of the acting network next to spikegym's, and both energies under ``energy``."""
    from spikegym.rl.neurobench_metrics import NEUROBENCH_INSTALL

    counts = report.neurobench
    if counts is None:
        print(
            "NeuroBench counts: " + ("skipped (--no-neurobench)" if skipped else f"not installed: {NEUROBENCH_INSTALL}")
        )
        return
    spiking = report.spiking
    print(
        f"NeuroBench (SynapticOperations, MembraneUpdates, ActivationSparsity) of the acting network over the "
        f"{counts.decisions} replayed decisions, per decision, next to spikegym's counts:"
    )
    print(
        f"{'':<12}{'effective ACs':>15}{'effective MACs':>16}{'dense ops':>12}{'neuron updates':>16}"
        f"{'act. sparsity':>15}{'energy nJ':>11}"
    )
    nb_energy = counts.cost(energy).energy_pj
    print(
        f"{'NeuroBench':<12}{counts.effective_acs:>15.1f}{counts.effective_macs:>16.1f}{counts.dense_ops:>12.0f}"
        f"{counts.membrane_updates:>16.1f}{counts.activation_sparsity:>15.4f}{nb_energy / 1000:>11.3f}"
    )
    print(
        f"{'spikegym':<12}{spiking.synaptic_ops:>15.1f}{spiking.macs:>16.1f}{report.dense_ops:>12.0f}"
        f"{spiking.neuron_updates:>16.1f}{report.activation_sparsity:>15.4f}{spiking.energy_pj / 1000:>11.3f}"
    )
    print(
        "(spikegym counts every weight of the head as a MAC and every neuron at every sub-step as updated; "
        "NeuroBench only nonzero inputs x nonzero weights and membranes that changed: docs/energy.md)"
    )


def _warn_about(run: Run) -> None:
    """Say loudly when a run's files are not the ones it was written with, or cannot be verified."""
    for name in run.edited:
        print(
            f"WARNING: {run.path / name} changed since the run was written (--allow-edited): "
            "the agent may not run as trained",
            file=sys.stderr,
        )
    if not run.verified:
        print(
            f"warning: {run.path} was written before spikegym recorded checksums; its files cannot be verified",
            file=sys.stderr,
        )


def run_export(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Write the run's policy as NIR (refusing to overwrite a file or to export what NIR cannot carry as trained);
    with ``--check``, print each reader's agreement with the trained model. Returns 1 if a reader disagreed."""
    from spikegym.rl.export import ExportError, check_exportable, export_policy
    from spikegym.rl.replay import make_replay_env
    from spikegym.rl.training import load_model

    target = Path(args.nir)
    if target.exists():
        parser.error(f"{target} exists; choose another path or delete it first")
    if args.check_steps < 1:
        parser.error(f"--check-steps must be an integer >= 1, got {args.check_steps}")
    if not 0 <= args.seed < 2**32:
        parser.error(f"--seed must be an integer in [0, {2**32 - 1}], got {args.seed}")
    try:
        run = load_run(args.run_dir)
        check_exportable(run.info.algo, run.info.encoder, run.recipe)
        model = load_model(run)
        env = make_replay_env(run)
        info = {"env_id": run.info.env_id, "encoder": str(run.info.encoder), "run": str(run.path)}
        channels = env.get_wrapper_attr("gym_encoder").channel_names
        graph = export_policy(model, target, "lif" if args.if_as_lif else "if", channels, info)
    except (RunError, ExportError) as error:
        parser.error(str(error))
    meta = graph.metadata
    print(f"wrote {target}: {len(graph.nodes)} NIR nodes ({', '.join(graph.nodes)})")
    print(f"run it for {meta['substeps']} sub-steps per observation at dt = {meta['dt']}, {meta['state']}")
    print(f"action: {meta['action']}")
    if not args.check:
        return 0
    return _check_readers(model, env, graph, args)


def _check_readers(model: Any, env: gym.Env, graph: Any, args: argparse.Namespace) -> int:
    from spikegym.rl.export import actor_of
    from spikegym.rl.nir_readers import AGREEMENT, compare, describe, record_episodes

    observations, starts = record_episodes(model, env, args.check_steps, args.seed)
    actor = actor_of(model)
    results = compare(actor, graph, observations, starts=starts)
    env_id = env.spec.id if env.spec else "the env"
    runs = "each episode run as one sequence from zero state" if actor.stateful else "each run from zero state"
    print(f"check: {len(observations)} recorded observations of {env_id} (seed {args.seed}), {runs}")
    for result in results:
        print(f"  {describe(result)}")
    failed = [r for r in results if r.problem is None and not r.ok] + [
        r for r in results if r.problem is not None and r.problem.startswith("failed")
    ]
    if any(r.reader == "snntorch" and r.problem and "r != 1" in r.problem for r in results):
        print("  snntorch 1.0 reads NIR's IF as a leaky neuron; export with --if-as-lif for snntorch")
    if failed:
        names = ", ".join(r.reader for r in failed)
        print(f"check failed: {names} did not run the graph as trained (needed: {AGREEMENT:.0%} of actions)")
        return 1
    return 0
