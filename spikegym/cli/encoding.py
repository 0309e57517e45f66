"""``spikegym demo`` and ``spikegym score``: how well encoders carry an env's observations.

``demo`` encodes and decodes a CartPole-v1 trajectory with every encoder
(default parameters) and prints the reconstruction error and the spike rate
of each; ``score`` scores an env's encoder config the same way on a seeded
random rollout, as the wrapper encodes it.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch

from spikegym.cli.checks import env_observation_space
from spikegym.encoders import make, names
from spikegym.envs.configs import load_config
from spikegym.envs.gym_encoder import GymnasiumEncoder
from spikegym.envs.rollouts import balancing_policy, record
from spikegym.tuning.objectives import stream_scores


def add_parsers(commands: Any) -> None:
    """Add the ``demo`` and ``score`` sub-commands."""
    demo_parser = commands.add_parser("demo", help="encode and decode a CartPole trajectory with every encoder")
    demo_parser.add_argument("--env", default="CartPole-v1", help="Gymnasium environment id (default CartPole-v1)")
    demo_parser.add_argument("--steps", type=int, default=500, help="observations to record (default 500)")
    demo_parser.add_argument("--substeps", type=int, default=8, help="encoder steps per observation (default 8)")
    demo_parser.add_argument("--seed", type=int, default=0, help="environment seed (default 0)")
    score_parser = commands.add_parser(
        "score", help="reconstruction error and spike rate of an env's encoder config on a seeded random rollout"
    )
    score_parser.add_argument("env_id", help="Gymnasium environment id, e.g. CartPole-v1")
    score_parser.add_argument("--config", help="a .yaml config (default: the env's config in envs_configs/)")
    score_parser.add_argument("--steps", type=int, default=2000, help="observations to record (default 2000)")
    score_parser.add_argument("--seed", type=int, default=2, help="rollout seed (default 2)")


def run_demo(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Check the arguments, run the demo and print its table."""
    for flag, value in (("--steps", args.steps), ("--substeps", args.substeps)):
        if value < 1:
            parser.error(f"{flag} must be >= 1, got {value}")
    env_observation_space(args.env, parser)
    rows = demo(args.env, args.steps, args.substeps, args.seed)
    _print_demo(rows, args.env, args.steps, args.substeps)
    return 0


def run_score(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Check the arguments and print the scores of the env's config."""
    if args.steps < 1:
        parser.error(f"--steps must be >= 1, got {args.steps}")
    space = env_observation_space(args.env_id, parser)
    try:
        config = load_config(args.config if args.config is not None else args.env_id)
        encoder = GymnasiumEncoder(space, config, env_id=args.env_id)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    score(encoder, args.steps, args.seed)
    return 0


def demo(env_id: str, n_steps: int, substeps: int, seed: int) -> list[dict[str, float | str]]:
    """Encode and decode a trajectory with every encoder; one result row per encoder.

    Each observation is held for ``substeps`` encoder steps, as the Gymnasium
    wrapper presents it; errors are over all sub-steps, relative to each
    feature's range (NRMSE) and in signal units (MAE).
    """
    policy = balancing_policy if env_id.startswith("CartPole") else None
    observations = record(env_id, n_steps, seed, policy=policy).values()
    signal = torch.from_numpy(np.repeat(observations, substeps, axis=0))
    value_range = signal.max(0).values - signal.min(0).values
    rows: list[dict[str, float | str]] = []
    for name in names():
        encoder = make(name, signal.shape[-1]).double().fit(signal)
        start = time.perf_counter()
        spikes, recon = encoder.reconstruct(signal)
        elapsed = time.perf_counter() - start
        error = recon - signal
        spike_count = spikes.abs().sum().item()
        rows.append(
            {
                "encoder": name,
                "spikes_per_feature_step": spike_count / (n_steps * signal.shape[-1]),
                "nrmse": float((error.pow(2).mean(0).sqrt() / value_range).mean()),
                "mae": float(error.abs().mean()),
                "ms": 1000 * elapsed,
            }
        )
    return rows


def _print_demo(rows: list[dict[str, float | str]], env_id: str, n_steps: int, substeps: int) -> None:
    print(f"{env_id}: {n_steps} observations, each held for {substeps} encoder steps; default parameters after fit")
    print(f"{'encoder':<14}{'spikes/feature/obs':>20}{'NRMSE':>10}{'MAE':>10}{'ms':>8}")
    for row in rows:
        print(
            f"{row['encoder']:<14}{row['spikes_per_feature_step']:>20.3f}{row['nrmse']:>10.4f}"
            f"{row['mae']:>10.4f}{row['ms']:>8.1f}"
        )


def score(encoder: GymnasiumEncoder, n_steps: int, seed: int) -> None:
    """Print the stream scores of ``encoder`` (built from an env's config) on a seeded random rollout of its env."""
    env_id, config = encoder.env_id, encoder.config
    scores = stream_scores(encoder, record(env_id, n_steps, seed))
    print(f"{env_id}: config {config.source} ({config.encoder}, T={encoder.substeps}, {encoder.n_channels} channels)")
    print(f"random-policy rollout of {n_steps} steps, seed {seed}")
    print(
        f"NRMSE {scores.nrmse:.4f}  MSE {scores.mse:.6f}  MAE {scores.mae:.5f}  "
        f"spikes/feature/step {scores.spike_rate:.3f}"
    )
    per_feature = zip(encoder.layout.names, scores.nrmse_per_feature, strict=True)
    print("NRMSE per feature: " + ", ".join(f"{name} {value:.4f}" for name, value in per_feature))
