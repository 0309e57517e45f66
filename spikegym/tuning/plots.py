"""Figures of an encoding: original vs decoded signal, the spike raster, and Pareto fronts (matplotlib).

Features carry the names Gymnasium documents for them where known
(:func:`spikegym.envs.feature_names.display_names`); every panel of one episode
shares the x axis in env steps, the raster included.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from spikegym.envs.feature_names import display_names, label_channel_blocks
from spikegym.envs.gym_encoder import GymnasiumEncoder

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

LABEL_WIDTH = 14
"""Characters per line of a feature's (horizontal) y label."""


def plot_formats() -> list[str]:
    """The file name extensions :func:`plot_encoding` can save, as matplotlib's ``savefig`` knows them.

    >>> "png" in plot_formats() and "svg" in plot_formats()
    True
    """
    from matplotlib.figure import Figure

    return sorted(Figure().canvas.get_supported_filetypes())


def plot_encoding(
    gym_encoder: GymnasiumEncoder,
    episode: np.ndarray,
    path: str | Path,
    title: str = "",
    fronts: Sequence[np.ndarray] | None = None,
) -> Path:
    """Save :func:`encoding_figure` of one episode to ``path`` (any format of :func:`plot_formats`)."""
    figure = encoding_figure(gym_encoder, episode, title, fronts)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=120)
    return target


def feature_names_of(gym_encoder: GymnasiumEncoder) -> list[str]:
    """The encoder's features as Gymnasium documents them for its env (the layout's names where unknown).

    >>> import gymnasium as gym
    >>> encoder = GymnasiumEncoder(gym.make("MountainCar-v0").observation_space, "rate", env_id="MountainCar-v0")
    >>> feature_names_of(encoder)
    ['car position', 'car velocity']
    """
    config_env = gym_encoder.config.env_id if gym_encoder.config is not None else None
    return display_names(gym_encoder.env_id or config_env, gym_encoder.layout.names)


def channel_description(gym_encoder: GymnasiumEncoder) -> str:
    """What the channels of one feature's block are, for the raster's y label."""
    per_feature = gym_encoder.n_channels // gym_encoder.layout.n_features
    if gym_encoder.encoder.signed:
        return "spike channels\n(up and down\nper feature)"
    if per_feature > 1:
        return f"spike channels\n({per_feature} bins\nper feature)"
    return "spike channels\n(one per feature)"


def encoding_figure(
    gym_encoder: GymnasiumEncoder,
    episode: np.ndarray,
    title: str = "",
    fronts: Sequence[np.ndarray] | None = None,
) -> Figure:
    """One episode through ``gym_encoder``: per feature the observation and its decoded value, then the
    spike raster of all channels (named by feature), then (given) the Pareto fronts.

    The observation of env step ``k`` is drawn over ``[k, k + 1)``, where the raster shows the spikes it
    gave, and the decoded value there is the decoder's value at the end of that step's spikes.

    :param episode: flattened observations ``(length, F)``.
    :param fronts: per feature, ``(error, spike rate)`` rows of its Pareto front.
    """
    from matplotlib.figure import Figure

    blocks = [gym_encoder.reset_flat(episode[:1], seed=0)]
    blocks += [gym_encoder.step_flat(episode[k : k + 1]) for k in range(1, len(episode))]
    stacked = np.stack(blocks)
    decoded = gym_encoder.decode(stacked)
    names = feature_names_of(gym_encoder)
    heights = [1.2] * len(names) + [max(1.6, 0.3 * len(names))] + ([2.4] if fronts is not None else [])
    figure = Figure(figsize=(10, sum(heights) + 1.2), layout="constrained")
    grid = figure.add_gridspec(len(heights), 1, height_ratios=heights)
    first = figure.add_subplot(grid[0])
    panels = [first] + [figure.add_subplot(grid[j], sharex=first) for j in range(1, len(names))]
    edges = np.arange(len(episode) + 1)
    for j, (axis, name) in enumerate(zip(panels, names, strict=True)):
        axis.stairs(episode[:, j], edges, baseline=None, color="black", linewidth=1.2, label="observation")
        axis.stairs(decoded[:, j], edges, baseline=None, color="tab:red", linewidth=1.0, label="decoded")
        axis.set_ylabel(textwrap.fill(name, LABEL_WIDTH), rotation=0, ha="right", va="center")
        axis.tick_params(labelbottom=False)
    first.legend(loc="lower left", bbox_to_anchor=(0, 1.02), ncol=2, fontsize=8, frameon=False, borderaxespad=0)
    raster = figure.add_subplot(grid[len(names)], sharex=first)
    spikes = stacked.reshape(-1, gym_encoder.n_channels).T
    extent = (0, len(episode), gym_encoder.n_channels, 0)
    raster.imshow(spikes, aspect="auto", interpolation="nearest", cmap="Greys", extent=extent)
    label_channel_blocks(raster, names, gym_encoder.n_channels)
    raster.set_ylabel(channel_description(gym_encoder), fontsize=8)
    raster.set_xlabel(f"env step ({gym_encoder.substeps} sub-steps each)")
    raster.set_xlim(0, len(episode))
    if fronts is not None:
        _plot_fronts(figure.add_subplot(grid[-1]), names, fronts)
    figure.suptitle(title)
    return figure


def _plot_fronts(axis: Axes, names: Sequence[str], fronts: Sequence[np.ndarray]) -> None:
    for name, front in zip(names, fronts, strict=True):
        axis.plot(front[:, 1], front[:, 0], marker="o", markersize=3, label=name)
    axis.set_xlabel("spikes per feature per env step")
    axis.set_ylabel("error")
    axis.set_yscale("log")
    axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False, borderaxespad=0)
