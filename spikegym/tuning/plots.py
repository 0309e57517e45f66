"""Figures of an encoding: original vs decoded signal, the spike raster, and Pareto fronts (matplotlib)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from spikegym.envs.gym_encoder import GymnasiumEncoder


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
    """Save a figure of one episode through ``gym_encoder``: per feature the observation and its
    decoded value, then the spike raster of all channels, then (given) the Pareto fronts.

    :param episode: flattened observations ``(length, F)``.
    :param fronts: per feature, ``(error, spike rate)`` rows of its Pareto front.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    blocks = [gym_encoder.reset_flat(episode[:1], seed=0)]
    blocks += [gym_encoder.step_flat(episode[k : k + 1]) for k in range(1, len(episode))]
    stacked = np.stack(blocks)
    decoded = gym_encoder.decode(stacked)
    names = gym_encoder.layout.names
    n_features = len(names)
    rows = n_features + 1 + (1 if fronts is not None else 0)
    figure, axes = plt.subplots(rows, 1, figsize=(9, 1.6 * rows + 1.5), squeeze=False)
    steps = np.arange(len(episode))
    for j, name in enumerate(names):
        axis = axes[j, 0]
        axis.plot(steps, episode[:, j], color="black", linewidth=1.2, label="observation")
        axis.plot(steps, decoded[:, j], color="tab:red", linewidth=1.0, marker=".", markersize=3, label="decoded")
        axis.set_ylabel(name, rotation=0, ha="right")
        if j == 0:
            axis.legend(loc="upper right", fontsize=8)
    raster = axes[n_features, 0]
    spikes = stacked.reshape(-1, gym_encoder.n_channels).T
    extent = (0, len(episode), gym_encoder.n_channels, 0)
    raster.imshow(spikes, aspect="auto", interpolation="nearest", cmap="Greys", extent=extent)
    raster.set_ylabel("channel")
    raster.set_xlabel("env step")
    if fronts is not None:
        axis = axes[-1, 0]
        for name, front in zip(names, fronts, strict=True):
            axis.plot(front[:, 1], front[:, 0], marker="o", markersize=3, label=name)
        axis.set_xlabel("spikes per feature per env step")
        axis.set_ylabel("error")
        axis.set_yscale("log")
        axis.legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=120)
    plt.close(figure)
    return target
