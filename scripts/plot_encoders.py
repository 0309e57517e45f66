"""The encoder gallery: one CartPole-v1 episode through each of the six encoders.

Each encoder uses CartPole-v1's shipped bounds and its tuned parameters:
the shipped config's for population coding, and for the others the result of
``spikegym.tuning.studies.tune_encoder`` (the same search as ``spikegym tune``,
seeded) on random-policy rollouts. The episode is driven by a simple
balancing controller (push towards the pole's lean), so it runs long. Writes
one PNG per encoder (every feature, named as Gymnasium documents it, against
its decoded value, and the spike raster named by feature; the held-out error
and spike rate in the title) and an overview PNG. Run from the repository root::

    python scripts/plot_encoders.py                 # results/gallery/
    python scripts/plot_encoders.py --quick --out /tmp/gallery
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import gymnasium as gym
import numpy as np
import optuna

from spikegym.encoders import names
from spikegym.envs.configs import load_config
from spikegym.envs.feature_names import display_names, label_channel_blocks
from spikegym.envs.gym_encoder import GymnasiumEncoder
from spikegym.envs.rollouts import balancing_policy, record
from spikegym.tuning.objectives import stream_scores
from spikegym.tuning.plots import plot_encoding
from spikegym.tuning.studies import tune_encoder

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ENV_ID = "CartPole-v1"
POLE_ANGLE = 2
"""The feature the overview plots against its decoded value."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="results/gallery", help="output folder (default results/gallery)")
    parser.add_argument("--trials", type=int, default=100, help="tuning trials per feature (default 100)")
    parser.add_argument("--quick", action="store_true", help="10 trials and a 100-step episode")
    args = parser.parse_args()
    trials = 10 if args.quick else args.trials
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out = Path(args.out)
    config = load_config(ENV_ID)
    low, high = np.asarray(config.low), np.asarray(config.high)
    tuning, held_out = record(ENV_ID, 4000, seed=0).split(0.2, seed=0)
    episode = record(ENV_ID, 100 if args.quick else 400, seed=7, policy=balancing_policy).episodes[0]
    space = gym.make(ENV_ID).observation_space
    panels = []
    for name in names():
        if name == config.encoder:
            encoder = GymnasiumEncoder(space, config, env_id=ENV_ID)
            source = "shipped config"
        else:
            tuned = tune_encoder(name, tuning, held_out, low, high, n_trials=trials, seed=0)
            encoder = GymnasiumEncoder(space, name, bounds=(low, high), env_id=ENV_ID, **tuned.params)
            source = f"tuned, {trials} trials"
        scores = stream_scores(encoder, [episode])
        title = f"{name} ({source}): NRMSE {scores.nrmse:.4f}, {scores.spike_rate:.2f} spikes/feature/step"
        path = plot_encoding(encoder, episode, out / f"{name}.png", title)
        print(f"{path}: {title}")
        panels.append((name, encoder, scores))
    overview(panels, episode, out / "overview.png")
    print(f"{out / 'overview.png'}")


def overview(panels: list, episode: np.ndarray, path: Path) -> Figure:
    """Per encoder: the pole angle against its decoded value, and the raster of all channels named by
    feature; every panel on one x axis in env steps (observation ``k`` over ``[k, k + 1)``, where its
    spikes are). Saved to ``path`` and returned."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 1.9 * len(panels) + 0.8), layout="constrained")
    axes = figure.subplots(len(panels), 2, sharex=True, squeeze=False)
    edges = np.arange(len(episode) + 1)
    for row, (name, encoder, scores) in enumerate(panels):
        names = display_names(ENV_ID, encoder.layout.names)
        blocks = [encoder.reset_flat(episode[:1], seed=0)]
        blocks += [encoder.step_flat(episode[k : k + 1]) for k in range(1, len(episode))]
        stacked = np.stack(blocks)
        decoded = encoder.decode(stacked)
        left, right = axes[row]
        left.stairs(episode[:, POLE_ANGLE], edges, baseline=None, color="black", linewidth=1.0, label=names[POLE_ANGLE])
        left.stairs(decoded[:, POLE_ANGLE], edges, baseline=None, color="tab:red", linewidth=0.9, label="decoded")
        left.set_ylabel(name)
        left.set_title(f"NRMSE {scores.nrmse:.4f}, {scores.spike_rate:.2f} spikes/feature/step", fontsize=9)
        raster = stacked.reshape(-1, encoder.n_channels).T
        right.imshow(
            raster, aspect="auto", interpolation="nearest", cmap="Greys", extent=(0, len(episode), raster.shape[0], 0)
        )
        label_channel_blocks(right, names, encoder.n_channels)
        right.tick_params(axis="y", labelsize=7)
        right.set_title(f"{encoder.n_channels} channels, T={encoder.substeps}", fontsize=9)
    axes[0, 0].set_xlim(0, len(episode))
    axes[0, 0].legend(fontsize=7, loc="lower right", bbox_to_anchor=(1, 1.18), ncol=2, frameon=False, borderaxespad=0)
    axes[-1, 0].set_xlabel("env step")
    axes[-1, 1].set_xlabel(f"env step ({panels[0][1].substeps} sub-steps each)")
    figure.suptitle(f"{ENV_ID}: one balancing episode through each encoder")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return figure


if __name__ == "__main__":
    main()
