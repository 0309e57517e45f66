"""Tuning speed on CartPole-v1: batched per-feature studies against one study at a time, per encoder.

For every encoder, on the same seeded rollouts (4000 random-policy steps,
20% of the episodes held out, the shipped config's bounds, T=8), it measures:

* ``spikegym.tuning.studies.tune_encoder`` with ``--trials`` trials per feature: each
  round asks 8 trials from each of the 4 features' studies and scores all 32
  candidates in one batched encode/decode call; wall time, trials per second
  (features x trials / time) and the held-out NRMSE and spike rate;
* the baseline measured in the same run: one optuna study per feature, run
  one after the other with ``study.optimize``, each trial scoring a single
  candidate on that feature alone (the same compiled kernels, no batching);
  wall time and the ratio baseline / batched.

Target: under 10 s per temporal encoder for 100 trials on the 2-core machine.
Run from the repository root::

    python scripts/bench_tuning.py            # 100 trials per feature
    python scripts/bench_tuning.py --quick    # 20 trials (CI smoke test)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import optuna

from spikegym.encoders import encoder_class, names
from spikegym.envs.configs import load_config
from spikegym.envs.rollouts import Rollouts, record
from spikegym.tuning.objectives import CandidateScorer
from spikegym.tuning.studies import tune_encoder

TARGET_SECONDS = 10.0
TEMPORAL = ("bsa", "lif", "pwm", "step_forward")


def one_study_at_a_time(name: str, tuning: Rollouts, low: np.ndarray, high: np.ndarray, n_trials: int) -> float:
    """Seconds to tune each feature in its own study, one trial and one feature per scoring call."""
    start = time.perf_counter()
    fixed = encoder_class(name).tuning_defaults(8)
    for j in range(len(low)):
        episodes = [episode[:, j : j + 1] for episode in tuning.episodes]
        scorer = CandidateScorer(name, episodes, low[j : j + 1], high[j : j + 1], fixed=fixed)
        space = scorer.search_space()

        def objective(trial: optuna.Trial, scorer: CandidateScorer = scorer, space: dict = space) -> float:
            params = {}
            for param, r in space.items():
                if r.integer:
                    value = trial.suggest_int(param, int(r.low[0]), int(r.high[0]), log=r.log)
                else:
                    value = trial.suggest_float(param, float(r.low[0]), float(r.high[0]), log=r.log)
                params[param] = np.array([[value]], dtype=np.float64)
            scores = scorer.score(params)
            return float(scores.nrmse[0, 0] + 0.002 * scores.spike_rate[0, 0])

        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=j))
        study.optimize(objective, n_trials=n_trials)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=100, help="trials per feature (default 100)")
    parser.add_argument("--quick", action="store_true", help="20 trials per feature")
    args = parser.parse_args()
    n_trials = 20 if args.quick else args.trials
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = load_config("CartPole-v1")
    low, high = np.asarray(config.low), np.asarray(config.high)
    tuning, held_out = record("CartPole-v1", 4000, seed=0).split(0.2, seed=0)
    n_features = len(low)
    tune_encoder("sf", tuning, held_out, low, high, n_trials=2)  # compile or load the kernels before timing
    print(
        f"CartPole-v1: {tuning.n_steps} tuning and {held_out.n_steps} held-out observations, T=8, "
        f"{n_trials} trials per feature, {n_features} features\n"
    )
    header = (
        f"{'encoder':<13}| {'batched s':>9} | {'trials/s':>8} | {'held-out NRMSE':>14} | {'spikes/f/step':>13} | "
        f"{'one-at-a-time s':>15} | {'speedup':>7} | target"
    )
    print(header)
    print("-" * len(header))
    for name in names():
        result = tune_encoder(name, tuning, held_out, low, high, n_trials=n_trials, seed=0)
        baseline = one_study_at_a_time(name, tuning, low, high, n_trials)
        rate = n_features * n_trials / result.seconds
        verdict = "-"
        if name in TEMPORAL:
            verdict = "OK" if result.seconds <= TARGET_SECONDS else "MISS"
            verdict += f" (<= {TARGET_SECONDS:.0f} s)"
        print(
            f"{name:<13}| {result.seconds:>9.2f} | {rate:>8.0f} | {result.held_out_scores['nrmse']:>14.4f} | "
            f"{result.held_out_scores['spike_rate']:>13.3f} | {baseline:>15.2f} | {baseline / result.seconds:>6.1f}x "
            f"| {verdict}"
        )


if __name__ == "__main__":
    main()
