"""Replay a trained run exactly as it was trained: returns, spike rates, operations and energy per decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3 import DQN, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from torch import nn

from spikegym.envs.feature_names import display_names, label_channel_blocks
from spikegym.envs.wrappers import ScaledObservationWrapper, SpikeObservationWrapper
from spikegym.rl.acting import Agent
from spikegym.rl.algorithms import STATEFUL
from spikegym.rl.energy import DecisionCost, EnergyModel, decision_cost, dense_cost, linear_macs, spiking_cost
from spikegym.rl.extractors import SpikingExtractor
from spikegym.rl.neurobench_metrics import NeuroBenchCounts, neurobench_counts, require_neurobench
from spikegym.rl.recipes import Recipe
from spikegym.rl.recurrent import SpikingRecurrentCore
from spikegym.rl.runs import Run, RunError
from spikegym.rl.training import LEARNABLE, load_model

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


@dataclass
class ReplayReport:
    """What a replay measured.

    :param returns: the return of each episode.
    :param input_spikes: mean input spikes per decision (spiking runs).
    :param input_rate: input spikes per channel per sub-step.
    :param hidden_rates: spikes per neuron per sub-step, per spiking layer.
    :param hidden_spikes: mean spikes of all spiking layers per decision.
    :param activation_sparsity: the share of the spiking layers' neurons x sub-steps without a spike.
    :param dense_ops: every input times every weight of the spiking layers at every sub-step, plus the head's
        MACs, per decision (NeuroBench's ``Dense``).
    :param spiking: the spiking network's cost per decision (``None`` for an ANN run).
    :param ann: the cost of the equivalent ANN (same layer sizes on the raw observation) per decision.
    :param baseline: for a spiking run, the cost of the algorithm's standard MLP (the recipe's
        ``ann_net_arch`` on the raw observation, what the benchmark's MLP baseline runs) per decision.
    :param energy: the energy model used.
    :param neurobench: NeuroBench's counts of the acting network on the replayed spike inputs (spiking runs
        replayed with ``neurobench=True``), per decision.
    """

    returns: list[float]
    input_spikes: float = 0.0
    input_rate: float = 0.0
    hidden_rates: list[float] = field(default_factory=list)
    hidden_spikes: float = 0.0
    activation_sparsity: float = 0.0
    dense_ops: float = 0.0
    spiking: DecisionCost | None = None
    ann: DecisionCost | None = None
    baseline: DecisionCost | None = None
    energy: EnergyModel = field(default_factory=EnergyModel)
    neurobench: NeuroBenchCounts | None = None

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std_return(self) -> float:
        return float(np.std(self.returns))


def actor_parts(model: BaseAlgorithm) -> tuple[nn.Module, list[nn.Module]]:
    """The feature extractor (a stateful policy's spiking layers, or an ANN's LSTM) and the head modules the model
    acts with (critics and value nets excluded)."""
    policy = model.policy
    if isinstance(model, RecurrentPPO):
        core = policy.lstm_actor
        head = [policy.mlp_extractor.policy_net, policy.action_net]
        return (core.extractor if isinstance(core, SpikingRecurrentCore) else core), head
    if isinstance(model, DQN):
        return policy.q_net.features_extractor, [policy.q_net.q_net]
    if isinstance(model, SAC):
        return policy.actor.features_extractor, [policy.actor.latent_pi, policy.actor.mu]
    if isinstance(model, TD3):
        return policy.actor.features_extractor, [policy.actor.mu]
    return policy.pi_features_extractor, [policy.mlp_extractor.policy_net, policy.action_net]


def baseline_cost(recipe: Recipe, n_features: int, n_actions: int, energies: EnergyModel) -> DecisionCost:
    """The cost per decision of ``recipe``'s ANN baseline (``spikegym train --ann``) on ``n_features`` raw values:
    its MLP, after an LSTM of ``ann_net_arch[0]`` units for a stateful algorithm (recurrent PPO).

    >>> recipe = Recipe("recurrent_ppo", "X-v0", 10, 1, ann_net_arch=[8, 4])
    >>> baseline_cost(recipe, 2, 3, EnergyModel()).macs  # 4 gates x 8 x (2 + 8), then 8 x 4 and 4 x 3
    364
    """
    arch = list(recipe.ann_net_arch)
    if recipe.algo not in STATEFUL:
        return dense_cost([n_features, *arch, n_actions], energies)
    lstm = 4 * arch[0] * (n_features + arch[0])  # its input and recurrent weights, four gates
    return decision_cost(0.0, lstm + dense_cost([*arch, n_actions]).macs, energies)


def baseline_name(recipe: Recipe) -> str:
    """How the tables name ``recipe``'s ANN baseline.

    >>> baseline_name(Recipe("ppo", "X-v0", 10, 1, ann_net_arch=[64, 64]))
    'MLP 64-64'
    >>> baseline_name(Recipe("recurrent_ppo", "X-v0", 10, 1, ann_net_arch=[64, 64]))
    'LSTM 64 + MLP 64'
    """
    arch = [str(size) for size in recipe.ann_net_arch]
    if recipe.algo in STATEFUL:
        return f"LSTM {arch[0]}" + (f" + MLP {'-'.join(arch[1:])}" if arch[1:] else "")
    return f"MLP {'-'.join(arch)}"


def make_replay_env(run: Run, render_mode: str | None = None) -> gym.Env:
    """One env of the run's id, made with its ``env_kwargs`` (``render_mode`` replacing theirs if given), with
    its saved encoder config (raw observations for an ANN run)."""
    kwargs = {**run.info.env_kwargs, **({"render_mode": render_mode} if render_mode is not None else {})}
    return wrap_for_run(run, gym.make(run.info.env_id, **kwargs))


def wrap_for_run(run: Run, env: gym.Env) -> gym.Env:
    """``env`` wrapped to give the observations the run's model was trained on."""
    if run.config is None:
        return env
    if run.info.encoder == LEARNABLE:
        return ScaledObservationWrapper(env, config=run.config)
    return SpikeObservationWrapper(env, run.config)


