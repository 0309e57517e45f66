"""``replay --raster``: input channels named by the features Gymnasium documents, hidden layers labelled,
and every panel on one x axis in env steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spikegym.rl import replay as replay_module
from spikegym.rl.replay import _plot_raster, replay
from spikegym.rl.runs import load_run
from tests.figure_checks import one_line

CARTPOLE = ["cart position", "cart velocity", "pole angle", "pole angular velocity"]


def test_the_replay_raster_names_the_input_features_and_shares_env_steps(
    trained: tuple[Path, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    figures = []
    monkeypatch.setattr(replay_module, "_plot_raster", lambda *args: figures.append(_plot_raster(*args)))
    report = replay(load_run(trained[0]), episodes=1, raster=tmp_path / "raster.png")
    figure_path = tmp_path / "raster.png"
    (figure,) = figures
    inputs, *hidden = figure.axes
    decisions = report.returns[0]  # CartPole-v1 pays 1 per step
    assert [tick.get_text() for tick in inputs.get_yticklabels()] == CARTPOLE
    assert [one_line(axis.get_ylabel()).split(" (")[0] for axis in hidden] == ["hidden layer 1", "hidden layer 2"]
    assert all(axis.get_xlim() == (0, decisions) for axis in figure.axes), "one x axis, in env steps"
    assert "env step" in figure.axes[-1].get_xlabel()
    assert all(float(tick).is_integer() for axis in hidden for tick in axis.get_yticks()), "neurons are counted"
    for axis in figure.axes:
        times = axis.collections[0].get_offsets()[:, 0]
        assert len(times) > 0 and times.min() > 0 and times.max() < decisions
    assert figure_path.stat().st_size > 5_000


def test_a_spike_sits_at_its_decision_and_sub_step_in_its_features_block(
    trained: tuple[Path, object], tmp_path: Path
) -> None:
    run = load_run(trained[0])
    steps, channels, neurons = 8, 4 * 8, 3
    blocks = [np.zeros((steps, channels), np.int8) for _ in range(5)]
    blocks[2][3, 21] = 1  # decision 2, sub-step 3, channel 21: the third feature's block (16 to 23)
    layers = [[np.zeros((steps, neurons), np.float32)] for _ in range(5)]
    layers[4][0][7, 1] = 1.0
    figure = _plot_raster(blocks, layers, tmp_path / "synthetic.png", run)
    inputs, hidden = figure.axes
    assert inputs.collections[0].get_offsets().tolist() == [[2 + 3.5 / 8, 21]]
    assert hidden.collections[0].get_offsets().tolist() == [[4 + 7.5 / 8, 1]]
    assert list(inputs.get_yticks()) == [3.5, 11.5, 19.5, 27.5]
    assert inputs.get_yticklabels()[2].get_text() == "pole angle"
    assert sorted(line.get_ydata()[0] for line in inputs.get_lines()) == [7.5, 15.5, 23.5]
    assert inputs.get_ylim() == (channels - 0.5, -0.5) and hidden.get_ylim() == (neurons - 0.5, -0.5)
    assert inputs.get_xlim() == hidden.get_xlim() == (0, 5)
