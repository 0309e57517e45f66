"""Per-step cost of spike observations: raw CartPole-v1 against the wrapped env, single and vector.

For every encoder (T=8 sub-steps, CartPole's shipped-style bounds) it times,
in the same run and on the same seeded random actions:

* ``env.step`` of the raw single env and of ``SpikeObservationWrapper``: the
  median over ``--steps`` calls (each timed alone with ``perf_counter``; the
  resets after an episode ends are not timed), and the ratio wrapped / raw,
  the raw env measured again for every encoder, in turns with it, the ratio
  the median of the repeats' ratios (the machine's slow and fast phases last
  seconds: a ratio of lowest times can pair a fast raw with a slow wrapped);
* ``envs.step`` of a sync vector env of ``--envs`` CartPoles, raw and with
  ``SpikeObservationVectorWrapper``: the median per call divided by the
  number of envs (time per env step, autoresets included), and its ratios to
  the raw single-env step and to the raw vector env's step per env.

Targets (issue 14): the single wrapper within 2.5x of the raw step for every
encoder; the vector wrapper's cost per sub-env within 1.5x of the raw
(single-env) step. Run from the repository root::

    python scripts/bench_wrapper.py            # 10,000 steps per row
    python scripts/bench_wrapper.py --quick    # 1,000 steps (CI smoke test)
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np

from spikegym.encoders import names
from spikegym.envs.wrappers import SpikeObservationVectorWrapper, SpikeObservationWrapper

BOUNDS = ([-2.4, -3.0, -0.21, -3.5], [2.4, 3.0, 0.21, 3.5])
SINGLE_TARGET = 2.5
VECTOR_TARGET = 1.5


def median_step_us(env: gym.Env, n_steps: int, seed: int = 0) -> float:
    """Median microseconds per ``env.step`` of a single env over ``n_steps`` random actions."""
    actions = np.random.default_rng(seed).integers(0, 2, size=n_steps)
    env.reset(seed=seed)
    durations = np.empty(n_steps)
    clock = time.perf_counter
    for k, action in enumerate(actions):
        start = clock()
        _, _, terminated, truncated, _ = env.step(int(action))
        durations[k] = clock() - start
        if terminated or truncated:
            env.reset()
    return float(np.median(durations)) * 1e6


def median_vector_step_us(envs: gym.vector.VectorEnv, n_steps: int, seed: int = 0) -> float:
    """Median microseconds per env step (per ``envs.step`` call / ``num_envs``); autoresets included."""
    n_calls = max(n_steps // envs.num_envs, 100)
    actions = np.random.default_rng(seed).integers(0, 2, size=(n_calls, envs.num_envs))
    envs.reset(seed=seed)
    durations = np.empty(n_calls)
    clock = time.perf_counter
    for k, step_actions in enumerate(actions):
        start = clock()
        envs.step(step_actions)
        durations[k] = clock() - start
    return float(np.median(durations)) * 1e6 / envs.num_envs


def in_turns(measures: list[Callable[[], float]], repeats: int = 5) -> np.ndarray:
    """``(repeats, len(measures))`` medians, the measures taking turns within each repeat. This machine runs
    in slow and fast phases of a few seconds (the raw step at 6.5 or 11.5 us), so a ratio is taken within a
    repeat, between measures a fraction of a second apart, and the median of those ratios reported."""
    return np.array([[measure() for measure in measures] for _ in range(repeats)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10_000, help="env steps per measurement (default 10,000)")
    parser.add_argument("--envs", type=int, default=16, help="sub-envs of the vector env (default 16)")
    parser.add_argument("--substeps", type=int, default=8, help="encoder steps per observation T (default 8)")
    parser.add_argument("--quick", action="store_true", help="1,000 steps per measurement")
    args = parser.parse_args()
    n_steps = 1_000 if args.quick else args.steps
    kwargs = {"substeps": args.substeps, "bounds": BOUNDS}

    def single(name: str | None) -> gym.Env:
        env = gym.make("CartPole-v1")
        return env if name is None else SpikeObservationWrapper(env, name, **kwargs)

    def vector(name: str | None) -> gym.vector.VectorEnv:
        envs = gym.make_vec("CartPole-v1", args.envs, vectorization_mode="sync")
        return envs if name is None else SpikeObservationVectorWrapper(envs, name, **kwargs)

    for name in names():  # compile or load every kernel before timing
        median_step_us(single(name), 50)
        median_vector_step_us(vector(name), 50 * args.envs)
    print(f"CartPole-v1, T={args.substeps}, median of {n_steps} steps per measurement; 5 repeats per row, each")
    print("measuring the raw env and the wrapped one in turns: times are the lowest of the repeats, ratios the")
    print(f"median of the repeats' ratios (raw vector: per env step of the {args.envs}-env sync vector env)\n")
    header = (
        f"{'encoder':<13}| {'raw us':>6} | {'wrapped us':>10} | {'/ raw':>6} | {'target':>9} | {'raw vector':>10} | "
        f"{'vector us/env':>13} | {'/ raw':>6} | {'target':>9} | {'/ raw vector':>12}"
    )
    print(header)
    print("-" * len(header))
    for name in names():
        times = in_turns(
            [
                lambda: median_step_us(single(None), n_steps),
                lambda name=name: median_step_us(single(name), n_steps),
                lambda: median_vector_step_us(vector(None), n_steps),
                lambda name=name: median_vector_step_us(vector(name), n_steps),
            ]
        )
        raw, wrapped, raw_vector, wrapped_vector = times.min(axis=0)
        ratio = float(np.median(times[:, 1] / times[:, 0]))
        vector_ratio = float(np.median(times[:, 3] / times[:, 0]))
        of_raw_vector = float(np.median(times[:, 3] / times[:, 2]))
        verdict = "OK" if ratio <= SINGLE_TARGET else "MISS"
        vector_verdict = "OK" if vector_ratio <= VECTOR_TARGET else "MISS"
        print(
            f"{name:<13}| {raw:>6.2f} | {wrapped:>10.2f} | {ratio:>5.2f}x | {verdict:>4}<={SINGLE_TARGET:.1f} | "
            f"{raw_vector:>10.2f} | {wrapped_vector:>13.2f} | {vector_ratio:>5.2f}x | "
            f"{vector_verdict:>4}<={VECTOR_TARGET} | {of_raw_vector:>11.2f}x"
        )
    print("\n/ raw: over the raw single-env step; / raw vector: over the raw sync vector env's step per env")


if __name__ == "__main__":
    main()
