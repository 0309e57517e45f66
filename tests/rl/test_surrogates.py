"""Every offered surrogate gradient is finite at any membrane, and equals snntorch's where that is finite."""

from __future__ import annotations

import pytest
import torch
from snntorch import surrogate

from spikegym.rl.extractors import SURROGATES, spike_surrogate

MEMBRANES = [-1e4, -100.0, -10.0, -4.0, -0.3, 0.0, 0.3, 10.0, 100.0, 1e4]
SNNTORCH = {
    "fast_sigmoid": surrogate.fast_sigmoid,
    "atan": surrogate.atan,
    "sigmoid": surrogate.sigmoid,
    "triangular": surrogate.triangular,
    "straight_through": surrogate.straight_through_estimator,
}


def _spikes_and_grad(fire: object, membranes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    shifted = membranes.clone().requires_grad_()
    spikes = fire(shifted)
    (grad,) = torch.autograd.grad(spikes.sum(), shifted)
    return spikes.detach(), grad


def test_every_offered_surrogate_is_compared_here() -> None:
    assert set(SURROGATES) == set(SNNTORCH)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("slope", [None, 5.0, 25.0])
@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_surrogate_gradients_are_finite_and_equal_snntorch_where_it_is_finite(
    name: str, slope: float | None, dtype: torch.dtype
) -> None:
    membranes = torch.tensor(MEMBRANES, dtype=dtype)
    spikes, grad = _spikes_and_grad(spike_surrogate(name, slope), membranes)
    assert torch.isfinite(grad).all(), f"{name}: gradients {grad.tolist()} at membranes {MEMBRANES}"
    assert spikes.dtype == dtype
    assert torch.equal(spikes, (membranes > 0).to(dtype))
    reference = SNNTORCH[name]
    factory_kwargs = (
        {}
        if slope is None or name in ("triangular", "straight_through")
        else ({"alpha": slope} if name == "atan" else {"slope": slope})
    )
    _, expected = _spikes_and_grad(reference(**factory_kwargs), membranes.double())  # the most exact reference
    finite = torch.isfinite(expected)
    assert finite.any()
    torch.testing.assert_close(grad[finite], expected[finite].to(dtype), rtol=1e-5, atol=1e-30)


def test_the_sigmoid_surrogate_no_longer_gives_nan_a_few_units_below_threshold() -> None:
    _, grad = _spikes_and_grad(spike_surrogate("sigmoid"), torch.tensor([-4.0, -1e4]))
    assert torch.isfinite(grad).all() and (grad >= 0).all()
    _, snntorch_grad = _spikes_and_grad(surrogate.sigmoid(), torch.tensor([-4.0]))
    assert torch.isnan(snntorch_grad).all(), "snntorch fixed its sigmoid surrogate; this test can go"


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_an_extractor_far_below_threshold_trains_with_finite_gradients(name: str) -> None:
    import gymnasium as gym

    from spikegym.rl.extractors import SpikingExtractor

    extractor = SpikingExtractor(gym.spaces.MultiBinary((8, 6)), hidden=(4, 4), surrogate=name)
    with torch.no_grad():
        for layer in extractor.layers:
            layer.weight.fill_(-5.0)  # membranes tens of units below threshold
    extractor(torch.ones(3, 8, 6)).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in extractor.parameters())