def replay(
    run: Run,
    episodes: int = 20,
    deterministic: bool = True,
    seed: int = 0,
    energy: EnergyModel | None = None,
    video: str | Path | None = None,
    raster: str | Path | None = None,
    neurobench: bool = False,
) -> ReplayReport:
    """Evaluate ``run`` for ``episodes`` episodes and measure its spikes and cost per decision.

    The env is seeded with ``seed`` on its first reset. ``video`` (``.gif``, or
    ``.mp4`` with the ``video`` extra) saves the first episode's frames; ``raster`` plots its input and hidden
    spike rasters. With ``neurobench`` a spiking run's acting network is measured by NeuroBench on every
    replayed spike input too (:func:`~spikegym.rl.neurobench_metrics.neurobench_counts`; an optional install).
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    check_outputs(run, video, raster)
    if neurobench and run.spiking:
        require_neurobench()
    env = make_replay_env(run, render_mode="rgb_array" if video else None)
    model = load_model(run)
    if model.observation_space != env.observation_space:
        raise RunError(
            f"{run.path}: the model was trained on observations {model.observation_space}, but its saved "
            f"encoder config gives {env.observation_space}; the run directory does not match its model"
        )
    extractor, head = actor_parts(model)
    spiking = isinstance(extractor, SpikingExtractor)
    if spiking:
        extractor.record = True
    energies = energy or EnergyModel()
    returns, input_spikes, layer_spikes, decisions = [], 0.0, None, 0
    frames, episode_blocks, episode_layers = [], [], []
    inputs, starts = [], []  # spike inputs and episode starts per decision, for NeuroBench
    agent = Agent(model, deterministic)
    observation, _ = env.reset(seed=seed)
    for episode in range(episodes):
        total, done, first = 0.0, False, True
        agent.episode_started()
        while not done:
            if video is not None and episode == 0:
                frames.append(env.render())
            action = agent(observation)
            if spiking:
                counts = [float(spikes.sum()) for spikes in extractor.last_spikes]
                layer_spikes = (
                    counts if layer_spikes is None else [a + b for a, b in zip(layer_spikes, counts, strict=True)]
                )
                input_spikes += float(extractor.last_input.sum())
                if neurobench:
                    inputs.append(extractor.last_input[0].to(torch.uint8))
                    starts.append(first)
                if episode == 0 and raster is not None:
                    episode_blocks.append(extractor.last_input[0].numpy())
                    episode_layers.append([spikes[0].numpy() for spikes in extractor.last_spikes])
            decisions, first = decisions + 1, False
            observation, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
        observation, _ = env.reset()
    env.close()
    report = ReplayReport(returns, energy=energies)
    head_macs = linear_macs(head)
    if spiking:
        steps = extractor.steps
        report.input_spikes = input_spikes / decisions
        report.input_rate = report.input_spikes / (steps * extractor.layers[0].in_features)
        sizes = [layer.out_features for layer in extractor.layers]
        report.hidden_rates = [
            count / decisions / (steps * size) for count, size in zip(layer_spikes or [], sizes, strict=True)
        ]
        report.hidden_spikes = sum(layer_spikes or []) / decisions
        report.activation_sparsity = 1.0 - report.hidden_spikes / (steps * sum(sizes))
        report.dense_ops = steps * dense_cost([extractor.layers[0].in_features, *sizes]).macs + head_macs
        spikes_in = [report.input_spikes] + [count / decisions for count in (layer_spikes or [])[:-1]]
        report.spiking = spiking_cost(list(extractor.layers), spikes_in, head_macs, energies, steps)
        n_features = (
            env.layout.n_features if isinstance(env, ScaledObservationWrapper) else env.gym_encoder.layout.n_features
        )
        report.ann = decision_cost(0.0, dense_cost([n_features, *sizes]).macs + head_macs, energies)
        n_actions = int(np.prod(env.action_space.shape)) if env.action_space.shape else int(env.action_space.n)
        report.baseline = baseline_cost(run.recipe, n_features, n_actions, energies)
        extractor.record = False
        if neurobench:
            stateful = isinstance(model, RecurrentPPO)
            report.neurobench = neurobench_counts(extractor, head, torch.stack(inputs), starts if stateful else None)
    else:
        report.ann = decision_cost(0.0, linear_macs([extractor, *head]), energies)
    if video is not None:
        _save_video(frames, Path(video), fps=int(env.metadata.get("render_fps", 30)))
    if raster is not None:
        _plot_raster(episode_blocks, episode_layers, Path(raster), run)
    return report


def check_outputs(
    run: Run, video: str | Path | None, raster: str | Path | None, names: tuple[str, str] = ("video", "raster")
) -> None:
    """Refuse, before any work, a video or raster that cannot be written as asked (``names``: how to call them).

    A video is a ``.gif`` (or ``.mp4`` with imageio-ffmpeg); a raster is an
    image matplotlib writes, and needs a spiking run (an ANN run has no spikes
    to plot). Neither overwrites an existing file.
    """
    video_name, raster_name = names
    for name, path in ((video_name, video), (raster_name, raster)):
        if path is not None and Path(path).exists():
            raise ValueError(f"{name} {str(path)!r} exists; choose another path or delete it first")
    if video is not None:
        _check_video_path(Path(video), video_name)
    if raster is not None:
        if not run.spiking:
            raise ValueError(f"{raster_name}: {run.path} is an ANN run on raw observations; it has no spikes to plot")
        _check_image_path(Path(raster), raster_name)


def _check_video_path(path: Path, name: str) -> None:
    suffix = path.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ValueError(f"{name} must be a .gif or .mp4 path, got {str(path)!r}")
    if suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise ValueError(
                f"{name}: an .mp4 video needs imageio-ffmpeg: pip install 'spikegym[video]' (or use .gif)"
            ) from None


def _check_image_path(path: Path, name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    formats = sorted(FigureCanvasAgg.get_supported_filetypes())
    if path.suffix.lower().lstrip(".") not in formats:
        raise ValueError(f"{name} must be an image path ending in one of {formats} (e.g. .png), got {str(path)!r}")


def _save_video(frames: list[np.ndarray], path: Path, fps: int) -> None:
    """Write frames as a GIF (Pillow) or an MP4 (imageio with its bundled ffmpeg)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        from PIL import Image

        images = [Image.fromarray(frame) for frame in frames]
        images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
        return
    import imageio.v2 as imageio

    imageio.mimwrite(path, frames, fps=fps, macro_block_size=1)


