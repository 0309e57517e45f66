"""Progress without a terminal: plain lines at an interval, never a bar's carriage returns."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from spikegym._progress import ProgressLines, progress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_lines_come_at_the_interval_and_once_at_the_end() -> None:
    stream, clock = io.StringIO(), Clock()
    lines = ProgressLines(1000, "training X", "steps", interval=30.0, stream=stream, clock=clock)
    for _ in range(10):
        clock.now += 10.0
        lines.update(50)
    lines.close()
    lines.close()
    written = stream.getvalue().splitlines()
    assert len(written) == 4  # at 30, 60 and 90 s, and the end
    assert written[0] == "training X: 150/1000 steps (15%), 5.0 steps/s, eta 2m50s, elapsed 0m30s"
    assert written[-1].startswith("training X: 500/1000 steps (50%)")
    assert "\r" not in stream.getvalue()


def test_a_terminal_gets_a_bar_and_a_log_gets_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert isinstance(progress(10, "x", "steps"), ProgressLines)
    assert not isinstance(progress(10, "x", "steps", enabled=False), ProgressLines)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert not isinstance(progress(10, "x", "steps"), ProgressLines)


def test_training_into_a_log_prints_progress_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from spikegym.rl.training import train

    train("CartPole-v1", "ppo", timesteps=256, runs_dir=tmp_path, progress=True, eval_freq=128, n_eval_episodes=1)
    err = capsys.readouterr().err
    assert "training CartPole-v1 ppo: 256/256 steps (100%)" in err and "last evaluation" in err
    assert "\r" not in err
