"""The spiking extractor: snntorch's dynamics fused, stateless, read-outs, learnable encoder."""

from __future__ import annotations

import re

import gymnasium as gym
import pytest
import torch

from spikegym.rl.extractors import LearnablePopulationEncoder, SpikingExtractor, leaky_layer, spike_surrogate


@pytest.mark.parametrize(("reset", "delayed"), [("subtract", True), ("zero", False)])
def test_the_fused_layer_equals_snntorch_leaky_stepping(reset: str, delayed: bool) -> None:
    import snntorch as snn

    torch.manual_seed(0)
    grad = spike_surrogate("atan", 2.0)
    neuron = snn.Leaky(beta=0.8, threshold=1.0, spike_grad=grad, reset_mechanism=reset, reset_delay=delayed)
    current = (torch.randn(3, 8, 5) * 1.5).requires_grad_()
    spikes, membranes = leaky_layer(neuron, current)
    membrane, stepped, trace = torch.zeros(3, 5), [], []
    for t in range(8):
        spike, membrane = neuron(current[:, t], membrane)
        stepped.append(spike)
        trace.append(membrane)
    assert torch.equal(spikes, torch.stack(stepped, 1)) and torch.allclose(membranes, torch.stack(trace, 1))
    fused = torch.autograd.grad(spikes.sum() + membranes.sum(), current)[0]
    reference = torch.autograd.grad(torch.stack(stepped, 1).sum() + torch.stack(trace, 1).sum(), current)[0]
    assert torch.allclose(fused, reference)


def test_the_extractor_is_stateless_across_calls_and_keeps_no_graph() -> None:
    extractor = SpikingExtractor(gym.spaces.MultiBinary((8, 12)), hidden=(16, 16))
    x = torch.randint(0, 2, (4, 8, 12)).float()
    first, second = extractor(x), extractor(x)
    assert torch.equal(first, second), "a membrane survived between forward passes"
    first.sum().backward()
    second.sum().backward()  # would fail with "backward through the graph a second time" if state leaked


@pytest.mark.parametrize("readout", ["membrane_mean", "last_membrane", "spike_count"])
def test_readouts(readout: str) -> None:
    extractor = SpikingExtractor(gym.spaces.MultiBinary((4, 6)), hidden=(5,), readout=readout)
    features = extractor(torch.ones(2, 4, 6))
    assert features.shape == (2, 5)
    if readout == "spike_count":
        assert ((features >= 0) & (features <= 1)).all()


def test_the_learnable_population_encoder_learns_its_fields() -> None:
    encoder = LearnablePopulationEncoder(n_features=2, n_bins=6, steps=8)
    spikes = encoder(torch.tensor([[0.2, 0.9]]))
    assert spikes.shape == (1, 8, 12) and set(spikes.unique().tolist()) <= {0.0, 1.0}
    spikes.sum().backward()
    assert encoder.mu.grad is not None and encoder.mu.grad.abs().sum() > 0
    assert encoder.log_sigma.grad is not None and encoder.log_sigma.grad.abs().sum() > 0


def test_bad_extractor_arguments() -> None:
    space = gym.spaces.MultiBinary((4, 6))
    with pytest.raises(ValueError, match=r"readout must be one of"):
        SpikingExtractor(space, readout="vote")
    with pytest.raises(ValueError, match=r"surrogate must be one of"):
        SpikingExtractor(space, surrogate="sigmoidal")
    with pytest.raises(TypeError, match=r"observation_space must be MultiBinary\(\(T, C\)\)"):
        SpikingExtractor(gym.spaces.Discrete(3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_extractor_gives_the_same_features_and_gradients_on_cuda() -> None:
    torch.manual_seed(0)
    extractor = SpikingExtractor(gym.spaces.MultiBinary((8, 12)), hidden=[32, 8])
    spikes = (torch.rand(64, 8, 12) < 0.3).float()
    features = extractor(spikes)
    features.sum().backward()
    grads = [p.grad.clone() for p in extractor.parameters()]
    extractor.zero_grad()
    gpu = extractor.to("cuda")
    gpu_features = gpu(spikes.cuda())
    gpu_features.sum().backward()
    torch.testing.assert_close(gpu_features.cpu(), features, rtol=1e-4, atol=1e-5)
    for grad, param in zip(grads, gpu.parameters(), strict=True):
        torch.testing.assert_close(param.grad.cpu(), grad, rtol=1e-3, atol=1e-5)


def test_the_zero_reset_sets_the_membrane_to_zero_in_the_step_it_fires() -> None:
    extractor = SpikingExtractor(gym.spaces.MultiBinary((4, 1)), hidden=(1,), beta=0.5, reset="zero")
    neuron = extractor.neurons[0]
    spikes, membranes = leaky_layer(neuron, torch.tensor([[[0.6], [0.8], [0.3], [1.2]]]))
    assert spikes[0, :, 0].tolist() == [0.0, 1.0, 0.0, 1.0]  # 0.6; 0.3 + 0.8 = 1.1 fires; 0.3; 0.15 + 1.2 fires
    assert membranes[0, :, 0].tolist() == pytest.approx([0.6, 0.0, 0.3, 0.0])
    assert extractor.nir_exact is False
    assert SpikingExtractor(gym.spaces.MultiBinary((4, 1)), reset="zero", readout="spike_count").nir_exact


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reset": "none"}, "reset must be one of ['subtract', 'zero'], got 'none'"),
        ({"threshold": 0.0}, "threshold must be > 0, one number or one per layer of [64, 64], got 0.0"),
        ({"threshold": [1.0, -1.0]}, "threshold must be > 0, one number or one per layer of [64, 64], got [1.0, -1.0]"),
        ({"beta": [0.9, True]}, "beta must be in (0, 1], one number or one per layer of [64, 64], got [0.9, True]"),
    ],
)
def test_bad_reset_and_threshold_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        SpikingExtractor(gym.spaces.MultiBinary((4, 2)), **kwargs)


