"""Encoder tuning: batched scores equal the wrapper's, tuning beats the defaults, seeds, resumable, shared studies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import optuna
import pytest
from conftest import ENCODER_NAMES
from gymnasium import spaces

from spikegym import objectives, tuning
from spikegym.encoders import encoder_class
from spikegym.gym_encoder import GymnasiumEncoder
from spikegym.objectives import CandidateScorer, stream_scores
from spikegym.rollouts import Rollouts, record
from spikegym.tuning import default_scores, open_storage, tune_encoder

BOUNDS = ([-2.4, -2.0, -0.2095, -2.5], [2.4, 2.0, 0.2095, 2.5])
optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def cartpole() -> tuple[Rollouts, Rollouts]:
    return record("CartPole-v1", 2000, seed=0).split(0.25, seed=0)


def weighted(scores: dict[str, float], weight: float = 0.002) -> float:
    return scores["nrmse"] + weight * scores["spike_rate"]


@pytest.mark.parametrize("name", ENCODER_NAMES)
@pytest.mark.parametrize("upsample", ["hold", "linear"])
def test_batched_candidate_scores_equal_the_wrappers_stream_scores(name: str, upsample: str) -> None:
    rollouts = record("CartPole-v1", 300, seed=1)
    scorer = CandidateScorer(name, rollouts, *BOUNDS, upsample=upsample)
    rng = np.random.default_rng(0)
    params = {}
    for param, r in scorer.search_space().items():
        draw = rng.uniform(size=(3, 4))
        value = np.exp(np.log(r.low) + draw * np.log(r.high / r.low)) if r.log else r.low + draw * (r.high - r.low)
        params[param] = np.round(value) if r.integer else value
    scores = scorer.score(params)
    space = gym.make("CartPole-v1").observation_space
    for k in range(3):
        encoder = GymnasiumEncoder(
            space, name, bounds=BOUNDS, upsample=upsample, **scorer.fixed, **{p: v[k] for p, v in params.items()}
        )
        reference = stream_scores(encoder, rollouts)
        assert np.allclose(scores.nrmse[k], reference.nrmse_per_feature, atol=1e-5)
        assert scores.spike_rate[k].mean() == pytest.approx(reference.spike_rate, rel=1e-9)


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_tuned_parameters_beat_the_defaults_on_held_out_data(name: str, cartpole: tuple[Rollouts, Rollouts]) -> None:
    tuning_set, held_out = cartpole
    result = tune_encoder(name, tuning_set, held_out, *BOUNDS, n_trials=40, seed=0)
    baseline = default_scores(name, held_out, *BOUNDS)
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
    first = tune_encoder("lif", tuning_set, held_out, *BOUNDS, n_trials=20, seed=3)
    second = tune_encoder("lif", tuning_set, held_out, *BOUNDS, n_trials=20, seed=3)
    other = tune_encoder("lif", tuning_set, held_out, *BOUNDS, n_trials=20, seed=4)
    assert first.params == second.params and first.held_out_scores == second.held_out_scores
    assert first.params != other.params


def test_pareto_studies_report_a_front_per_feature(cartpole: tuple[Rollouts, Rollouts]) -> None:
    tuning_set, held_out = cartpole
    result = tune_encoder("sf", tuning_set, held_out, *BOUNDS, n_trials=24, seed=0, pareto=True)
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
        tune_encoder("sf", tuning_set, held_out, *BOUNDS, n_trials=30, storage=storage, study_name="s", batch_size=8)
    monkeypatch.setattr(objectives.CandidateScorer, "score", real_score)
    study = optuna.load_study(study_name="s/step_forward/x[0]", storage=storage)
    finished = {t.number: t.params for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))}
    assert len(finished) == 16, "two rounds of 8 finished before the interruption"
    assert not study.get_trials(states=(optuna.trial.TrialState.RUNNING,)), "the interrupted round is failed"
    result = tune_encoder("sf", tuning_set, held_out, *BOUNDS, n_trials=30, storage=storage, study_name="s")
    assert result.n_trials == 30
    resumed = {t.number: t.params for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))}
    assert len(resumed) == 30
    assert all(resumed[number] == params for number, params in finished.items())


def test_two_worker_processes_share_one_storage(tmp_path: Path) -> None:
    storage = str(tmp_path / "journal.log")
    rollouts = record("CartPole-v1", 1000, seed=0)
    path = rollouts.save(tmp_path / "cartpole.npz")
    command = [
        sys.executable, "-m", "spikegym.cli", "tune", "CartPole-v1", "--encoder", "sf", "--trials", "40",
        "--rollouts", str(path), "--storage", storage, "--study-name", "shared", "--no-progress",
    ]  # fmt: skip
    workers = [
        subprocess.Popen([*command, "--output", str(tmp_path / f"worker{i}.yaml"), "--seed", str(i)], cwd=tmp_path)
        for i in range(2)
    ]
    assert [worker.wait(timeout=300) for worker in workers] == [0, 0]
    for feature in ("x[0]", "x[1]", "x[2]", "x[3]"):
        study = optuna.load_study(study_name=f"shared/step_forward/{feature}", storage=open_storage(storage))
        assert len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 40


def test_storage_urls_that_cannot_be_opened_are_refused() -> None:
    with pytest.raises(ValueError, match=r"storage 'sqlite:////no/such/dir/tune.db' cannot be opened"):
        open_storage("sqlite:////no/such/dir/tune.db")


def test_bad_arguments_to_the_tuner() -> None:
    episodes = [np.zeros((10, 4))]
    with pytest.raises(ValueError, match="unknown encoder 'morse'"):
        tune_encoder("morse", episodes, episodes, *BOUNDS)
    with pytest.raises(ValueError, match="n_trials must be an integer >= 1, got 0"):
        tune_encoder("sf", episodes, episodes, *BOUNDS, n_trials=0)
    with pytest.raises(ValueError, match=r"objective must be one of \['mse', 'mae', 'nrmse'\]"):
        tune_encoder("sf", episodes, episodes, *BOUNDS, objective="rmse")
    with pytest.raises(ValueError, match="nothing to tune"):
        tune_encoder("sf", episodes, episodes, *BOUNDS, fixed={"threshold": 0.1})


def test_rollouts_split_by_episode_and_round_trip_through_npz(tmp_path: Path) -> None:
    rollouts = record("CartPole-v1", 500, seed=2)
    tuning_set, held_out = rollouts.split(0.25, seed=0)
    assert tuning_set.n_steps + held_out.n_steps == 500
    assert len(held_out.episodes) == round(0.25 * len(rollouts.episodes))
    path = rollouts.save(tmp_path / "r.npz")
    loaded = Rollouts.load(path)
    assert loaded.env_id == "CartPole-v1" and loaded.features == rollouts.features
    assert all(np.array_equal(a, b) for a, b in zip(loaded.episodes, rollouts.episodes, strict=True))
    with pytest.raises(FileExistsError):
        rollouts.save(path)
    assert record("CartPole-v1", 500, seed=2).episodes[0].tolist() == rollouts.episodes[0].tolist()


class TextObservations(gym.Env):
    observation_space = spaces.Text(5)
    action_space = spaces.Discrete(2)


gym.register("TextObservations-v0", entry_point=TextObservations)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["Nowhere-v9"], "unknown env id 'Nowhere-v9'"),
        (["CartPole-v1", "--encoder", "morse"], "--encoder must be one of"),
        (["CartPole-v1", "--trials", "0"], "--trials must be >= 1, got 0"),
        (["TextObservations-v0"], "TextObservations-v0: observation_space is Text"),
        (["CartPole-v1", "--storage", "sqlite:////no/such/dir/tune.db"], "cannot be opened"),
        (["CartPole-v1", "--param", "n_bins"], "--param must look like NAME=VALUE"),
        (["CartPole-v1", "--encoder", "sf", "--param", "n_bins=6"], "['n_bins']: not a parameter of ['step_forward']"),
        (["CartPole-v1", "--agent", "/no/such/run"], "--agent: /no/such/run is not a directory"),
        (["CartPole-v1", "--rollouts", "missing.npz"], "--rollouts 'missing.npz' is not a file"),
    ],
)
def test_the_tune_command_refuses_bad_input_before_any_work(
    arguments: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from spikegym.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tuning, "tune_encoder", lambda *a, **k: pytest.fail("tuning started"))
    with pytest.raises(SystemExit) as exit_info:
        main(["tune", *arguments, "--no-progress"])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_tune_all_prints_a_row_per_encoder_and_writes_the_best(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from spikegym.cli import main
    from spikegym.configs import load_config

    monkeypatch.chdir(tmp_path)
    argv = ["tune", "CartPole-v1", "--trials", "12", "--steps", "600", "--no-progress", "--bounds", "data"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    rows = {
        line.split()[0]: line.split()
        for line in out.splitlines()
        if line.split()[:1] and line.split()[0] in ENCODER_NAMES
    }
    assert sorted(rows) == ENCODER_NAMES
    best = [name for name, row in rows.items() if row[-1] == "*"]
    assert len(best) == 1
    config = load_config(tmp_path / "envs_configs" / "CartPole-v1.yaml")
    assert config.encoder == best[0]
    assert config.provenance["command"] == "spikegym " + " ".join(argv)
    assert config.provenance["trials"] == 12 and config.provenance["seed"] == 0
    assert {"held_out_nrmse", "held_out_spike_rate"} <= set(config.provenance["scores"])


def test_max_spike_rate_restricts_the_choice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from spikegym.cli import main
    from spikegym.configs import load_config

    out_path = tmp_path / "c.yaml"
    argv = ["tune", "CartPole-v1", "--trials", "12", "--steps", "600", "--no-progress", "--output", str(out_path)]
    assert main([*argv, "--max-spike-rate", "1.0"]) == 0
    out = capsys.readouterr().out
    chosen = load_config(out_path)
    best_row = next(line.split() for line in out.splitlines() if line.endswith(" *"))
    assert best_row[0] == chosen.encoder and float(best_row[2]) <= 1.0
    with pytest.raises(SystemExit):
        main([*argv, "--force", "--max-spike-rate", "0.0001"])
    assert "no encoder reaches --max-spike-rate" in capsys.readouterr().err


def test_force_keeps_the_previous_config_as_bak(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from spikegym.cli import main
    from spikegym.configs import load_config

    out_path = tmp_path / "c.yaml"
    argv = ["tune", "CartPole-v1", "--trials", "8", "--steps", "400", "--no-progress", "--output", str(out_path)]
    assert main([*argv, "--encoder", "sf"]) == 0
    with pytest.raises(SystemExit):
        main([*argv, "--encoder", "lif"])
    assert "exists; pass --force" in capsys.readouterr().err
    assert load_config(out_path).encoder == "step_forward"
    assert main([*argv, "--encoder", "lif", "--force"]) == 0
    assert load_config(out_path).encoder == "lif"
    assert load_config(tmp_path / "c.yaml.bak").encoder == "step_forward"


def test_pareto_tuning_with_a_plot(tmp_path: Path) -> None:
    from spikegym.cli import main

    plot = tmp_path / "tune.png"
    argv = ["tune", "CartPole-v1", "--encoder", "sf", "--trials", "16", "--steps", "400", "--pareto"]
    assert main([*argv, "--no-progress", "--output", str(tmp_path / "c.yaml"), "--plot", str(plot)]) == 0
    assert plot.stat().st_size > 10_000 and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
