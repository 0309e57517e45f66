"""Optuna studies per feature: better than defaults, seeded, Pareto, resumable, shared."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest

from spikegym.encoders import encoder_class
from spikegym.envs.configs import load_config
from spikegym.envs.rollouts import Rollouts, record
from spikegym.tuning import objectives
from spikegym.tuning.objectives import CandidateScorer
from spikegym.tuning.storage import open_storage
from spikegym.tuning.studies import default_scores, tune_encoder
from tests.helpers import CARTPOLE_BOUNDS, ENCODER_NAMES

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def cartpole() -> tuple[Rollouts, Rollouts]:
    return record("CartPole-v1", 2000, seed=0).split(0.25, seed=0)


def weighted(scores: dict[str, float], weight: float = 0.002) -> float:
    return scores["nrmse"] + weight * scores["spike_rate"]


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_tuned_parameters_beat_the_defaults_on_held_out_data(name: str, cartpole: tuple[Rollouts, Rollouts]) -> None:
    tuning_set, held_out = cartpole
    result = tune_encoder(name, tuning_set, held_out, *CARTPOLE_BOUNDS, n_trials=40, seed=0)
    baseline = default_scores(name, held_out, *CARTPOLE_BOUNDS)
    assert weighted(result.held_out_scores) < weighted(baseline)
    assert result.n_trials == 40


def test_every_encoder_declares_a_search_space_that_scales_with_the_data() -> None:
    from spikegym.encoders.search import SignalStats

    calm = SignalStats(np.full(2, 0.002), np.full(2, 0.1), 8)
    busy = SignalStats(np.full(2, 0.05), np.full(2, 0.1), 8)
    for name in ENCODER_NAMES:
        cls = encoder_class(name)
        space = cls.search_space(calm, **cls.tuning_defaults(8))
        assert space, f"{name} tunes nothing"
        for r in space.values():
            assert r.low.shape == (2,) and np.all(r.low <= r.high)
    sf = encoder_class("sf")
    assert np.all(sf.search_space(busy)["threshold"].low > sf.search_space(calm)["threshold"].low)


def test_same_seed_same_result(cartpole: tuple[Rollouts, Rollouts]) -> None:
    tuning_set, held_out = cartpole
    first = tune_encoder("lif", tuning_set, held_out, *CARTPOLE_BOUNDS, n_trials=20, seed=3)
    second = tune_encoder("lif", tuning_set, held_out, *CARTPOLE_BOUNDS, n_trials=20, seed=3)
    other = tune_encoder("lif", tuning_set, held_out, *CARTPOLE_BOUNDS, n_trials=20, seed=4)
    assert first.params == second.params and first.held_out_scores == second.held_out_scores
    assert first.params != other.params


def test_pareto_studies_report_a_front_per_feature(cartpole: tuple[Rollouts, Rollouts]) -> None:
    tuning_set, held_out = cartpole
    result = tune_encoder("sf", tuning_set, held_out, *CARTPOLE_BOUNDS, n_trials=24, seed=0, pareto=True)
    assert result.fronts is not None and len(result.fronts) == 4
    for front in result.fronts:
        errors, rates = front[:, 0], front[:, 1]
        assert np.all(np.diff(errors) >= 0) and np.all(np.diff(rates) <= 0), "a front trades error for spikes"


def test_an_interrupted_study_resumes_keeping_its_finished_trials(
    cartpole: tuple[Rollouts, Rollouts], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tuning_set, held_out = cartpole
    storage = f"sqlite:///{tmp_path / 'tune.db'}"
    real_score = objectives.CandidateScorer.score
    calls = {"n": 0}

    def interrupted(self: CandidateScorer, params: dict) -> objectives.CandidateScores:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_score(self, params)

    monkeypatch.setattr(objectives.CandidateScorer, "score", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tune_encoder(
            "sf", tuning_set, held_out, *CARTPOLE_BOUNDS, n_trials=30, storage=storage, study_name="s", batch_size=8
        )
    monkeypatch.setattr(objectives.CandidateScorer, "score", real_score)
    study = optuna.load_study(study_name="s/step_forward/x[0]", storage=storage)
    finished = {t.number: t.params for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))}
    assert len(finished) == 16, "two rounds of 8 finished before the interruption"
    assert not study.get_trials(states=(optuna.trial.TrialState.RUNNING,)), "the interrupted round is failed"
    result = tune_encoder("sf", tuning_set, held_out, *CARTPOLE_BOUNDS, n_trials=30, storage=storage, study_name="s")
    assert result.n_trials == 30
    resumed = {t.number: t.params for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))}
    assert len(resumed) == 30
    assert all(resumed[number] == params for number, params in finished.items())


SYNCHRONISED_WORKER = """
import sys, tempfile, time
from pathlib import Path
import optuna
from spikegym.cli.main import main
with tempfile.TemporaryDirectory() as warm_up:  # load every module opening a storage needs, before the start
    optuna.storages.RDBStorage(f"sqlite:///{warm_up}/warm.db").engine.dispose()
