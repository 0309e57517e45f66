"""A tuning worker killed mid-run (SIGKILL) leaves trials RUNNING; a rerun reclaims them and ends with exactly
``--trials`` finished trials per feature, and the config's provenance says what was run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from spikegym.envs.rollouts import record
from spikegym.tuning.storage import open_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)

FEATURES = ("x[0]", "x[1]", "x[2]", "x[3]")
COMPLETE, RUNNING = optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.RUNNING

HANGING_WORKER = """
import sys
from spikegym.tuning import objectives
real_score, calls = objectives.CandidateScorer.score, []
def hang_in_third_round(self, params):
    calls.append(1)
    if len(calls) == 3:
        import time
        time.sleep(600)
    return real_score(self, params)
objectives.CandidateScorer.score = hang_in_third_round
from spikegym.cli.main import main
sys.exit(main(sys.argv[1:]))
"""
"""The CLI, whose third round of trials never finishes: two rounds complete, the third stays RUNNING."""


def counts(storage: str, state: optuna.trial.TrialState) -> list[int]:
    """Trials in ``state`` per feature's study (0 before the study exists)."""
    backend = open_storage(storage)
    summaries = {summary.study_name: summary for summary in optuna.get_all_study_summaries(backend, False)}
    return [
        len(optuna.load_study(study_name=name, storage=backend).get_trials(states=(state,)))
        if (name := f"kill/step_forward/{feature}") in summaries
        else 0
        for feature in FEATURES
    ]


@pytest.mark.slow
@pytest.mark.parametrize("storage_name", ["sqlite", "journal"])
def test_a_rerun_after_sigkill_finishes_exactly_the_requested_trials(
    storage_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spikegym.cli.main import main
    from spikegym.envs.configs import load_config

    monkeypatch.chdir(tmp_path)
    storage = f"sqlite:///{tmp_path / 'tune.db'}" if storage_name == "sqlite" else str(tmp_path / "tune.log")
    rollouts = record("CartPole-v1", 600, seed=0).save(tmp_path / "cartpole.npz")
    argv = [
        "tune", "CartPole-v1", "--encoder", "sf", "--trials", "24", "--rollouts", str(rollouts), "--storage", storage,
        "--study-name", "kill", "--heartbeat", "0.5", "--no-progress", "--output", str(tmp_path / "c.yaml"),
        "--policy", "stateful",
    ]  # fmt: skip
    worker = subprocess.Popen([sys.executable, "-c", HANGING_WORKER, *argv], cwd=tmp_path)
    deadline = time.monotonic() + 60
    while not (counts(storage, COMPLETE) == [16] * 4 and counts(storage, RUNNING) == [8] * 4):  # hangs there
        assert worker.poll() is None, "the worker ended before it was killed"
        assert time.monotonic() < deadline, "the worker never reached its third round"
        time.sleep(0.25)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    assert counts(storage, RUNNING) == [8] * 4, "the killed worker left its third round running"

    assert main(argv) == 0
    assert counts(storage, COMPLETE) == [24] * 4
    assert counts(storage, RUNNING) == [0] * 4
    provenance = load_config(tmp_path / "c.yaml").provenance
    assert provenance["trials"] == 24
    assert "resumed" in provenance["notes"]
    assert "16 of 24 trials per feature were finished before this run" in provenance["notes"]
