"""The stream-filter protocol, checked for every encoder: chunk invariance,
value sets, shapes, dtypes, and the pitfalls of existing encoder code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikegym.encoders import SpikeEncoder, make
from tests.helpers import ENCODER_NAMES, multi_sine


def build(name: str, n_features: int = 4, **params: object) -> SpikeEncoder:
    if name in ("rate", "population") and "mode" not in params:
        params["mode"] = "poisson"
        params.setdefault("seed", 7)
    return make(name, n_features, **params)


def split_points(draw_sizes: list[int], n_steps: int) -> list[int]:
    """Chunk sizes that add up to ``n_steps``, from arbitrary positive draws."""
    sizes, total = [], 0
    for size in draw_sizes:
        if total + size >= n_steps:
            break
        sizes.append(size)
        total += size
    return [*sizes, n_steps - total]


DTYPES = [torch.float32, torch.float64]


def mode_params(name: str, poisson: bool, seed: int) -> dict[str, object]:
    """The mode and seed of a rate-coded encoder; nothing for the others."""
    return {"mode": "poisson" if poisson else "deterministic", "seed": seed} if name in ("rate", "population") else {}


def in_chunks(call: Callable, values: torch.Tensor, chunks: list[int]) -> tuple[torch.Tensor, Any]:
    """``call`` (an encoder's ``encode`` or ``decode``) over ``values`` chunk by chunk, passing the state along;
    the joined outputs and the last state."""
    state, parts = None, []
    for chunk in torch.split(values, chunks):
        output, state = call(chunk, state)
        parts.append(output)
    return torch.cat(parts), state


def assert_same(got: tuple[torch.Tensor, Any], expected: tuple[torch.Tensor, Any]) -> None:
    """Equal tensors and equal states, bit for bit and dtype for dtype: a state that drifts in its last bits
    changes spikes somewhere later in a long enough stream."""
    assert torch.equal(got[0], expected[0])
    assert got[0].dtype == expected[0].dtype
    for field, a, b in zip(type(expected[1])._fields, got[1], expected[1], strict=True):
        assert a.dtype == b.dtype, field
        assert torch.equal(a, b), field


def cycled_chunks(pattern: list[int], n_steps: int) -> list[int]:
    """Chunk sizes repeating ``pattern`` until they add up to ``n_steps`` (the last one cut short)."""
    sizes, total, k = [], 0, 0
    while total < n_steps:
        size = min(pattern[k % len(pattern)], n_steps - total)
        sizes.append(size)
        total += size
        k += 1
    return sizes


def bounded_walk(n_steps: int, n_features: int, hold: int, seed: int) -> np.ndarray:
    """A random walk folded into ``[-2, 3]`` (the encoders' bounds are ``[-2, 3]``), each value held ``hold``
    steps as the Gymnasium wrapper upsamples an observation; a few values fall outside the bounds."""
    rng = np.random.default_rng(seed)
    n_values = -(-n_steps // hold)
    steps = rng.normal(0.0, rng.uniform(0.01, 0.2, n_features), (n_values, n_features))
    walk = np.abs((np.cumsum(steps, axis=0) + 5.0) % 10.0 - 5.0) - 2.0
    walk[rng.random(walk.shape) < 0.001] *= 1.7
    return np.repeat(walk, hold, axis=0)[:n_steps]


@given(
    name=st.sampled_from(ENCODER_NAMES),
    poisson=st.booleans(),
    n_steps=st.integers(1, 80),
    batch=st.sampled_from([(), (3,), (2, 2)]),
    sizes=st.lists(st.integers(1, 30), max_size=6),
    seed=st.integers(0, 1000),
    module_dtype=st.sampled_from(DTYPES),
    signal_dtype=st.sampled_from(DTYPES),
)
def test_chunked_encoding_and_decoding_equal_whole(
    name: str,
    poisson: bool,
    n_steps: int,
    batch: tuple[int, ...],
    sizes: list[int],
    seed: int,
    module_dtype: torch.dtype,
    signal_dtype: torch.dtype,
) -> None:
    signal = multi_sine(n_steps, 4, batch, seed).to(signal_dtype)
    enc = make(name, 4, **mode_params(name, poisson, seed)).to(module_dtype).fit(multi_sine(500, 4, batch, seed))
    chunks = split_points(sizes, n_steps)

    whole = enc.encode(signal)
    assert_same(in_chunks(enc.encode, signal, chunks), whole)
    decoded = enc.decode(whole[0])
    assert decoded[0].dtype == module_dtype
    assert_same(in_chunks(enc.decode, whole[0], chunks), decoded)


LONG_STREAM = 20_000
VARIANTS = [(name, False) for name in ENCODER_NAMES] + [("rate", True), ("population", True)]


@pytest.mark.parametrize("module_dtype", DTYPES)
@pytest.mark.parametrize(("name", "poisson"), VARIANTS)
@given(
    pattern=st.lists(st.one_of(st.sampled_from([1, 8]), st.integers(1, 4000)), min_size=1, max_size=6),
    hold=st.sampled_from([1, 8]),
    seed=st.integers(0, 2**32 - 1),
    signal_dtype=st.sampled_from(DTYPES),
)
@settings(max_examples=3)
def test_a_long_stream_encodes_and_decodes_the_same_in_any_chunks(
    name: str,
    poisson: bool,
    module_dtype: torch.dtype,
    pattern: list[int],
    hold: int,
    seed: int,
    signal_dtype: torch.dtype,
) -> None:
    """Tens of thousands of steps, chunks of 1 and 8 steps (the wrapper's) among others, in both dtypes:
    nothing that a call keeps in a wider type than its state may drift between chunked and whole."""
    enc = make(name, 4, **mode_params(name, poisson, seed), low=-2.0, high=3.0).to(module_dtype)
    signal = torch.tensor(bounded_walk(LONG_STREAM, 4, hold, seed), dtype=signal_dtype)
    chunks = cycled_chunks(pattern, LONG_STREAM)

    whole = enc.encode(signal)
    assert_same(in_chunks(enc.encode, signal, chunks), whole)
    decoded = enc.decode(whole[0])
    assert_same(in_chunks(enc.decode, whole[0], chunks), decoded)


@pytest.mark.parametrize("module_dtype", DTYPES)
def test_population_code_of_a_long_held_stream_is_chunk_invariant(module_dtype: torch.dtype) -> None:
    """Issue 12: 20,000 observations held for 8 steps each (the wrapper's chunks) gave 74 other spikes than the
    same stream encoded whole, as the kernel carried its accumulator in float64 within a call."""
    enc = make("population", 4, n_bins=8, low=-2.0, high=3.0).to(module_dtype)
    signal = torch.tensor(bounded_walk(20_000 * 8, 4, 8, seed=0), dtype=module_dtype)
    whole, _ = enc.encode(signal)
    chunked, _ = in_chunks(enc.encode, signal, [8] * 20_000)
    assert int((chunked != whole).sum()) == 0

    state, low, high = enc.stream_state(), enc.low.numpy(), enc.high.numpy()
    scaled = np.clip((signal.numpy() - low) / (high - low), 0.0, 1.0)
    streamed = np.concatenate([enc.stream_encode(scaled[t : t + 8], state) for t in range(0, len(scaled), 8)])
    assert np.array_equal(streamed, whole.numpy().reshape(len(scaled), -1))


@given(
    name=st.sampled_from(ENCODER_NAMES),
    poisson=st.booleans(),
    seeds=st.lists(st.integers(0, 10**9), min_size=1, max_size=4),
)
def test_a_stream_gets_the_same_spikes_in_any_batch(name: str, poisson: bool, seeds: list[int]) -> None:
    params = {"mode": "poisson" if poisson else "deterministic"} if name in ("rate", "population") else {}
    enc = make(name, 4, **params)
    n = len(seeds)
    scaled = np.random.default_rng(seeds[0]).uniform(size=(12, n, 4)).astype(enc.np_dtype)
    batched = enc.stream_encode(scaled.reshape(12, -1), enc.stream_state((n,), np.array(seeds)))
    for i, seed in enumerate(seeds):
        alone = enc.stream_encode(np.ascontiguousarray(scaled[:, i]), enc.stream_state((), seed))
        assert np.array_equal(batched.reshape(12, n, -1)[:, i], alone.reshape(12, -1))


def test_one_seed_gives_each_batch_entry_its_own_poisson_stream() -> None:
    spikes, _ = make("rate", 2, mode="poisson", seed=3).encode(torch.full((200, 3, 2), 0.5))
    assert not torch.equal(spikes[:, 0], spikes[:, 1])
    alone, _ = make("rate", 2, mode="poisson", seed=3).encode(torch.full((200, 2), 0.5))
    assert torch.equal(spikes[:, 0], alone)


@given(name=st.sampled_from(ENCODER_NAMES), n_steps=st.integers(1, 50), batch=st.sampled_from([(), (5,), (2, 3)]))
def test_spikes_are_int8_in_the_value_set_with_the_documented_shape(
    name: str, n_steps: int, batch: tuple[int, ...]
) -> None:
    enc = build(name).fit(multi_sine(200, 4, batch))
    spikes, _ = enc.encode(multi_sine(n_steps, 4, batch, seed=1))
    assert spikes.dtype == torch.int8
    assert spikes.shape == (n_steps, *batch, *enc.spike_shape)
    assert set(spikes.unique().tolist()) <= set(enc.value_set)
    decoded, _ = enc.decode(spikes)
    assert decoded.shape == (n_steps, *batch, 4)
    assert decoded.dtype == torch.float32


def test_value_sets_per_encoder() -> None:
    signed = {name for name in ENCODER_NAMES if make(name, 2).signed}
    assert signed == {"lif", "pwm", "step_forward"}
    assert make("rate", 2, exc_inh=True).value_set == (-1, 0, 1)
    assert make("pwm", 2, bipolar=False).value_set == (0, 1)
    assert make("population", 2, n_bins=5).spike_shape == (2, 5)


def test_signed_encoders_use_both_signs_and_binary_ones_stay_binary(encoder_name: str) -> None:
    signal = multi_sine(400)
    enc = build(encoder_name).fit(signal)
    spikes, _ = enc.encode(signal)
    values = set(spikes.unique().tolist())
    assert values == set(enc.value_set)


@pytest.mark.parametrize("n_features", [1, 3, 7, 11])
def test_parameters_broadcast_to_any_feature_count(encoder_name: str, n_features: int) -> None:
    signal = multi_sine(100, n_features)
    enc = build(encoder_name, n_features).fit(signal)
    spikes, _ = enc.encode(signal)
    decoded, _ = enc.decode(spikes)
    assert decoded.shape == signal.shape
    for name, buffer in enc.named_buffers():
        if name not in ("centres", "taps"):
            assert buffer.shape == (n_features,), name


def test_defaults_reconstruct_a_smooth_multi_sine(encoder_name: str) -> None:
    """After fit, default parameters reconstruct within a quarter of the range (RMS)."""
    signal = multi_sine(2000)
    enc = make(encoder_name, 4).fit(signal)
    _, recon = enc.reconstruct(signal)
    value_range = signal.max(0).values - signal.min(0).values
    rms = ((recon - signal) ** 2).mean(0).sqrt()
    assert torch.all(rms < value_range / 4), (rms / value_range).tolist()
    assert torch.all(rms < value_range / 10), (rms / value_range).tolist()


def test_encoding_never_writes_into_its_arguments(encoder_name: str) -> None:
    signal = multi_sine(50)
    enc = build(encoder_name).fit(signal)
    state = enc.initial_state(signal[0])
    signal_copy, state_copy = signal.clone(), [t.clone() for t in state]
    spikes, _ = enc.encode(signal, state)
    assert torch.equal(signal, signal_copy)
    assert all(torch.equal(a, b) for a, b in zip(state, state_copy, strict=True))

    decode_state = enc.initial_decode_state(signal[0])
    spikes_copy, decode_copy = spikes.clone(), [t.clone() for t in decode_state]
    enc.decode(spikes, decode_state)
    assert torch.equal(spikes, spikes_copy)
    assert all(torch.equal(a, b) for a, b in zip(decode_state, decode_copy, strict=True))


def test_decoding_does_not_depend_on_the_last_encode(encoder_name: str) -> None:
    """No hidden state: what was encoded last does not change a decode."""
    enc = build(encoder_name).fit(multi_sine(300))
    spikes, _ = enc.encode(multi_sine(100, seed=1))
    before, _ = enc.decode(spikes)
    enc.encode(multi_sine(100, seed=2) * 3)
    after, _ = enc.decode(spikes)
    assert torch.equal(before, after)


def test_the_same_value_encodes_the_same_whatever_else_is_in_the_batch(encoder_name: str) -> None:
    """No normalising by the batch: each batch entry is encoded on its own."""
    signal = multi_sine(60, batch=(1,))
    enc = build(encoder_name).fit(signal)
    alone, _ = enc.encode(signal)
    others = torch.cat([signal, signal * 50 + 100, -signal], dim=1)
    together, _ = enc.encode(others)
    assert torch.equal(together[:, :1], alone)


def test_a_constant_signal_fits_and_reconstructs(encoder_name: str) -> None:
    signal = torch.full((200, 2), 3.5)
    enc = make(encoder_name, 2).fit(signal)
    assert torch.all(enc.high > enc.low)
    _, recon = enc.reconstruct(signal)
    assert torch.isfinite(recon).all()
    assert torch.allclose(recon[100:], signal[100:], atol=0.05)


def test_dtype_follows_the_module(encoder_name: str) -> None:
    signal = multi_sine(100).double()
    enc = build(encoder_name).double().fit(signal)
    spikes, state = enc.encode(signal)
    decoded, _ = enc.decode(spikes)
    assert decoded.dtype == torch.float64
    float_tensors = [t for t in state if t.is_floating_point()]
    assert all(t.dtype == torch.float64 for t in float_tensors)

    single = build(encoder_name).fit(signal.float())
    spikes32, _ = single.encode(signal)  # a float64 signal into a float32 encoder is cast, not rejected
    assert spikes32.dtype == torch.int8
    int_spikes, _ = single.encode(torch.arange(20).reshape(5, 4))
    assert int_spikes.shape[0] == 5


def test_numpy_inputs_give_the_same_spikes_as_tensors(encoder_name: str) -> None:
    signal = multi_sine(80)
    enc = build(encoder_name).fit(signal)
    from_tensor, _ = enc.encode(signal)
    from_array, _ = enc.encode(signal.numpy())
    assert torch.equal(from_tensor, from_array)


def test_state_dict_round_trip_reproduces_spikes(encoder_name: str) -> None:
    signal = multi_sine(100)
    enc = build(encoder_name).fit(signal)
    copy = build(encoder_name)
    copy.load_state_dict(enc.state_dict())
    assert torch.equal(enc.encode(signal)[0], copy.encode(signal)[0])


def test_buffers_move_with_to_and_changes_are_seen(encoder_name: str) -> None:
    signal = multi_sine(100)
    enc = build(encoder_name).fit(signal)
    first, _ = enc.encode(signal)
    enc.low.add_(0.5)  # an in-place change must reach the cached kernel arguments
    shifted, _ = enc.encode(signal)
    assert not torch.equal(first, shifted)
    assert enc.to(torch.float64).low.dtype == torch.float64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tensors_give_cuda_spikes_equal_to_cpu(encoder_name: str) -> None:
    signal = multi_sine(100)
    enc = build(encoder_name).fit(signal)
    cpu_spikes, _ = enc.encode(signal)
    gpu = enc.to("cuda")
    gpu_spikes, state = gpu.encode(signal.cuda())
    assert gpu_spikes.device.type == "cuda"
    assert all(t.device.type == "cuda" for t in state)
    assert torch.equal(gpu_spikes.cpu(), cpu_spikes)
    decoded, _ = gpu.decode(gpu_spikes)
    assert decoded.device.type == "cuda"


def test_library_code_prints_nothing(encoder_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    enc = build(encoder_name).fit(multi_sine(50))
    enc.reconstruct(multi_sine(50))
    assert capsys.readouterr() == ("", "")


def test_the_numpy_global_generator_is_untouched(encoder_name: str) -> None:
    state = np.random.get_state()[1].copy()
    enc = build(encoder_name).fit(multi_sine(50))
    enc.encode(multi_sine(50))
    assert np.array_equal(np.random.get_state()[1], state)