ready, go = Path(sys.argv[1]), Path(sys.argv[2])
ready.touch()
while not go.exists():
    time.sleep(0.001)
start = float(go.read_text())
while time.time() < start:
    pass
sys.exit(main(sys.argv[3:]))
"""
"""The CLI, started at the time the test writes into the file ``go``: every worker opens the fresh storage at once."""


@pytest.mark.slow
@pytest.mark.parametrize("storage_name", ["sqlite", "journal"])
def test_worker_processes_started_together_on_a_fresh_storage_share_it(storage_name: str, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'tune.db'}" if storage_name == "sqlite" else str(tmp_path / "journal.log")
    rollouts = record("CartPole-v1", 1000, seed=0)
    path = rollouts.save(tmp_path / "cartpole.npz")
    command = [
        "tune", "CartPole-v1", "--encoder", "sf", "--trials", "40", "--rollouts", str(path), "--storage", storage,
        "--study-name", "shared", "--no-progress", "--policy", "stateful",
    ]  # fmt: skip
    go = tmp_path / "go"
    launch = [sys.executable, "-c", SYNCHRONISED_WORKER]
    workers = [
        subprocess.Popen(
            [*launch, str(tmp_path / f"ready{i}"), str(go), *command, "--output", str(tmp_path / f"worker{i}.yaml")],
            cwd=tmp_path,
        )
        for i in range(3)
    ]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready{i}").exists() for i in range(3)):
        assert time.monotonic() < deadline and all(worker.poll() is None for worker in workers)
        time.sleep(0.01)
    written = tmp_path / "go.partial"
    written.write_text(str(time.time() + 0.5))
    written.rename(go)  # whole at once: a worker that saw `go` half written read '' and failed (CI saw it)
    assert [worker.wait(timeout=300) for worker in workers] == [0, 0, 0]
    for feature in ("x[0]", "x[1]", "x[2]", "x[3]"):
        study = optuna.load_study(study_name=f"shared/step_forward/{feature}", storage=open_storage(storage))
        assert len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 40
        assert not study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
    for i in range(3):
        assert load_config(tmp_path / f"worker{i}.yaml").provenance["trials"] == 40


def test_storage_urls_that_cannot_be_opened_are_refused() -> None:
    with pytest.raises(ValueError, match=r"storage 'sqlite:////no/such/dir/tune.db' cannot be opened"):
        open_storage("sqlite:////no/such/dir/tune.db")


def test_bad_arguments_to_the_tuner() -> None:
    episodes = [np.zeros((10, 4))]
    with pytest.raises(ValueError, match="unknown encoder 'morse'"):
        tune_encoder("morse", episodes, episodes, *CARTPOLE_BOUNDS)
    with pytest.raises(ValueError, match="n_trials must be an integer >= 1, got 0"):
        tune_encoder("sf", episodes, episodes, *CARTPOLE_BOUNDS, n_trials=0)
    with pytest.raises(ValueError, match=r"objective must be one of \['mse', 'mae', 'nrmse'\]"):
        tune_encoder("sf", episodes, episodes, *CARTPOLE_BOUNDS, objective="rmse")
    with pytest.raises(ValueError, match="nothing to tune"):
        tune_encoder("sf", episodes, episodes, *CARTPOLE_BOUNDS, fixed={"threshold": 0.1})
