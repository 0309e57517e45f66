"""The fast paths of issue 14 against each other: the torch rules (the CUDA path) against the compiled kernels,
the parallel kernels against the serial ones, the pre-scaled stream path against encode; bit for bit."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikegym.encoders import _kernels, _torch, base, make
from tests.encoders.test_protocol import DTYPES, assert_same, mode_params, split_points
from tests.helpers import ENCODER_NAMES, multi_sine


def chunked(encode: Any, signal: torch.Tensor, chunks: list[int], state: Any = None) -> tuple[torch.Tensor, Any]:
    parts = []
    for chunk in torch.split(signal, chunks):
        spikes, state = encode(chunk, state)
        parts.append(spikes)
    return torch.cat(parts), state


@given(
    name=st.sampled_from(ENCODER_NAMES),
    poisson=st.booleans(),
    n_steps=st.integers(1, 60),
    batch=st.sampled_from([(), (3,), (2, 5)]),
    sizes=st.lists(st.integers(1, 25), max_size=4),
    seed=st.integers(0, 1000),
    dtype=st.sampled_from(DTYPES),
)
def test_the_torch_rules_give_the_kernels_spikes_and_states(
    name: str, poisson: bool, n_steps: int, batch: tuple[int, ...], sizes: list[int], seed: int, dtype: torch.dtype
) -> None:
    signal = multi_sine(n_steps, 4, batch, seed).to(dtype)
    enc = make(name, 4, **mode_params(name, poisson, seed)).to(dtype).fit(multi_sine(300, 4, batch, seed + 1))
    chunks = split_points(sizes, n_steps)
    expected = enc.encode(signal)
    assert_same(enc.encode_tensor(signal), expected)
    assert_same(chunked(enc.encode_tensor, signal, chunks), expected)
    half = n_steps // 2
    if half:  # a state passes between the two paths
        _, state = enc.encode(signal[:half])
        rest, state = enc.encode_tensor(signal[half:], state)
        assert torch.equal(torch.cat([enc.encode(signal[:half])[0], rest]), expected[0])


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_the_torch_rules_hold_on_a_long_held_stream_in_float32(name: str) -> None:
    """Population, rate and BSA accumulate over many steps: a long stream of held values (as the wrapper
    upsamples) in both modes still gives the same spikes bit for bit."""
    signal = multi_sine(4000, 4, (8,), 3)[::8].repeat_interleave(8, dim=0)
    for poisson in (False, True) if name in ("rate", "population") else (False,):
        enc = make(name, 4, **mode_params(name, poisson, 5)).fit(signal)
        assert_same(enc.encode_tensor(signal), enc.encode(signal))


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_the_torch_path_names_a_value_that_is_not_finite_and_checks_the_state(name: str) -> None:
    signal = multi_sine(30, 4, (2,))
    enc = make(name, 4).fit(signal)
    broken = signal.clone()
    broken[7, 1, 2] = float("nan")
    with pytest.raises(ValueError, match=r"signal must be finite, got nan at index \(7, 1, 2\)"):
        enc.encode_tensor(broken)
    _, state = enc.encode(signal)
    with pytest.raises(ValueError, match="batch shape"):
        enc.encode_tensor(signal[:, :1], state)
    with pytest.raises(TypeError, match="state must be a"):
        enc.encode_tensor(signal, tuple(state))


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_parallel_kernels_give_the_serial_spikes_and_states(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Columns split into chunks of ``PARALLEL_CHUNK`` (a last one cut short) over two threads."""
    signal = multi_sine(40, 4, (2 * _kernels.PARALLEL_CHUNK // 4 + 3,), 2)
    for poisson in (False, True) if name in ("rate", "population") else (False,):
        enc = make(name, 4, **mode_params(name, poisson, 9)).fit(signal)
        serial = chunked(enc.encode, signal, [17, 23])
        threads = numba.get_num_threads()
        monkeypatch.setattr(base, "PARALLEL_MIN_ELEMENTS", 0)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        try:
            assert_same(chunked(enc.encode, signal, [17, 23]), serial)
        finally:
            numba.set_num_threads(threads)
            monkeypatch.setattr(base, "PARALLEL_MIN_ELEMENTS", None)


@pytest.mark.parametrize("name", ENCODER_NAMES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_the_pre_scaled_stream_path_gives_the_spikes_of_encode(name: str, dtype: torch.dtype) -> None:
    """``stream_encode`` runs the kernels with bounds 0 and 1 on a scaled signal; ``encode`` scales inside."""
    signal = multi_sine(50, 4, (3,), 4).to(dtype)
    enc = make(name, 4, **mode_params(name, True, 1)).to(dtype).fit(signal[10:40])
    scaled = enc._scaled(signal.numpy(), "signal")
    state = enc.stream_state((3,), np.arange(3))
    expected, _ = enc.encode(signal, enc._state_tensors(enc.stream_state((3,), np.arange(3)), torch.device("cpu")))
    spikes = enc.stream_encode(scaled, state)
    assert np.array_equal(spikes.reshape(expected.shape), expected.numpy())


@pytest.mark.parametrize(("dtype", "ulps"), [(torch.float32, 2), (torch.float64, 2)])
def test_the_exp_rule_is_within_two_ulps_of_exp(dtype: torch.dtype, ulps: int) -> None:
    constants, powers = (torch.from_numpy(a) for a in _kernels.exp_constants(np.dtype(str(dtype)[6:])))
    y = -torch.logspace(-8, 1.9, 20001, dtype=torch.float64).to(dtype)
    y = torch.cat([y, torch.zeros(1, dtype=dtype)])
    got = _torch.exp_negative(y, constants, powers)
    exact = torch.exp(y.double())
    assert got[-1] == 1.0
    assert float(((got.double() - exact).abs() / exact).max()) <= ulps * torch.finfo(dtype).eps


@settings(max_examples=10)
@given(seed=st.integers(0, 100))
def test_population_fields_follow_the_gaussian(seed: int) -> None:
    """Deterministic population code of a held value: each bin fires at its Gaussian rate."""
    value = np.random.default_rng(seed).uniform(0, 1)
    enc = make("population", 1, n_bins=6, sigma=0.15)
    spikes, _ = enc.encode(torch.full((1000, 1), value))
    rates = spikes[:, 0].double().mean(0).numpy()
    centres = np.linspace(0, 1, 6)
    assert np.allclose(rates, np.exp(-0.5 * ((value - centres) / 0.15) ** 2), atol=2e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ENCODER_NAMES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_streams_in_chunks_give_the_cpu_spikes_and_states(name: str, dtype: torch.dtype) -> None:
    signal = multi_sine(300, 4, (64,), 6).to(dtype)
    for poisson in (False, True) if name in ("rate", "population") else (False,):
        enc = make(name, 4, **mode_params(name, poisson, 2)).to(dtype).fit(signal)
        expected = chunked(enc.encode, signal, [8] * 37 + [4])
        gpu = make(name, 4, **mode_params(name, poisson, 2)).to(dtype).fit(signal).to("cuda")
        spikes, state = chunked(gpu.encode, signal.cuda(), [8] * 37 + [4])
        assert spikes.device.type == "cuda" and all(field.device.type == "cuda" for field in state)
        assert_same((spikes.cpu(), type(state)(*(field.cpu() for field in state))), expected)


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_a_wide_batch_gives_each_stream_its_spikes_alone(name: str) -> None:
    """Wide calls run the blocked loops (BSA: from ``NARROW`` columns), a single stream the narrow ones."""
    n_streams = _kernels.NARROW // 4 + 5
    signal = multi_sine(60, 4, (n_streams,), 8)
    enc = make(name, 4).fit(signal)
    together, _ = enc.encode(signal)
    for stream in (0, n_streams // 2, n_streams - 1):
        alone, _ = enc.encode(signal[:, stream])
        assert torch.equal(together[:, stream], alone)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_kernels_exp_rule_equals_the_torch_rule_over_its_whole_range(dtype: type) -> None:
    """The kernel builds ``2**k`` from its bits where torch reads a table: the same bits, down to the clamp."""
    constants, powers = _kernels.exp_constants(np.dtype(dtype))
    y = np.concatenate([-np.logspace(-12, 3.2, 40001), [0.0, -np.inf, float(constants[0]) - 1.0]]).astype(dtype)
    size = y.shape[0]
    got = np.empty(size, dtype)
    _kernels._exp_negative(y, constants, np.empty(size, np.int64), np.empty(size, dtype), got)
    expected = _torch.exp_negative(torch.from_numpy(y), torch.from_numpy(constants), torch.from_numpy(powers))
    assert np.array_equal(got, expected.numpy())
    assert got[-3] == 1.0 and got[-2] == got[-1] > 0


@given(
    values=st.lists(st.floats(-1e3, 1e3, width=32), min_size=1, max_size=7),
    first=st.integers(0, 600),
    width=st.integers(1, 700),
    repeat=st.integers(1, 9),
)
def test_spread_gives_each_column_its_feature_value(values: list[float], first: int, width: int, repeat: int) -> None:
    """Column ``n`` gets feature ``n % F``, ``repeat`` times, however the doubling copies split the columns."""
    array = np.array(values, np.float32)
    expected = np.repeat(array[np.arange(first, first + width) % len(values)], repeat)
    assert np.array_equal(_kernels._spread(array, first, first + width, repeat), expected)


@settings(max_examples=20, deadline=None)
@given(name=st.sampled_from(ENCODER_NAMES), poisson=st.booleans(), draws=st.lists(st.integers(1, 12), max_size=8))
def test_the_bound_stream_call_gives_the_spikes_of_stream_encode(name: str, poisson: bool, draws: list[int]) -> None:
    """``stream_encoder(state)`` (the wrapper's per-step call) equals ``stream_encode`` chunk after chunk."""
    chunks = split_points(draws, 40)
    enc = make(name, 3, **mode_params(name, poisson, 5))
    raw = multi_sine(40, 3, (2,), 7).reshape(40, -1).numpy()
    scaled = ((raw - raw.min(0)) / (raw.max(0) - raw.min(0))).astype(enc.np_dtype)
    bound_state, state = enc.stream_state((2,), np.arange(2)), enc.stream_state((2,), np.arange(2))
    encode = enc.stream_encoder(bound_state)
    for part in np.split(scaled, np.cumsum(chunks)[:-1]):
        assert np.array_equal(encode(part), enc.stream_encode(part, state))
    for bound_field, field in zip(bound_state, state, strict=True):
        assert np.array_equal(bound_field, field)


def test_the_bound_stream_call_reads_parameters_changed_in_place_or_set_anew() -> None:
    """A threshold changed in place is read by the kernel as it is; a buffer or attribute set anew is looked up
    again at the next call (the call must never encode with parameters the encoder no longer has)."""
    scaled = np.linspace(0.2, 0.8, 12, dtype=np.float32).reshape(6, 2)
    enc, reference = make("sf", 2, threshold=0.3), make("sf", 2, threshold=0.3)
    encode = enc.stream_encoder(enc.stream_state((1,)))
    state = reference.stream_state((1,))
    assert np.array_equal(encode(scaled), reference.stream_encode(scaled, state))
    for change in (
        lambda e: e.threshold.fill_(0.05),
        lambda e: setattr(e, "threshold", torch.full((2,), 0.02)),
    ):
        change(enc), change(reference)
        expected = reference.stream_encode(scaled, state)
        assert expected.any()
        assert np.array_equal(encode(scaled), expected)
    pwm, reference = make("pwm", 2, frequency=0.25), make("pwm", 2, frequency=0.25)
    encode, state = pwm.stream_encoder(pwm.stream_state((1,))), reference.stream_state((1,))
    encode(scaled), reference.stream_encode(scaled, state)
    pwm.bipolar = reference.bipolar = True
    expected = reference.stream_encode(scaled, state)
    assert (expected < 0).any()
    assert np.array_equal(encode(scaled), expected)
