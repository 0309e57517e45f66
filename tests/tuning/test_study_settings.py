"""A study name reused with other settings is refused, naming the study, the storage and each differing setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest

from spikegym.envs.rollouts import Rollouts, record
from spikegym.tuning.studies import StudyMismatchError, tune_encoder
from tests.helpers import CARTPOLE_BOUNDS

optuna.logging.set_verbosity(optuna.logging.WARNING)

BASE: dict[str, Any] = {
    "substeps": 8,
    "upsample": "hold",
    "n_trials": 8,
    "objective": "nrmse",
    "spike_weight": 0.002,
    "seed": 0,
    "fixed": {"initial": 0.5},
    "study_name": "s",
}


@pytest.fixture(scope="module")
def cartpole() -> tuple[Rollouts, Rollouts]:
    return record("CartPole-v1", 600, seed=0).split(0.25, seed=0)


@pytest.fixture(scope="module")
def storage(cartpole: tuple[Rollouts, Rollouts], tmp_path_factory: pytest.TempPathFactory) -> str:
    """A storage holding one finished study run with :data:`BASE`."""
    url = f"sqlite:///{tmp_path_factory.mktemp('settings') / 'tune.db'}"
    tune_encoder("sf", *cartpole, *CARTPOLE_BOUNDS, storage=url, **BASE)
    return url


def other_data(cartpole: tuple[Rollouts, Rollouts]) -> dict[str, Any]:
    tuning_set, held_out = cartpole
    return {"tuning": Rollouts(tuning_set.env_id, tuning_set.features, tuning_set.episodes[1:]), "held_out": held_out}


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"objective": "mse"}, "objective"),
        ("other data", "data"),
        ({"substeps": 4}, "substeps"),
        ({"upsample": "linear"}, "upsample"),
        ({"spike_weight": 0.01}, "spike_weight"),
        ({"fixed": {"initial": 0.25}}, "fixed"),
        ({"seed": 1}, "seed"),
        ({"pareto": True}, "pareto"),
        ({"low": [-1.0, -2.0, -0.2095, -2.5]}, "low"),
        ({"heartbeat": 3.0}, "heartbeat"),
    ],
)
def test_a_study_reused_with_another_setting_is_refused(
    change: dict[str, Any] | str, setting: str, storage: str, cartpole: tuple[Rollouts, Rollouts]
) -> None:
    tuning_set, held_out = cartpole
    low, high = CARTPOLE_BOUNDS
    arguments: dict[str, Any] = {**BASE, "n_trials": 16, "tuning": tuning_set, "held_out": held_out}
    arguments.update({"low": low, "high": high})
    arguments.update(other_data(cartpole) if change == "other data" else change)
    with pytest.raises(StudyMismatchError) as error:
        tune_encoder("sf", storage=storage, **arguments)
    message = str(error.value)
    assert "study 's/step_forward/x[0]'" in message and storage in message
    assert f"{setting} (study: " in message, message
    assert message.count("(study: ") == 1, f"only {setting} differs: {message}"
    assert "another study name" in message
    finished = optuna.load_study(study_name="s/step_forward/x[0]", storage=storage).get_trials(
        states=(optuna.trial.TrialState.COMPLETE,)
    )
    assert len(finished) == 8, "the refused run added no trials"


def test_the_same_settings_resume_and_extend_the_study(storage: str, cartpole: tuple[Rollouts, Rollouts]) -> None:
    result = tune_encoder("sf", *cartpole, *CARTPOLE_BOUNDS, storage=storage, **{**BASE, "n_trials": 12})
    assert result.n_trials == 12 and result.resumed_from == 8


def test_a_study_holding_more_trials_than_asked_for_is_refused(
    storage: str, cartpole: tuple[Rollouts, Rollouts]
) -> None:
    with pytest.raises(StudyMismatchError, match=r"holds 12 finished trials per feature, more than n_trials=4"):
        tune_encoder("sf", *cartpole, *CARTPOLE_BOUNDS, storage=storage, **{**BASE, "n_trials": 4})


def test_a_pareto_run_on_a_single_objective_study_is_refused_not_crashed(
    tmp_path: Path, cartpole: tuple[Rollouts, Rollouts]
) -> None:
    url = f"sqlite:///{tmp_path / 'tune.db'}"
    tune_encoder("lif", *cartpole, *CARTPOLE_BOUNDS, storage=url, study_name="p", n_trials=8)
    with pytest.raises(StudyMismatchError, match=r"pareto \(study: False, this run: True\)"):
        tune_encoder("lif", *cartpole, *CARTPOLE_BOUNDS, storage=url, study_name="p", n_trials=8, pareto=True)


def test_pareto_studies_resume_with_another_spike_weight(tmp_path: Path, cartpole: tuple[Rollouts, Rollouts]) -> None:
    url = f"sqlite:///{tmp_path / 'tune.db'}"
    first = tune_encoder("sf", *cartpole, *CARTPOLE_BOUNDS, storage=url, study_name="p", n_trials=8, pareto=True)
    resumed = tune_encoder(
        "sf", *cartpole, *CARTPOLE_BOUNDS, storage=url, study_name="p", n_trials=8, pareto=True, spike_weight=1.0
    )
    assert resumed.resumed_from == 8 and resumed.run_here == 0, "the front's trials do not depend on the weight"
    assert np.all(resumed.held_out_scores["spike_rate"] <= first.held_out_scores["spike_rate"])


def test_a_study_without_recorded_settings_but_with_trials_is_refused(
    tmp_path: Path, cartpole: tuple[Rollouts, Rollouts]
) -> None:
    url = f"sqlite:///{tmp_path / 'tune.db'}"
    old = optuna.create_study(storage=url, study_name="old/step_forward/x[0]")
    old.optimize(lambda trial: trial.suggest_float("threshold", 0.01, 0.1), n_trials=2)
    with pytest.raises(StudyMismatchError, match=r"'old/step_forward/x\[0\]'.*holds trials but no recorded settings"):
        tune_encoder("sf", *cartpole, *CARTPOLE_BOUNDS, storage=url, study_name="old", n_trials=8)
