"""The zoo's MLP DQN recipe on other views of the same observations: what costs DQN the flag on MountainCar-v0.

rl-baselines3-zoo's DQN recipe for MountainCar-v0 (``agents/dqn.yaml``'s MLP: its hyperparameters, 256-256)
is trained on one view of the env's observations and evaluated over 20 deterministic episodes
(seeds ``SEED + 1000 + i``, as the benchmark replays). The views:

- ``raw``: the env's own observations (position in [-1.2, 0.6], velocity within +-0.07);
- ``scaled``: each feature scaled to [0, 1] by the shipped encoder config's bounds (what every encoder
  sees before it makes spikes);
- ``centred``: the same scaled to [-1, 1];
- ``raw-position``: raw position, velocity scaled to [-1, 1];
- ``spikes``: the shipped encoder config's spike blocks, flattened.

Each run appends a row to ``results/dqn_inputs.csv``:

    env, view, seed, steps, final_return, final_return_std, wall_s

Finished ``(env, view, seed, steps)`` rows are not run again. Run from the repository root::

    python scripts/probe_dqn_inputs.py --views raw scaled --seeds 0 1 2      # about 5 min per run, 1 core
    python scripts/probe_dqn_inputs.py --quick                               # seconds: tiny budget
"""

from __future__ import annotations

import argparse
import csv
import time
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from bench_agents import append
from stable_baselines3 import DQN

import spikegym
from spikegym.envs.configs import find_config, load_config
from spikegym.rl.recipes import load_recipe, with_schedules

COLUMNS = ["env", "view", "seed", "steps", "final_return", "final_return_std", "wall_s"]
VIEWS = ("raw", "scaled", "centred", "raw-position", "spikes")


def _scaling(env_id: str) -> tuple[np.ndarray, np.ndarray]:
    """The shipped encoder config's bounds ``(low, high)`` of ``env_id``."""
    config = load_config(find_config(env_id))
    return np.asarray(config.low, np.float32), np.asarray(config.high, np.float32)


def make_view(env_id: str, view: str) -> gym.Env:
    """``env_id`` with the observations of ``view`` (one of :data:`VIEWS`).

    >>> make_view("MountainCar-v0", "centred").observation_space
    Box(-1.0, 1.0, (2,), float32)
    """
    if view == "spikes":
        return spikegym.make(env_id)
    env = gym.make(env_id)
    if view == "raw":
        return env
    low, high = _scaling(env_id)
    transforms: dict[str, tuple[Callable[[np.ndarray], np.ndarray], np.ndarray, np.ndarray]] = {
        "scaled": (lambda o: (o - low) / (high - low), np.zeros_like(low), np.ones_like(high)),
        "centred": (lambda o: 2 * (o - low) / (high - low) - 1, -np.ones_like(low), np.ones_like(high)),
        "raw-position": (
            lambda o: np.array([o[0], 2 * (o[1] - low[1]) / (high[1] - low[1]) - 1]),
            np.array([low[0], -1.0]),
            np.array([high[0], 1.0]),
        ),
    }
    if view not in transforms:
        raise ValueError(f"view must be one of {list(VIEWS)}, got {view!r}")
    transform, space_low, space_high = transforms[view]
    space = gym.spaces.Box(space_low.astype(np.float32), space_high.astype(np.float32))
    return gym.wrappers.TransformObservation(env, lambda o: transform(o).astype(np.float32), space)


def probe(env_id: str, view: str, seed: int, steps: int | None, episodes: int) -> dict:
    """Train the recipe's MLP DQN on ``view`` for ``steps`` (default: the recipe's) and evaluate it."""
    recipe = load_recipe("dqn", env_id).for_ann()
    budget = steps or recipe.n_timesteps
    algo_kwargs = with_schedules(recipe.algo_kwargs)
    start = time.perf_counter()
    model = DQN(
        "MlpPolicy", make_view(env_id, view), policy_kwargs={"net_arch": list(recipe.ann_net_arch)}, seed=seed,
        **algo_kwargs,
    )  # fmt: skip
    model.learn(budget)
    env, returns = make_view(env_id, view), []
    for episode in range(episodes):
        observation, _ = env.reset(seed=seed + 1000 + episode)
        done, total = False, 0.0
        while not done:
            action, _ = model.predict(observation, deterministic=True)
            observation, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return {
        "env": env_id, "view": view, "seed": seed, "steps": budget, "final_return": round(float(np.mean(returns)), 2),
        "final_return_std": round(float(np.std(returns)), 2), "wall_s": round(time.perf_counter() - start, 1),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="MountainCar-v0", help="env id with a dqn recipe (default MountainCar-v0)")
    parser.add_argument("--views", nargs="+", choices=VIEWS, default=list(VIEWS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, help="training budget (default: the recipe's)")
    parser.add_argument("--episodes", type=int, default=20, help="deterministic evaluation episodes (default 20)")
    parser.add_argument("--out", type=Path, default=Path("results/dqn_inputs.csv"))
    parser.add_argument("--quick", action="store_true", help="600 steps, 1 episode, seed 0: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.episodes, args.seeds = 600, 1, [0]
    torch.set_num_threads(1)
    done = set()
    if args.out.is_file():
        with args.out.open() as handle:
            done = {(r["env"], r["view"], int(r["seed"]), int(r["steps"])) for r in csv.DictReader(handle)}
    budget = args.steps or load_recipe("dqn", args.env).for_ann().n_timesteps
    for view in args.views:
        for seed in args.seeds:
            if (args.env, view, seed, budget) in done:
                continue
            row = probe(args.env, view, seed, args.steps, args.episodes)
            append(args.out, row, COLUMNS)
            print(f"{args.env} {view} seed {seed}: {row['final_return']} +- {row['final_return_std']}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
