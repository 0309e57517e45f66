"""Ctrl-C (SIGINT) or SIGTERM during ``spikegym train`` saves the model; the run replays and training continues."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spikegym.cli.main import main
from spikegym.rl.runs import MODEL_FILE, RunError, checkpoints, load_run, sha256


def _train_until_a_checkpoint(runs_dir: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "spikegym.cli.main", "train", "CartPole-v1", "--timesteps", "100000"]
    command += ["--runs-dir", str(runs_dir), "--no-progress", "--save-freq", "512"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    deadline = time.monotonic() + 60
    while not list(runs_dir.glob("*/checkpoints/*.zip")):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"training did not start: {process.communicate()}")
        time.sleep(0.1)
    return process


@pytest.mark.parametrize(
    ("stop", "status"), [(signal.SIGINT, 130), pytest.param(signal.SIGTERM, 143, marks=pytest.mark.slow)]
)
def test_a_signal_saves_the_model_and_the_run_replays_and_continues(
    tmp_path: Path, stop: signal.Signals, status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    process = _train_until_a_checkpoint(tmp_path / "runs")
    process.send_signal(stop)
    out, err = process.communicate(timeout=60)
    assert process.returncode == status, err
    assert "Traceback" not in err and f"training interrupted by {stop.name}" in err
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert f"run directory: {run_dir}" in out and f"--continue {run_dir}" in out
    assert (run_dir / MODEL_FILE).is_file()
    run = load_run(run_dir)
    assert run.interrupted and run.info.stop_signal == stop.name and 0 < run.info.steps < 100000
    assert main(["replay", str(run_dir), "--episodes", "1"]) == 0
    assert f"interrupted run: training stopped by {stop.name} at step {run.info.steps}" in capsys.readouterr().out
    if stop == signal.SIGTERM:
        return
    before = {path.name: sha256(path) for path in run_dir.iterdir() if path.is_file()}
    more = ["--timesteps", "256", "--runs-dir", str(tmp_path / "more"), "--no-progress", "--eval-episodes", "1"]
    assert main(["train", "CartPole-v1", "--continue", str(run_dir), *more]) == 0
    (continued,) = (tmp_path / "more").iterdir()
    info = load_run(continued).info
    assert info.continued_from == str(run_dir.resolve()) and info.status == "complete"
    assert info.steps >= run.info.steps + 256 and info.seed == run.info.seed
    assert {path.name: sha256(path) for path in run_dir.iterdir() if path.is_file()} == before


def test_a_run_killed_outright_replays_and_continues_from_its_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    process = _train_until_a_checkpoint(tmp_path / "runs")
    process.kill()
    process.communicate(timeout=60)
    (run_dir,) = (tmp_path / "runs").iterdir()
    with pytest.raises(RunError, match=r"model\.zip is missing \(run\.yaml says training never finished.*checkpoint"):
        load_run(run_dir)
    checkpoint = checkpoints(run_dir)[-1]
    assert main(["replay", str(checkpoint), "--episodes", "1"]) == 0
    assert f"checkpoint: {checkpoint}" in capsys.readouterr().out
    more = ["--timesteps", "256", "--runs-dir", str(tmp_path / "more"), "--no-progress", "--eval-episodes", "1"]
    assert main(["train", "CartPole-v1", "--continue", str(checkpoint), *more]) == 0
    (continued,) = (tmp_path / "more").iterdir()
    info = load_run(continued).info
    assert info.continued_from == str(checkpoint.resolve()) and info.steps >= 512 + 256
