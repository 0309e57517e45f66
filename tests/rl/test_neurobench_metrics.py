"""spikegym's operation counts equal NeuroBench's (``neurobench`` itself, on the same network and the same
replayed spike observations), and each documented difference (docs/energy.md) is exactly what separates them.

NeuroBench is an optional install (``pip install --no-deps neurobench==2.3.0``): locally a missing one skips
with the reason; in CI (``$CI`` set) it fails.
"""

from __future__ import annotations

import importlib
import os

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

import spikegym
from spikegym.rl.energy import EnergyModel, spiking_cost
from spikegym.rl.extractors import SpikingExtractor, leaky_layer
from spikegym.rl.neurobench_metrics import NEUROBENCH_INSTALL, SnnTorchActor, neurobench_counts

HIDDEN = (12, 7)


@pytest.fixture(autouse=True)
def neurobench_installed() -> None:
    """Skip (fail in CI) when NeuroBench cannot be imported."""
    try:
        importlib.import_module("neurobench.metrics.workload")
    except ImportError as error:
        message = f"NeuroBench is not installed ({error}): {NEUROBENCH_INSTALL}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def replayed_observations(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray, gym.Space]:
    """``n`` spike observations of CartPole-v1's shipped encoder under random actions, and the episode starts."""
    env = spikegym.make("CartPole-v1")
    env.action_space.seed(seed)
    observations, starts = [], []
    observation, _ = env.reset(seed=seed)
    start = True
    for _ in range(n):
        observations.append(observation)
        starts.append(start)
        observation, _, terminated, truncated, _ = env.step(env.action_space.sample())
        start = terminated or truncated
        if start:
            observation, _ = env.reset()
    return np.stack(observations), np.array(starts), env.observation_space


def network(space: gym.Space, seed: int = 0, **options: object) -> tuple[SpikingExtractor, list[nn.Module]]:
    """A random spiking extractor of :data:`HIDDEN` layers and a linear action head."""
    torch.manual_seed(seed)
    extractor = SpikingExtractor(space, hidden=HIDDEN, **options)
    with torch.no_grad():  # larger weights than the default init, so that every layer spikes
        for layer in extractor.layers:
            layer.weight.mul_(3.0)
    return extractor, [nn.Sequential(), nn.Linear(HIDDEN[-1], 2)]


def spikegym_counts(extractor: SpikingExtractor, head: list[nn.Module], blocks: torch.Tensor) -> dict[str, float]:
    """spikegym's own counts per decision, from the extractor's recorded spikes."""
    extractor.record = True
    with torch.no_grad():
        extractor(blocks)
    extractor.record = False
    n, steps = len(blocks), extractor.steps
    layer_spikes = [float(spikes.sum()) / n for spikes in extractor.last_spikes]
    spikes_in = [float(blocks.sum()) / n, *layer_spikes[:-1]]
    head_macs = sum(m.weight.numel() for module in head for m in module.modules() if isinstance(m, nn.Linear))
    cost = spiking_cost(list(extractor.layers), spikes_in, head_macs, EnergyModel(), steps)
    sizes = [layer.in_features * layer.out_features for layer in extractor.layers]
    return {
        "acs": cost.synaptic_ops,
        "macs": cost.macs,
        "neuron_updates": cost.neuron_updates,
        "dense": steps * sum(sizes) + head_macs,
        "sparsity": 1.0 - sum(layer_spikes) / (steps * sum(HIDDEN)),
    }


@pytest.mark.parametrize("batch", [1, 1024])
def test_spikegyms_counts_equal_neurobenchs_on_replayed_observations(batch: int) -> None:
    observations, _, space = replayed_observations()
    extractor, head = network(space)
    blocks = torch.as_tensor(observations, dtype=torch.float32)
    ours = spikegym_counts(extractor, head, blocks)
    theirs = neurobench_counts(extractor, head, observations, batch=batch)
    assert all(bool((layer.weight != 0).all()) for layer in extractor.layers)  # NeuroBench skips zero weights
    assert 0 < ours["sparsity"] < 1 and ours["acs"] > 0
    assert theirs.decisions == len(observations)
    assert theirs.effective_acs == pytest.approx(ours["acs"], rel=1e-12)
    assert theirs.effective_macs == pytest.approx(ours["macs"], rel=1e-12)  # the head on nonzero membrane means
    assert theirs.dense_ops == pytest.approx(ours["dense"], rel=1e-12)
    assert theirs.activation_sparsity == pytest.approx(ours["sparsity"], rel=1e-9)
    assert theirs.membrane_updates == pytest.approx(ours["neuron_updates"], rel=1e-12)  # every membrane changes


