"""Per-step cost of spike observations: raw CartPole-v1 against the wrapped env, single and vector.

For every encoder (T=8 sub-steps, CartPole's shipped-style bounds) it times,
in the same run and on the same seeded random actions:

* ``env.step`` of the raw single env and of ``SpikeObservationWrapper``: the
  median over ``--steps`` calls (each timed alone with ``perf_counter``; the
  resets after an episode ends are not timed), and the ratio wrapped / raw;
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


def best_of(measure: Callable[[], float], repeats: int = 3) -> float:
    """The lowest median of a few repeats: the least disturbed by other load on the machine."""
    return min(measure() for _ in range(repeats))


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
    raw = best_of(lambda: median_step_us(single(None), n_steps))
    raw_vector = best_of(lambda: median_vector_step_us(vector(None), n_steps))
    print(f"CartPole-v1, T={args.substeps}, median of {n_steps} steps per row (best of 3 repeats)")
    print(f"raw env.step: {raw:.2f} us; raw sync vector env ({args.envs} envs): {raw_vector:.2f} us per env step\n")
    header = (
        f"{'encoder':<13}| {'wrapped us':>10} | {'/ raw':>6} | {'target':>7} | {'vector us/env':>13} | "
        f"{'/ raw':>6} | {'target':>9} | {'/ raw vector':>12}"
    )
    print(header)
    print("-" * len(header))
    for name in names():
        wrapped = best_of(lambda name=name: median_step_us(single(name), n_steps))
        wrapped_vector = best_of(lambda name=name: median_vector_step_us(vector(name), n_steps))
        target = SINGLE_TARGET
        ratio, vector_ratio = wrapped / raw, wrapped_vector / raw
        verdict = "OK" if ratio <= target else "MISS"
        vector_verdict = "OK" if vector_ratio <= VECTOR_TARGET else "MISS"
        print(
            f"{name:<13}| {wrapped:>10.2f} | {ratio:>5.2f}x | {verdict:>4}<={target:.1f} | {wrapped_vector:>13.2f} | "
            f"{vector_ratio:>5.2f}x | {vector_verdict:>4}<={VECTOR_TARGET} | {wrapped_vector / raw_vector:>11.2f}x"
        )
    print("\n/ raw: over the raw single-env step; / raw vector: over the raw sync vector env's step per env")


if __name__ == "__main__":
    main()