def _plot_raster(blocks: list[np.ndarray], layers: list[list[np.ndarray]], path: Path, run: Run) -> Figure:
    """Save (and return) the spike rasters of one episode: the input channels, named by the feature whose
    block they belong to (as Gymnasium documents the features), then each hidden layer's neurons; every
    panel on one x axis in env steps, sub-step ``s`` of decision ``k`` drawn at ``k + (s + 0.5) / T``."""
    from matplotlib.figure import Figure

    steps = blocks[0].shape[0]
    inputs = np.concatenate(blocks)
    hidden = [np.concatenate([step[i] for step in layers]) for i in range(len(layers[0]))]
    names = _input_feature_names(run)
    heights = [max(2.0, 0.3 * len(names))] + [2.0] * len(hidden)
    figure = Figure(figsize=(10, sum(heights) + 1.0), layout="constrained")
    axes = figure.subplots(len(heights), 1, sharex=True, squeeze=False, height_ratios=heights)[:, 0]
    _scatter_spikes(axes[0], inputs, steps)
    label_channel_blocks(axes[0], names, inputs.shape[1], row_start=-0.5)
    axes[0].set_ylabel(f"input\n({inputs.shape[1]} channels,\nby feature)")
    for number, (axis, spikes) in enumerate(zip(axes[1:], hidden, strict=True), start=1):
        _scatter_spikes(axis, spikes, steps)
        axis.set_ylabel(f"hidden layer {number}\n(neuron, of {spikes.shape[1]})")
    axes[0].set_xlim(0, len(blocks))
    axes[-1].set_xlabel(f"env step ({steps} sub-steps each)")
    figure.suptitle(f"{run.info.env_id} {run.info.algo}: spike rasters of one episode")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return figure