def test_beta_per_layer_gives_each_layer_its_own_leak_and_a_wrong_count_is_named() -> None:
    space = gym.spaces.MultiBinary((4, 6))
    extractor = SpikingExtractor(space, hidden=(8, 3), beta=[0.8, 1.0])
    assert [round(float(neuron.beta), 6) for neuron in extractor.neurons] == [0.8, 1.0]
    same = SpikingExtractor(space, hidden=(8, 3), beta=0.8)
    same.layers.load_state_dict(extractor.layers.state_dict())
    blocks = torch.ones(2, 4, 6)
    assert not torch.equal(extractor(blocks), same(blocks)), "the last layer's beta changed nothing"
    for beta in ([0.9], [0.9, 1.2], 0.0):
        with pytest.raises(ValueError, match=re.escape(f"one number or one per layer of [8, 3], got {beta!r}")):
            SpikingExtractor(space, hidden=(8, 3), beta=beta)
    silent = SpikingExtractor(space, hidden=(8, 3), threshold=[0.5, 1e6])
    assert [float(neuron.threshold) for neuron in silent.neurons] == [0.5, 1e6]


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("alpha", [1.0, 0.7])
def test_a_synaptic_first_layer_equals_snntorch_synaptic_stepping(alpha: float, reset: str) -> None:
    """``alpha``: snntorch's ``Synaptic`` on a bias-free first layer, spikes and gradients as if stepped."""
    import snntorch as snn

    torch.manual_seed(0)
    extractor = SpikingExtractor(gym.spaces.MultiBinary((6, 5)), hidden=(7, 3), alpha=alpha, reset=reset)
    first, second = extractor.layers
    assert first.bias is None and second.bias is not None and isinstance(extractor.neurons[0], snn.Synaptic)
    blocks = (torch.rand(4, 6, 5) < 0.5).float()
    features = extractor(blocks)
    synaptic, membranes, trace = torch.zeros(4, 7), [torch.zeros(4, 7), torch.zeros(4, 3)], []
    for t in range(6):
        spikes, synaptic, membranes[0] = extractor.neurons[0](first(blocks[:, t]), synaptic, membranes[0])
        _, membranes[1] = extractor.neurons[1](second(spikes), membranes[1])
        trace.append(membranes[1])
    stepped = torch.stack(trace, 1).mean(1)
    assert torch.equal(features, stepped)
    fused = torch.autograd.grad(features.sum(), first.weight)[0]
    reference = torch.autograd.grad(stepped.sum(), first.weight)[0]
    assert fused.abs().sum() > 0 and torch.allclose(fused, reference, atol=1e-6)


def test_a_synaptic_current_with_alpha_one_sums_the_inputs_of_the_whole_window() -> None:
    """A change code's up spikes and down spikes cancel in the current: it holds the level they encode."""
    extractor = SpikingExtractor(gym.spaces.MultiBinary((6, 2)), hidden=(1,), alpha=1.0, threshold=1e6)
    with torch.no_grad():
        extractor.layers[0].weight.copy_(torch.tensor([[1.0, -1.0]]))
    up_down = torch.tensor([[[1, 0], [1, 0], [0, 0], [0, 1], [1, 0], [0, 0]]], dtype=torch.float32)
    _, _, final = extractor.run_layers(up_down)
    assert final[-1][0].item() == 2.0  # three up, one down


@pytest.mark.parametrize("alpha", [0.0, 1.5, True, "1"])
def test_a_bad_alpha_is_named(alpha: object) -> None:
    with pytest.raises(
        ValueError, match=re.escape(f"alpha must be None (no synaptic current) or a number in (0, 1], got {alpha!r}")
    ):
        SpikingExtractor(gym.spaces.MultiBinary((4, 2)), alpha=alpha)
