"""The event-driven linear layer equals torch's dense one (outputs and every gradient, to float rounding:
``rtol=1e-5, atol=1e-6`` in float32, ``1e-10, 1e-12`` in float64), on both sides of its density switch."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch
from torch.nn import functional

from spikegym.rl import spike_linear as module
from spikegym.rl.extractors import SpikingExtractor
from spikegym.rl.spike_linear import SPARSE_BELOW, SPARSE_MIN_WIDTH, spike_linear
from tests.rl.test_leaky_scan import stepped_extractor

TOLERANCE = {torch.float32: {"rtol": 1e-5, "atol": 1e-6}, torch.float64: {"rtol": 1e-10, "atol": 1e-12}}


@pytest.fixture
def sparse_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the event-driven forward kernel's calls."""
    calls: list[int] = []
    kernel = module._sparse_forward

    def counted(*args: object) -> object:
        calls.append(1)
        return kernel(*args)

    monkeypatch.setattr(module, "_sparse_forward", counted)
    return calls


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("density", [0.0, 0.01, 0.05, 0.5])
def test_outputs_and_gradients_equal_the_dense_product(
    density: float, dtype: torch.dtype, bias: bool, sparse_calls: list[int]
) -> None:
    torch.manual_seed(0)
    spikes = (torch.rand(16, 8, 160) < density).to(dtype).requires_grad_()
    weight = (torch.randn(SPARSE_MIN_WIDTH, 160, dtype=dtype) * 0.2).requires_grad_()
    offsets = (torch.randn(SPARSE_MIN_WIDTH, dtype=dtype) * 0.1).requires_grad_() if bias else None
    out = spike_linear(spikes, weight, offsets)
    assert bool(sparse_calls) == (density < SPARSE_BELOW), "the density switch picked the wrong path"
    expected = functional.linear(spikes, weight, offsets)
    torch.testing.assert_close(out, expected, **TOLERANCE[dtype])
    upstream = torch.randn_like(out)
    inputs = [spikes, weight] + ([offsets] if bias else [])
    grads = torch.autograd.grad((out * upstream).sum(), inputs)
    expected_grads = torch.autograd.grad((expected * upstream).sum(), inputs)
    for grad, reference in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, reference, **TOLERANCE[dtype])


def test_signed_and_graded_inputs_are_weighted_by_their_value() -> None:
    x = torch.zeros(40, SPARSE_MIN_WIDTH)
    x[3, 2], x[7, 9], x[11, 0] = 2.5, -1.0, 0.25  # 3 nonzero inputs: the event-driven path
    weight = torch.randn(SPARSE_MIN_WIDTH, SPARSE_MIN_WIDTH, requires_grad=True)
    bias = torch.randn(SPARSE_MIN_WIDTH)
    out, expected = spike_linear(x, weight, bias), functional.linear(x, weight, bias)
    torch.testing.assert_close(out, expected)
    upstream = torch.randn_like(out)
    grad, expected_grad = (torch.autograd.grad((y * upstream).sum(), weight)[0] for y in (out, expected))
    torch.testing.assert_close(grad, expected_grad)


def test_without_gradients_nothing_is_recorded(sparse_calls: list[int]) -> None:
    weight = torch.randn(SPARSE_MIN_WIDTH, SPARSE_MIN_WIDTH, requires_grad=True)
    with torch.no_grad():
        out = spike_linear(torch.zeros(5, SPARSE_MIN_WIDTH), weight)
    assert sparse_calls and out.grad_fn is None and torch.equal(out, torch.zeros(5, SPARSE_MIN_WIDTH))


def test_narrow_layers_stay_dense_however_few_inputs_fire(sparse_calls: list[int]) -> None:
    narrow = torch.randn(SPARSE_MIN_WIDTH - 1, 2 * SPARSE_MIN_WIDTH)
    spike_linear(torch.zeros(4, 2 * SPARSE_MIN_WIDTH), narrow)
    spike_linear(torch.zeros(4, SPARSE_MIN_WIDTH - 1), narrow.t())
    assert not sparse_calls


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_an_extractor_with_a_nearly_silent_layer_equals_snntorch_stepped(reset: str, sparse_calls: list[int]) -> None:
    """The DQN case: the first hidden layer fires rarely, so the second layer runs event-driven."""
    torch.manual_seed(6)
    extractor = SpikingExtractor(gym.spaces.MultiBinary((8, 16)), hidden=(160, 128), reset=reset)
    with torch.no_grad():
        extractor.layers[0].bias.fill_(-0.45)  # a few spikes, far below SPARSE_BELOW
    blocks = (torch.rand(32, 8, 16) < 0.3).float()
    extractor.record = True
    features = extractor(blocks)
    assert 0 < extractor.last_spikes[0].mean() < SPARSE_BELOW and sparse_calls
    features.sum().backward()
    grads = [p.grad.clone() for p in extractor.parameters()]
    extractor.zero_grad()
    expected = stepped_extractor(extractor, blocks)
    expected.sum().backward()
    torch.testing.assert_close(features, expected, **TOLERANCE[torch.float32])
    for grad, param in zip(grads, extractor.parameters(), strict=True):
        torch.testing.assert_close(grad, param.grad, **TOLERANCE[torch.float32])
