"""The fused leaky scan against snntorch's ``Leaky`` stepped sub-step by sub-step, module by module.

Spikes and membranes must be equal bit for bit (the scan does the same float
operations in the same order); gradients equal autograd's through the stepped
modules to float rounding: ``rtol=1e-5, atol=1e-6`` in float32 and
``rtol=1e-10, atol=1e-12`` in float64. Every surrogate, both resets
(``subtract`` delayed, snntorch's default; ``zero`` with ``reset_delay=False``,
the NIR-exact one), ``beta < 1`` and ``beta = 1``.
"""

from __future__ import annotations

import gymnasium as gym
import pytest
import snntorch as snn
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikegym.rl import leaky_scan as scan_module
from spikegym.rl.extractors import SURROGATES, SpikingExtractor, leaky_layer, spike_surrogate
from spikegym.rl.leaky_scan import leaky_scan

RESETS = [("subtract", True), ("zero", False)]
TOLERANCE = {torch.float32: {"rtol": 1e-5, "atol": 1e-6}, torch.float64: {"rtol": 1e-10, "atol": 1e-12}}


def stepped_leaky(neuron: snn.Leaky, current: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Spikes and membranes ``(B, T, N)`` of ``neuron`` called once per sub-step, its membrane passed along."""
    membrane = torch.zeros_like(current[:, 0])
    spikes, membranes = [], []
    for t in range(current.shape[1]):
        spike, membrane = neuron(current[:, t], membrane)
        spikes.append(spike)
        membranes.append(membrane)
    return torch.stack(spikes, 1), torch.stack(membranes, 1)


def stepped_extractor(extractor: SpikingExtractor, blocks: torch.Tensor) -> torch.Tensor:
    """The extractor's features the textbook way: each sub-step through each ``nn.Linear`` and ``snn.Leaky``."""
    membranes = [torch.zeros(blocks.shape[0], layer.out_features, dtype=blocks.dtype) for layer in extractor.layers]
    spikes, trace = [], []
    for t in range(blocks.shape[1]):
        x = blocks[:, t]
        for i, (layer, neuron) in enumerate(zip(extractor.layers, extractor.neurons, strict=True)):
            x, membranes[i] = neuron(layer(x), membranes[i])
        spikes.append(x)
        trace.append(membranes[-1])
    if extractor.readout == "spike_count":
        return torch.stack(spikes, 1).mean(1)
    if extractor.readout == "last_membrane":
        return trace[-1]
    return torch.stack(trace, 1).mean(1)


def _neuron(reset: str, delayed: bool, beta: float, surrogate: str, threshold: float = 1.0) -> snn.Leaky:
    grad = spike_surrogate(surrogate)
    return snn.Leaky(beta=beta, threshold=threshold, spike_grad=grad, reset_mechanism=reset, reset_delay=delayed)


def _grads(
    outputs: tuple[torch.Tensor, torch.Tensor], current: torch.Tensor, weights: tuple[torch.Tensor | None, ...]
) -> torch.Tensor:
    """``d/dcurrent`` of a weighted sum of the spikes and membranes (a ``None`` weight leaves that output out)."""
    loss = sum((output * weight).sum() for output, weight in zip(outputs, weights, strict=True) if weight is not None)
    return torch.autograd.grad(loss, current, retain_graph=True)[0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("surrogate", sorted(SURROGATES))
@pytest.mark.parametrize("beta", [0.8, 1.0])
@pytest.mark.parametrize(("reset", "delayed"), RESETS)
def test_spikes_membranes_and_gradients_equal_snntorch_leaky_stepped(
    reset: str, delayed: bool, beta: float, surrogate: str, dtype: torch.dtype
) -> None:
    torch.manual_seed(0)
    neuron = _neuron(reset, delayed, beta, surrogate)
    current = (torch.randn(6, 12, 7, dtype=dtype) * 1.2 + 0.3).requires_grad_()
    fused, reference = leaky_layer(neuron, current), stepped_leaky(neuron, current)
    assert fused[0].dtype == dtype and fused[0].shape == (6, 12, 7)
    assert torch.equal(fused[0], reference[0]), "different spikes"
    assert torch.equal(fused[1], reference[1]), "different membranes"
    assert 0 < fused[0].mean() < 1, "a test without both spikes and silence checks little"
    weights = (torch.randn(6, 12, 7, dtype=dtype), torch.randn(6, 12, 7, dtype=dtype))
    for used in [weights, (weights[0], None), (None, weights[1])]:  # spikes and membranes, spikes only, membranes only
        expected = _grads(reference, current, used)
        torch.testing.assert_close(_grads(fused, current, used), expected, **TOLERANCE[dtype])
        assert expected.abs().sum() > 0


@pytest.mark.parametrize("readout", ["membrane_mean", "last_membrane", "spike_count"])
@pytest.mark.parametrize("beta", [0.9, 1.0])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_the_extractor_equals_snntorch_modules_stepped_for_features_and_every_parameter_gradient(
    reset: str, beta: float, readout: str
) -> None:
    torch.manual_seed(1)
    space = gym.spaces.MultiBinary((8, 20))
    extractor = SpikingExtractor(space, hidden=(24, 12), beta=beta, threshold=0.5, readout=readout, reset=reset)
    blocks = (torch.rand(16, 8, 20) < 0.3).float()
    features = extractor(blocks)
    features.pow(2).sum().backward()
    fused_grads = [p.grad.clone() for p in extractor.parameters()]
    extractor.zero_grad()
    expected = stepped_extractor(extractor, blocks)
    expected.pow(2).sum().backward()
    torch.testing.assert_close(features, expected, **TOLERANCE[torch.float32])
    for fused, param in zip(fused_grads, extractor.parameters(), strict=True):
        torch.testing.assert_close(fused, param.grad, **TOLERANCE[torch.float32])
        assert param.grad.abs().sum() > 0


@pytest.mark.parametrize("surrogate", sorted(SURROGATES))
@pytest.mark.parametrize(("reset", "delayed"), RESETS)
def test_the_device_generic_loop_equals_the_compiled_kernels(
    reset: str, delayed: bool, surrogate: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch.manual_seed(2)
    neuron = _neuron(reset, delayed, 0.85, surrogate)
    current = (torch.randn(5, 9, 6) * 1.5).requires_grad_()
    weights = (torch.randn(5, 9, 6), torch.randn(5, 9, 6))
    compiled = leaky_layer(neuron, current)
    compiled_grad = _grads(compiled, current, weights)
    monkeypatch.setattr(scan_module, "_compiled", lambda tensor: False)  # the path of CUDA and other devices
    generic = leaky_layer(neuron, current)
    assert torch.equal(generic[0], compiled[0]) and torch.equal(generic[1], compiled[1])
    torch.testing.assert_close(_grads(generic, current, weights), compiled_grad, **TOLERANCE[torch.float32])


def stepped_leaky_carried(
    neuron: snn.Leaky, current: torch.Tensor, membrane: torch.Tensor, starts: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`stepped_leaky` from ``membrane`` ``(B, N)``, zeroing it before each block of sub-steps ``starts``
    ``(B, L)`` marks, as RecurrentPPO resets an LSTM's state at an episode start."""
    block = current.shape[1] // starts.shape[1]
    spikes, membranes = [], []
    for t in range(current.shape[1]):
        if t % block == 0:
            membrane = membrane * (~starts[:, t // block]).unsqueeze(1).to(membrane.dtype)
        spike, membrane = neuron(current[:, t], membrane)
        spikes.append(spike)
        membranes.append(membrane)
    return torch.stack(spikes, 1), torch.stack(membranes, 1)


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("surrogate", ["fast_sigmoid", "atan"])
@pytest.mark.parametrize(("reset", "delayed"), RESETS)
def test_a_carried_state_and_episode_starts_equal_snntorch_leaky_stepped_with_its_membrane_passed_on(
    reset: str, delayed: bool, surrogate: str, compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stateful policy's scan: from a saved state, over 4 env steps of 3 sub-steps, zeroed at starts."""
    if not compiled:
        monkeypatch.setattr(scan_module, "_compiled", lambda tensor: False)
    torch.manual_seed(3)
    neuron = _neuron(reset, delayed, 0.85, surrogate)
    previous = leaky_layer(neuron, torch.randn(5, 6, 7) * 1.5)
    membrane, spike = previous[1][:, -1], previous[0][:, -1]
    current = (torch.randn(5, 12, 7) * 1.2 + 0.2).requires_grad_()
    starts = torch.zeros(5, 4, dtype=torch.bool)
    starts[1, 0] = starts[2, 2] = starts[4, 1] = starts[4, 3] = True
    fused = leaky_scan(current, 0.85, 1.0, reset, surrogate, state=(membrane, spike), starts=starts)
    reference = stepped_leaky_carried(neuron, current, membrane, starts)
    assert torch.equal(fused[0], reference[0]) and torch.equal(fused[1], reference[1])
    assert not torch.equal(fused[0], leaky_scan(current, 0.85, 1.0, reset)[0]), "the state changed nothing"
    weights = (torch.randn(5, 12, 7), torch.randn(5, 12, 7))
    expected = _grads(reference, current, weights)
    torch.testing.assert_close(_grads(fused, current, weights), expected, **TOLERANCE[torch.float32])
    assert expected[4, 3:6].abs().sum() > 0


@settings(max_examples=40, deadline=None)
@given(
    cut=st.integers(1, 11),
    reset=st.sampled_from(RESETS),
    seed=st.integers(0, 2**16),
)
def test_a_sequence_scanned_in_two_pieces_with_the_state_passed_on_equals_one_scan(
    cut: int, reset: tuple[str, bool], seed: int
) -> None:
    current = torch.randn(3, 12, 4, generator=torch.Generator().manual_seed(seed)) * 1.5
    whole = leaky_scan(current, 0.9, 1.0, reset[0])
    first = leaky_scan(current[:, :cut], 0.9, 1.0, reset[0])
    rest = leaky_scan(current[:, cut:], 0.9, 1.0, reset[0], state=(first[1][:, -1], first[0][:, -1]))
    assert torch.equal(torch.cat([first[0], rest[0]], 1), whole[0])
    assert torch.equal(torch.cat([first[1], rest[1]], 1), whole[1])


def test_bad_state_and_starts_are_named() -> None:
    current = torch.zeros(2, 6, 3)
    with pytest.raises(ValueError, match=r"state must be .* of shape \(2, 3\)"):
        leaky_scan(current, 0.9, 1.0, "zero", state=(torch.zeros(2, 4), torch.zeros(2, 4)))
    with pytest.raises(ValueError, match=r"starts must be .* L dividing T = 6"):
        leaky_scan(current, 0.9, 1.0, "zero", starts=torch.zeros(2, 4, dtype=torch.bool))


@settings(max_examples=60, deadline=None)
@given(
    beta=st.sampled_from([0.0, 0.5, 0.9, 1.0]),
    threshold=st.sampled_from([0.25, 0.5, 1.0, 2.0]),
    reset=st.sampled_from(RESETS),
    values=st.lists(st.sampled_from([-1.0, -0.25, 0.0, 0.25, 0.5, 1.0, 2.0]), min_size=12, max_size=12),
)
def test_spikes_on_exact_threshold_crossings_equal_snntorch(
    beta: float, threshold: float, reset: tuple[str, bool], values: list[float]
) -> None:
    """Currents of exact binary fractions put membranes on the threshold itself: ``>`` decides, as in snntorch."""
    neuron = _neuron(*reset, beta, "atan", threshold)
    current = torch.tensor(values).reshape(2, 3, 2).repeat(1, 2, 1)
    fused, reference = leaky_layer(neuron, current), stepped_leaky(neuron, current)
    assert torch.equal(fused[0], reference[0]) and torch.equal(fused[1], reference[1])


def test_per_neuron_beta_and_threshold_broadcast_as_in_snntorch() -> None:
    torch.manual_seed(3)
    beta, threshold = torch.tensor([0.5, 0.9, 1.0]), torch.tensor([0.5, 1.0, 1.5])
    neuron = snn.Leaky(beta=beta, threshold=1.0, spike_grad=spike_surrogate("atan"))
    neuron.threshold = threshold
    current = torch.randn(4, 10, 3) + 0.5
    fused, reference = leaky_layer(neuron, current), stepped_leaky(neuron, current)
    assert torch.equal(fused[0], reference[0]) and torch.equal(fused[1], reference[1])


def test_snntorch_surrogates_work_through_autograd() -> None:
    """A neuron with snntorch's own spike function (not a SurrogateSpike): its derivative is taken by autograd."""
    torch.manual_seed(4)
    neuron = snn.Leaky(beta=0.9, spike_grad=snn.surrogate.fast_sigmoid(slope=10))
    current = (torch.randn(3, 8, 4) + 0.5).requires_grad_()
    fused, reference = leaky_layer(neuron, current), stepped_leaky(neuron, current)
    assert torch.equal(fused[0], reference[0].to(fused[0].dtype))
    weights = (torch.randn(3, 8, 4), torch.randn(3, 8, 4))
    torch.testing.assert_close(_grads(fused, current, weights), _grads(reference, current, weights))


def test_without_gradients_nothing_is_recorded_for_a_backward_pass() -> None:
    extractor = SpikingExtractor(gym.spaces.MultiBinary((8, 12)), hidden=(16, 8))
    blocks = (torch.rand(4, 8, 12) < 0.3).float()
    with torch.no_grad():
        features = extractor(blocks)
    assert features.grad_fn is None and not features.requires_grad
    current = torch.randn(2, 8, 5, requires_grad=True)
    with torch.no_grad():
        spikes, membranes = leaky_scan(current, 0.9, 1.0, "subtract", torch.ones_like)
    assert spikes.grad_fn is None and membranes.grad_fn is None
    spikes, membranes = leaky_scan(current, 0.9, 1.0, "subtract", torch.ones_like)
    assert spikes.grad_fn is not None, "with gradients the scan must be part of the graph"


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"learn_beta": True}, "learn_beta"),
        ({"learn_threshold": True}, "learn_threshold"),
        ({"graded_spikes_factor": 2.0}, "graded_spikes_factor != 1"),
        ({"surrogate_disable": True}, "surrogate_disable"),
    ],
)
def test_leaky_options_the_scan_does_not_run_are_refused_by_name(options: dict, named: str) -> None:
    neuron = snn.Leaky(beta=0.9, **options)
    with pytest.raises(ValueError, match=f"does not run snn.Leaky with {named}"):
        leaky_layer(neuron, torch.ones(1, 2, 3))


def test_bad_scan_arguments_are_named() -> None:
    with pytest.raises(ValueError, match=r"reset must be one of \['subtract', 'zero'\], got 'none'"):
        leaky_scan(torch.ones(1, 2, 3), 0.9, 1.0, "none", torch.ones_like)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"current must be a float tensor \(B, T, N\), got torch.int64 of shape"):
        leaky_scan(torch.ones(1, 2, 3, dtype=torch.long), 0.9, 1.0, "zero", torch.ones_like)
    with pytest.raises(ValueError, match=r"surrogate must be one of \['atan', .* or a callable, got 'sigmoidal'"):
        leaky_scan(torch.ones(1, 2, 3), 0.9, 1.0, "zero", "sigmoidal")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize(("reset", "delayed"), RESETS)
def test_the_scan_on_cuda_equals_the_cpu_kernels(reset: str, delayed: bool) -> None:
    torch.manual_seed(5)
    neuron = _neuron(reset, delayed, 0.9, "atan")
    current = (torch.randn(64, 8, 32) * 1.5).requires_grad_()
    weights = (torch.randn(64, 8, 32), torch.randn(64, 8, 32))
    cpu = leaky_layer(neuron, current)
    cpu_grad = _grads(cpu, current, weights)
    gpu_current = current.detach().cuda().requires_grad_()
    gpu = leaky_layer(neuron.to("cuda"), gpu_current)
    assert torch.equal(gpu[0].cpu(), cpu[0]) and torch.equal(gpu[1].cpu(), cpu[1])
    gpu_grad = _grads(gpu, gpu_current, tuple(w.cuda() for w in weights))
    torch.testing.assert_close(gpu_grad.cpu(), cpu_grad, **TOLERANCE[torch.float32])
