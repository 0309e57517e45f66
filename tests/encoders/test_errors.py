"""Bad input gets a clear error naming the argument, the value and what is allowed."""

from __future__ import annotations

import math
import re
import warnings

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


def where(index: tuple[int, ...], time_axis: bool = True) -> str:
    """How an error names a signal's index: ``(time step t, batch index (b...), feature f)``."""
    parts = [f"time step {index[0]}"] if time_axis else []
    batch = index[1:-1] if time_axis else index[:-1]
    if batch:
        parts.append(f"batch index {batch}")
    parts.append(f"feature {index[-1]}")
    return re.escape(f"at index {index} ({', '.join(parts)})")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize(("shape", "index"), [((6, 4), (3, 2)), ((6, 2, 4), (3, 1, 2)), ((6, 2, 3, 4), (4, 1, 2, 3))])
def test_non_finite_signal_names_time_batch_feature_and_value(
    encoder_name: str, bad: float, shape: tuple[int, ...], index: tuple[int, ...]
) -> None:
    """encode, fit and reconstruct name the same index and value; the row holds finite values before the bad one
    (fit named the row's first entry and its finite value, issue 12)."""
    signal = torch.full(shape, 0.25)
    signal[index[:-1]] = torch.tensor([0.5, 0.75, 1.0, 1.25])
    signal[index] = bad
    message = rf"signal must be finite, got {re.escape(repr(bad))} {where(index)}"
    enc = make(encoder_name, 4)
    for method in (enc.encode, enc.fit, enc.reconstruct, lambda x: enc.encode(x.numpy())):
        with pytest.raises(ValueError, match=message):
            method(signal)
    assert torch.equal(enc.low, torch.zeros(4))


def test_the_first_non_finite_value_in_time_order_is_named(encoder_name: str) -> None:
    signal = torch.zeros(5, 3, 4)
    signal[4, 0, 0] = math.nan
    signal[2, 2, 1] = math.inf
    signal[2, 2, 3] = math.nan
    for method in ("encode", "fit", "reconstruct"):
        with pytest.raises(ValueError, match=rf"got inf {where((2, 2, 1))}"):
            getattr(make(encoder_name, 4), method)(signal)


@pytest.mark.parametrize(("shape", "index"), [((4,), (2,)), ((3, 4), (1, 3))])
def test_non_finite_first_sample_names_its_own_index(encoder_name: str, shape: tuple, index: tuple) -> None:
    """A first sample has no time axis: the index is its own, not that of a signal made from it."""
    sample = torch.zeros(shape)
    sample[index] = math.nan
    enc = make(encoder_name, 4)
    for method in (enc.initial_state, enc.initial_decode_state):
        with pytest.raises(ValueError, match=rf"first_sample must be finite, got nan {where(index, time_axis=False)}"):
            method(sample)


def test_a_value_beyond_the_encoder_dtype_is_named_as_given(encoder_name: str) -> None:
    """1e300 is finite in the float64 signal but overflows the float32 encoder: name the value given."""
    signal = torch.zeros(4, 2, dtype=torch.float64)
    signal[2, 1] = 1e300
    message = rf"got 1e\+300 {where((2, 1))}, beyond the range of the encoder's float32"
    with warnings.catch_warnings(), pytest.raises(ValueError, match=message):
        warnings.simplefilter("error")  # the error, not numpy's overflow warning from a cast
        make(encoder_name, 2).encode(signal.numpy())
    with pytest.raises(ValueError, match=r"got 1e\+300"):
        make(encoder_name, 2).fit(signal)
    recon = make(encoder_name, 2).double().reconstruct(signal)[1]
    assert torch.isfinite(recon).all()


def test_a_range_beyond_the_encoder_dtype_is_refused(encoder_name: str) -> None:
    """high - low overflows float32 (both bounds are finite): every value would scale to 0."""
    message = r"high - low must be finite in the encoder's float32 for every feature, got low=.* for feature 1"
    with pytest.raises(ValueError, match=message):
        make(encoder_name, 2, low=[0.0, -3e38], high=[1.0, 3e38])
    with pytest.raises(ValueError, match=message):
        make(encoder_name, 2).fit(torch.tensor([[0.0, -3e38], [1.0, 3e38]]))
    make(encoder_name, 2).double().fit(torch.tensor([[0.0, -3e38], [1.0, 3e38]]))


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


def test_a_constant_feature_far_from_zero_fits(encoder_name: str) -> None:
    """c - 0.5 and c + 0.5 round to c in float32 for c = 1e9: fit widens the range instead of failing."""
    signal = torch.tensor([[1e9, 2.0], [1e9, 3.0]])
    enc = make(encoder_name, 2).fit(signal)
    assert enc.low[0] < 1e9 < enc.high[0]
    assert enc.low[1] == 2.0 and enc.high[1] == 3.0
    assert torch.isfinite(enc.reconstruct(signal)[1]).all()