def _scatter_spikes(axis: Axes, spikes: np.ndarray, steps: int) -> None:
    """Spikes ``(time, neurons)`` as ticks at env step ``(t + 0.5) / steps``, neuron 0 at the top."""
    from matplotlib.ticker import MaxNLocator

    times, neurons = np.nonzero(spikes)
    axis.scatter((times + 0.5) / steps, neurons, s=4, marker="|", linewidths=0.8, color="black")
    axis.set_ylim(spikes.shape[1] - 0.5, -0.5)
    axis.yaxis.set_major_locator(MaxNLocator(integer=True))


def _input_feature_names(run: Run) -> list[str]:
    """The names of the features the run's input channels encode, as Gymnasium documents them where known."""
    env = make_replay_env(run)
    try:
        layout = env.layout if isinstance(env, ScaledObservationWrapper) else env.gym_encoder.layout
    finally:
        env.close()
    return display_names(run.info.env_id, layout.names)


def recorded_actions(run: Run, observations: np.ndarray, model: BaseAlgorithm | None = None) -> np.ndarray:
    """Deterministic actions of the run's model (or ``model``) for a batch of observations (normalised first
    with the model's ``VecNormalize`` statistics, if it has them)."""
    acting = model or load_model(run)
    statistics = acting.get_vec_normalize_env()
    if statistics is not None:
        observations = statistics.normalize_obs(observations)
    with torch.no_grad():
        actions, _ = acting.predict(observations, deterministic=True)
    return np.asarray(actions)
