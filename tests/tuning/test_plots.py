"""The episode figure of ``spikegym tune --plot``: documented feature names, legends off the data, the
raster's channels named by feature and its time axis in env steps, aligned with the panels above."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from spikegym.envs.configs import load_config
from spikegym.envs.gym_encoder import GymnasiumEncoder
from spikegym.envs.rollouts import record
from spikegym.tuning.plots import encoding_figure, plot_encoding
from tests.figure_checks import legend_labels, legends_off_the_axes, one_line

CARTPOLE = ["cart position", "cart velocity", "pole angle", "pole angular velocity"]


def episode_of(env_id: str, length: int = 60) -> np.ndarray:
    return record(env_id, length, seed=3).episodes[0][:length]


@pytest.mark.parametrize("encoder", ["config", "sf", "rate"])
def test_panels_and_raster_carry_the_documented_names_and_share_env_steps(encoder: str) -> None:
    space = gym.make("CartPole-v1").observation_space
    if encoder == "config":
        gym_encoder = GymnasiumEncoder(space, load_config("CartPole-v1"))  # the env id comes from the config
    else:
        gym_encoder = GymnasiumEncoder(space, encoder, env_id="CartPole-v1")
    episode = episode_of("CartPole-v1")
    fronts = [np.array([[0.1, 1.0], [0.05, 2.0]])] * 4
    figure = encoding_figure(gym_encoder, episode, "title", fronts)
    *panels, raster, front_axis = figure.axes
    assert [one_line(axis.get_ylabel()) for axis in panels] == CARTPOLE
    assert [tick.get_text() for tick in raster.get_yticklabels()] == CARTPOLE
    width = gym_encoder.n_channels // 4
    assert list(raster.get_yticks()) == [width * (k + 0.5) for k in range(4)], "a tick mid each feature's block"
    assert sorted(line.get_ydata()[0] for line in raster.get_lines()) == [width, 2 * width, 3 * width]
    assert raster.get_images()[0].get_extent()[:2] == [0, len(episode)], "the raster is in env-step units"
    assert all(axis.get_xlim() == raster.get_xlim() == (0, len(episode)) for axis in panels)
    assert "env step" in raster.get_xlabel()
    assert legend_labels(figure) == ["observation", "decoded", *CARTPOLE]
    assert legends_off_the_axes(figure) == []
    assert front_axis.get_xlim() != raster.get_xlim(), "the fronts keep their own x axis (spike rate)"


def test_each_observation_spans_the_env_step_its_spikes_occupy() -> None:
    gym_encoder = GymnasiumEncoder(gym.make("Pendulum-v1").observation_space, "sf", env_id="Pendulum-v1")
    episode = episode_of("Pendulum-v1", 20)
    figure = encoding_figure(gym_encoder, episode)
    observation = figure.axes[0].patches[0]
    assert list(observation.get_data().edges) == list(range(21))
    assert np.allclose(observation.get_data().values, episode[:, 0])
    assert [one_line(axis.get_ylabel()) for axis in figure.axes[:3]] == ["cos θ", "sin θ", "angular velocity"]


def test_an_env_gymnasium_does_not_document_keeps_the_layout_names(tmp_path: Path) -> None:
    space = gym.spaces.Box(-1.0, 1.0, (2,))
    gym_encoder = GymnasiumEncoder(space, "population", bounds=([-1.0, -1.0], [1.0, 1.0]), n_bins=5)
    episode = np.linspace(-0.9, 0.9, 30).reshape(15, 2).astype(np.float32)
    figure = encoding_figure(gym_encoder, episode)
    panels, raster = figure.axes[:2], figure.axes[2]
    assert [axis.get_ylabel() for axis in panels] == ["x[0]", "x[1]"]
    assert [tick.get_text() for tick in raster.get_yticklabels()] == ["x[0]", "x[1]"]
    assert "5 bins" in raster.get_ylabel()
    assert legends_off_the_axes(figure) == []
    path = plot_encoding(gym_encoder, episode, tmp_path / "sub" / "figure.svg", "a title")
    assert path == tmp_path / "sub" / "figure.svg" and "x[0]" in path.read_text()