def test_a_failed_fit_leaves_the_bounds_unchanged(encoder_name: str) -> None:
    enc = make(encoder_name, 2, low=-1.0, high=1.0)
    with pytest.raises(ValueError, match="high - low must be finite"):
        enc.fit(torch.tensor([[0.0, -3e38], [1.0, 3e38]]))
    assert enc.low.tolist() == [-1.0, -1.0]
    assert enc.high.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("first_sample", [torch.zeros(3), torch.zeros(2, 5), torch.zeros(())])
def test_first_sample_of_the_wrong_shape_names_its_own_shape(encoder_name: str, first_sample: torch.Tensor) -> None:
    shape = re.escape(str(tuple(first_sample.shape)))
    message = rf"first_sample must have shape \(\*batch, F\) with F = n_features = 4, got shape {shape}"
    with pytest.raises(ValueError, match=message):
        make(encoder_name, 4).initial_state(first_sample)


def test_reconstruct_names_the_signal_argument(encoder_name: str) -> None:
    with pytest.raises(TypeError, match=r"signal must be a torch\.Tensor or numpy\.ndarray, got list"):
        make(encoder_name, 2).reconstruct([[0.0, 0.0]])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_a_half_precision_encoder_is_refused_with_a_clear_error(encoder_name: str, dtype: torch.dtype) -> None:
    """The kernels compute in float32 or float64; a .half() encoder raised numba's NotImplementedError."""
    enc = make(encoder_name, 2).to(dtype)
    message = rf"the {encoder_name} encoder computes in float32 or float64, but its buffer \w+ is {dtype}"
    for call in (lambda: enc.encode(torch.zeros(3, 2)), lambda: enc.decode(torch.zeros(3, *enc.spike_shape).byte())):
        with pytest.raises(TypeError, match=message):
            call()
    assert enc.float().encode(torch.zeros(3, 2))[0].shape[0] == 3


def test_buffers_of_mixed_dtypes_are_refused(encoder_name: str) -> None:
    enc = make(encoder_name, 2)
    enc.high = enc.high.double()
    with pytest.raises(TypeError, match=r"buffer high is torch\.float64 but low is torch\.float32"):
        enc.encode(torch.zeros(3, 2))


def test_a_state_of_another_dtype_is_refused(encoder_name: str) -> None:
    """A float64 state ran a float32 encoder's kernel in float64 and came back float64: not chunk invariant."""
    signal = multi_sine(20, 2)
    _, state64 = make(encoder_name, 2).double().fit(signal).encode(signal.double())
    with pytest.raises(
        TypeError, match=rf"state\.\w+ has dtype float64, but this {encoder_name} encoder needs float32"
    ):
        make(encoder_name, 2).fit(signal).encode(signal, state64)
    _, state32 = make(encoder_name, 2).fit(signal).encode(signal)
    with pytest.raises(TypeError, match=r"needs float64: was the state made by an encoder of another dtype"):
        make(encoder_name, 2).double().fit(signal).encode(signal, state32)


def test_a_state_field_of_another_integer_or_float_type_is_refused(encoder_name: str) -> None:
    enc = make(encoder_name, 2)
    _, state = enc.encode(torch.zeros(3, 2))
    for i, field in enumerate(state):
        wrong = field.int() if field.is_floating_point() or field.dtype == torch.bool else field.float()
        with pytest.raises(TypeError, match=rf"state\.{type(state)._fields[i]} has dtype"):
            enc.encode(torch.zeros(3, 2), state._replace(**{type(state)._fields[i]: wrong}))
    _, decode_state = enc.decode(torch.zeros(3, *enc.spike_shape, dtype=torch.int8))
    field = type(decode_state)._fields[0]
    with pytest.raises(TypeError, match=rf"state\.{field} has dtype"):
        enc.decode(
            torch.zeros(3, *enc.spike_shape, dtype=torch.int8),
            decode_state._replace(**{field: decode_state[0].double()}),
        )


def test_an_empty_batch_encodes_and_decodes_to_empty_tensors(encoder_name: str) -> None:
    """A batch of zero streams raised numpy's "zero-size array to reduction operation" in decode."""
    enc = make(encoder_name, 2)
    spikes, _ = enc.encode(torch.zeros(3, 0, 2))
    assert spikes.shape == (3, 0, *enc.spike_shape)
    decoded, _ = enc.decode(spikes)
    assert decoded.shape == (3, 0, 2)


def test_a_state_made_before_the_encoder_changed_dtype_is_refused(encoder_name: str) -> None:
    enc = make(encoder_name, 2)
    _, state = enc.encode(torch.zeros(3, 2))
    enc.encode(torch.zeros(3, 2), state)
    enc.double()
    with pytest.raises(TypeError, match=r"needs float64: was the state made by an encoder of another dtype"):
        enc.encode(torch.zeros(3, 2), state)
