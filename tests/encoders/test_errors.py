"""Bad input gets a clear error naming the argument, the value and what is allowed."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spikegym.encoders import encoder_class, make, names
from tests.helpers import multi_sine


def test_registry_lists_names_and_resolves_aliases() -> None:
    assert names() == ["bsa", "lif", "population", "pwm", "rate", "step_forward"]
    assert encoder_class("sf") is encoder_class("step_forward")
    enc = make("sf", n_features=4, threshold=0.1)
    assert torch.allclose(enc.threshold, torch.full((4,), 0.1))


def test_unknown_encoder_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown encoder 'delta'.*'step_forward'"):
        make("delta", 4)


@pytest.mark.parametrize("shape", [(4,), (10, 3), (10, 2, 5)])
def test_wrong_rank_or_feature_count(encoder_name: str, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"signal must have shape \(T, \*batch, F\) with F = n_features = 4"):
        make(encoder_name, 4).encode(torch.zeros(shape))


def test_empty_signal(encoder_name: str) -> None:
    with pytest.raises(ValueError, match="at least one time step"):
        make(encoder_name, 4).encode(torch.zeros(0, 4))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_signal_names_the_index(encoder_name: str, bad: float) -> None:
    signal = torch.zeros(6, 2, 4)
    signal[3, 1, 2] = bad
    with pytest.raises(
        ValueError, match=r"signal must be finite, got .* at index \(3, 1, 2\) \(time step 3, feature 2\)"
    ):
        make(encoder_name, 4).encode(signal)
    with pytest.raises(ValueError, match="must be finite"):
        make(encoder_name, 4).fit(signal)


def test_wrong_types(encoder_name: str) -> None:
    enc = make(encoder_name, 4)
    with pytest.raises(TypeError, match=r"signal must be a torch\.Tensor or numpy\.ndarray, got list"):
        enc.encode([[0.0] * 4])
    with pytest.raises(TypeError, match="signal must hold real numbers, got dtype complex64"):
        enc.encode(np.zeros((3, 4), np.complex64))


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("sf", {"threshold": 0.0}, r"threshold must be > 0, got 0.0 for feature 0"),
        ("sf", {"threshold": [0.1, -0.1, 0.1, 0.1]}, r"threshold must be > 0, got -0.1 for feature 1"),
        ("lif", {"threshold": -1.0}, r"threshold must be > 0"),
        ("lif", {"beta": 1.5}, r"beta must be in \(0, 1\], got 1.5"),
        ("bsa", {"threshold": 0}, r"threshold must be > 0"),
        ("bsa", {"order": 0}, r"order must be an integer >= 1, got 0"),
        ("bsa", {"cutoff": 1.0}, r"cutoff must be in \(0, 1\), got 1.0"),
        ("pwm", {"frequency": 0.75}, r"frequency must be in \(0, 0.5\], got 0.75"),
        ("pwm", {"phase": 1.0}, r"phase must be in \[0, 1\)"),
        ("rate", {"window": 0}, r"window must be an integer >= 1, got 0"),
        ("rate", {"window": 2.5}, r"window must be an integer, got 2.5"),
        ("rate", {"max_rate": 0.0}, r"max_rate must be in \(0, 1\], got 0.0"),
        ("rate", {"mode": "bernoulli"}, r"mode must be one of \['deterministic', 'poisson'\], got 'bernoulli'"),
        ("rate", {"mode": "poisson", "seed": -3}, r"seed must be a non-negative integer"),
        ("population", {"n_bins": 1}, r"n_bins must be an integer >= 2, got 1"),
        ("population", {"sigma": 0.0}, r"sigma must be > 0"),
        (
            "sf",
            {"threshold": [0.1] * 7},
            r"threshold must be a scalar or hold one value per feature \(n_features=4\), got shape \(7,\)",
        ),
        ("sf", {"threshold": "high"}, r"threshold must be a number or a sequence of numbers, got 'high'"),
        ("sf", {"initial": "last"}, r"initial must be 'first' or a number per feature, got 'last'"),
        (
            "sf",
            {"low": 1.0, "high": 1.0},
            r"high must be greater than low for every feature, got low=1.0 and high=1.0 for feature 0",
        ),
        ("sf", {"low": math.nan}, r"low must be finite, got nan"),
    ],
)
def test_bad_parameters(name: str, params: dict, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        make(name, 4, **params)


def test_bad_feature_count() -> None:
    with pytest.raises(ValueError, match="n_features must be an integer >= 1, got 0"):
        make("sf", 0)
    with pytest.raises(TypeError, match=r"n_features must be an integer, got 4\.0"):
        make("sf", 4.0)


def test_spikes_outside_the_value_set(encoder_name: str) -> None:
    enc = make(encoder_name, 4)
    shape = (5, *enc.spike_shape)
    spikes = torch.zeros(shape, dtype=torch.int8)
    spikes[2, 1] = -1 if not enc.signed else 2
    bad = spikes.flatten()[spikes.flatten() != 0][0].item()
    with pytest.raises(
        ValueError, match=rf"spikes of the {encoder_name} encoder must take values in .* got {bad} at index \(2, 1"
    ):
        enc.decode(spikes)


def test_spikes_with_a_float_dtype_or_wrong_shape(encoder_name: str) -> None:
    enc = make(encoder_name, 4)
    with pytest.raises(TypeError, match="spikes must have an integer or bool dtype"):
        enc.decode(torch.zeros(5, *enc.spike_shape))
    with pytest.raises(ValueError, match=r"spikes must have shape \(T, \*batch, "):
        enc.decode(torch.zeros(5, 3, dtype=torch.int8))


def test_bool_spikes_are_accepted(encoder_name: str) -> None:
    enc = make(encoder_name, 4)
    decoded, _ = enc.decode(torch.zeros(5, *enc.spike_shape, dtype=torch.bool))
    assert decoded.shape == (5, 4)


def test_state_from_another_encoder(encoder_name: str) -> None:
    other = "rate" if encoder_name in ("step_forward", "lif", "bsa", "pwm") else "sf"
    foreign = make(other, 4).initial_state(torch.zeros(4))
    with pytest.raises(TypeError, match=rf"state must be a \w+ from this {encoder_name} encoder, got \w+"):
        make(encoder_name, 4).encode(torch.zeros(3, 4), foreign)


def test_state_for_another_batch_shape(encoder_name: str) -> None:
    enc = make(encoder_name, 4)
    state = enc.initial_state(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"state\.\w+ has shape .* batch shape \(3,\) needs"):
        enc.encode(torch.zeros(5, 3, 4), state)
    _, state = enc.encode(multi_sine(5, 4, (2,)))
    with pytest.raises(ValueError, match="was the state made for another signal"):
        enc.encode(torch.zeros(5, 4), state)


def test_step_forward_and_lif_states_are_not_interchangeable() -> None:
    state = make("lif", 4).initial_state(torch.zeros(4))
    with pytest.raises(TypeError, match="StepForwardState"):
        make("sf", 4).encode(torch.zeros(3, 4), state)