def test_a_zero_weight_is_a_synaptic_op_for_spikegym_and_none_for_neurobench() -> None:
    observations, _, space = replayed_observations()
    extractor, head = network(space)
    blocks = torch.as_tensor(observations, dtype=torch.float32)
    channel = int(blocks.sum(dim=(0, 1)).argmax())  # the busiest input channel
    with torch.no_grad():
        extractor.layers[0].weight[:, channel] = 0.0
    ours = spikegym_counts(extractor, head, blocks)
    theirs = neurobench_counts(extractor, head, observations)
    skipped = float(blocks[:, :, channel].sum()) / len(blocks) * HIDDEN[0]
    assert skipped > 0
    assert theirs.effective_acs == pytest.approx(ours["acs"] - skipped, rel=1e-12)


def test_neurobench_counts_only_the_membranes_that_changed() -> None:
    observations, _, space = replayed_observations()
    extractor, head = network(space)
    with torch.no_grad():  # neuron 0 of the second layer gets no input and no bias: its membrane stays at 0
        extractor.layers[1].weight[0] = 0.0
        extractor.layers[1].bias[0] = 0.0
    blocks = torch.as_tensor(observations, dtype=torch.float32)
    unchanged, x = 0, blocks
    with torch.no_grad():
        for layer, neuron in zip(extractor.layers, extractor.neurons, strict=True):
            x, membranes = leaky_layer(neuron, layer(x))
            unchanged += int((membranes[:, 1:] == membranes[:, :-1]).sum())  # the first sub-step always counts
    ours = spikegym_counts(extractor, head, blocks)
    theirs = neurobench_counts(extractor, head, observations)
    assert unchanged >= len(blocks) * (extractor.steps - 1)
    assert theirs.membrane_updates == pytest.approx(ours["neuron_updates"] - unchanged / len(blocks), rel=1e-12)


def test_a_head_on_binary_features_costs_neurobench_acs_not_macs() -> None:
    space = gym.spaces.MultiBinary((1, 10))  # one sub-step: the spike-count read-out is 0 or 1
    extractor, head = network(space, readout="spike_count")
    blocks = (torch.rand(64, 1, 10, generator=torch.Generator().manual_seed(1)) < 0.4).float()
    ours = spikegym_counts(extractor, head, blocks)
    theirs = neurobench_counts(extractor, head, blocks)
    with torch.no_grad():
        features = extractor(blocks)
    head_acs = float((features != 0).sum()) / len(blocks) * 2
    assert head_acs > 0 and theirs.effective_macs == 0.0
    assert theirs.effective_acs == pytest.approx(ours["acs"] + head_acs, rel=1e-12)


@pytest.mark.parametrize("options", [{"beta": [0.9, 1.0]}, {"alpha": 1.0}])
def test_a_stateful_policys_episodes_run_as_sequences(options: dict) -> None:
    """Membranes (and a synaptic first layer's current) carried across each episode's decisions."""
    observations, starts, space = replayed_observations(n=90)
    extractor, head = network(space, **options)
    assert starts.sum() >= 2  # the random policy ends several episodes
    blocks = torch.as_tensor(observations, dtype=torch.float32)
    marks = torch.as_tensor(starts).reshape(1, -1)
    extractor.record = True
    with torch.no_grad():
        extractor.run_layers(blocks.reshape(1, -1, blocks.shape[-1]), starts=marks)  # membranes carried
    extractor.record = False
    layer_spikes = [float(spikes.sum()) / len(blocks) for spikes in extractor.last_spikes]
    acs = spiking_cost(list(extractor.layers), [float(blocks.sum()) / len(blocks), *layer_spikes[:-1]], 0).synaptic_ops
    theirs = neurobench_counts(extractor, head, observations, starts)
    stateless = neurobench_counts(extractor, head, observations)
    assert theirs.effective_acs == pytest.approx(acs, rel=1e-12)
    assert theirs.activation_sparsity == pytest.approx(1 - sum(layer_spikes) / (extractor.steps * sum(HIDDEN)))
    assert theirs.effective_acs != pytest.approx(stateless.effective_acs)  # carried membranes spike differently


@pytest.mark.parametrize("alpha", [None, 1.0])
def test_the_snntorch_network_acts_as_the_extractor(alpha: float | None) -> None:
    observations, _, space = replayed_observations(n=40)
    extractor, head = network(space, reset="zero", readout="last_membrane", alpha=alpha)
    blocks = torch.as_tensor(observations, dtype=torch.float32)
    with torch.no_grad():
        expected = nn.Sequential(*head)(extractor(blocks))
        assert torch.equal(SnnTorchActor(extractor, head)(blocks)[:, 0], expected)


def test_bad_inputs_are_refused() -> None:
    observations, _, space = replayed_observations(n=10)
    extractor, head = network(space)
    with pytest.raises(ValueError, match=r"inputs must be spike blocks \(N, T=\d+, C=\d+\), got shape \(10, 3\)"):
        neurobench_counts(extractor, head, observations[:, 0, :3])
    with pytest.raises(ValueError, match=r"starts must be \(10,\) episode-start flags with the first set"):
        neurobench_counts(extractor, head, observations, np.zeros(10, bool))
    with pytest.raises(ValueError, match="batch must be >= 1, got 0"):
        neurobench_counts(extractor, head, observations, batch=0)
