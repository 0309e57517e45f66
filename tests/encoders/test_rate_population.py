"""Rate and population coding: exact deterministic counts, seeded Poisson, decoder bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from spikegym.encoders import PopulationEncoder, RateEncoder, make


@given(p=st.floats(0.0, 1.0), n=st.integers(1, 200))
def test_deterministic_counts_are_round_p_n_from_a_fresh_state(p: float, n: int) -> None:
    spikes, _ = RateEncoder(1).double().encode(torch.full((n, 1), p, dtype=torch.float64))
    assert int(spikes.sum()) == math.floor(p * n + 0.5)


@given(p=st.floats(0.0, 1.0), start=st.integers(0, 100), n=st.integers(1, 100))
def test_deterministic_counts_over_any_window_are_within_one(p: float, start: int, n: int) -> None:
    spikes, _ = RateEncoder(1).double().encode(torch.full((start + n, 1), p, dtype=torch.float64))
    assert abs(int(spikes[start:].sum()) - p * n) < 1 + 1e-9


def test_extreme_rates_are_exact() -> None:
    enc = RateEncoder(1)
    assert int(enc.encode(torch.ones(37, 1))[0].sum()) == 37
    assert int(enc.encode(torch.zeros(37, 1))[0].sum()) == 0


def test_counts_are_monotone_in_the_value() -> None:
    values = torch.linspace(0, 1, 101)
    counts = [int(RateEncoder(1).encode(torch.full((20, 1), float(v)))[0].sum()) for v in values]
    assert counts == sorted(counts)


@given(
    segments=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=5),
    n=st.integers(1, 40),
    scale=st.floats(0.5, 50.0),
)
def test_rate_decoder_error_at_most_range_over_n_once_the_window_is_full(
    segments: list[float], n: int, scale: float
) -> None:
    """A value held for n steps decodes within range / n once the window of n steps lies inside it."""
    signal = torch.tensor(np.repeat(segments, n)[:, None] * scale, dtype=torch.float64)
    enc = RateEncoder(1, window=n, low=0.0, high=scale).double()
    spikes, _ = enc.encode(signal)
    decoded, _ = enc.decode(spikes)
    for k in range(len(segments)):
        last = (k + 1) * n - 1  # the window ending here covers exactly segment k
        assert abs(decoded[last, 0].item() - signal[last, 0].item()) <= scale / n * (1 + 1e-9)


@pytest.mark.parametrize("exc_inh", [False, True])
@pytest.mark.parametrize("inverted", [False, True])
@pytest.mark.parametrize("max_rate", [1.0, 0.5])
def test_rate_options_decode_back(exc_inh: bool, inverted: bool, max_rate: float) -> None:
    values = torch.linspace(0, 1, 11)
    enc = RateEncoder(11, exc_inh=exc_inh, inverted=inverted, max_rate=max_rate, window=40)
    spikes, _ = enc.encode(values.expand(40, 11))
    decoded, _ = enc.decode(spikes)
    scale = 2 if exc_inh else 1
    assert torch.allclose(decoded[-1], values, atol=scale / (40 * max_rate) + 1e-6)
    if exc_inh:
        assert (spikes[:, 5] == 0).all()  # the middle of the range is silent
        sign = -1 if inverted else 1
        assert (spikes[:, 10] * sign >= 0).all() and (spikes[:, 0] * sign <= 0).all()
    else:
        busiest = 0 if inverted else 10
        assert int(spikes[:, busiest].sum()) == int(40 * max_rate)


def test_max_rate_caps_the_rate() -> None:
    spikes, _ = RateEncoder(1, max_rate=0.25).encode(torch.ones(40, 1))
    assert int(spikes.sum()) == 10


def test_poisson_same_seed_same_spikes_and_different_seed_different() -> None:
    signal = torch.rand(500, 3, generator=torch.Generator().manual_seed(0))
    first, _ = RateEncoder(3, mode="poisson", seed=1).encode(signal)
    again, _ = RateEncoder(3, mode="poisson", seed=1).encode(signal)
    other, _ = RateEncoder(3, mode="poisson", seed=2).encode(signal)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_poisson_follows_torch_seeding_and_generators() -> None:
    signal = torch.full((300, 2), 0.5)
    enc = RateEncoder(2, mode="poisson")
    torch.manual_seed(3)
    first, _ = enc.encode(signal)
    torch.manual_seed(3)
    again, _ = enc.encode(signal)
    assert torch.equal(first, again)

    with_generator = RateEncoder(2, mode="poisson", seed=torch.Generator().manual_seed(5))
    a, _ = with_generator.encode(signal)
    b, _ = RateEncoder(2, mode="poisson", seed=torch.Generator().manual_seed(5)).encode(signal)
    assert torch.equal(a, b)


@pytest.mark.parametrize("p", [0.05, 0.3, 0.7])
def test_poisson_rate_matches_the_probability(p: float) -> None:
    n = 20000
    spikes, _ = RateEncoder(4, mode="poisson", seed=0).encode(torch.full((n, 4), p))
    rates = spikes.float().mean(0)
    assert torch.all((rates - p).abs() < 4 * math.sqrt(p * (1 - p) / n))
    # successive steps and columns are uncorrelated
    x = spikes[:, 0].float() - p
    assert abs(float((x[1:] * x[:-1]).mean())) < 4 * p * (1 - p) / math.sqrt(n)
    assert abs(float(((spikes[:, 0].float() - p) * (spikes[:, 1].float() - p)).mean())) < 4 * p * (1 - p) / math.sqrt(n)


def test_the_rate_state_carries_the_poisson_stream() -> None:
    enc = RateEncoder(2, mode="poisson", seed=9)
    signal = torch.full((40, 2), 0.5)
    _, state = enc.encode(signal[:10])
    assert int(state.step) == 10
    resumed, _ = enc.encode(signal[10:], state)
    whole, _ = enc.encode(signal)
    assert torch.equal(resumed, whole[10:])


@given(value=st.floats(0.0, 1.0))
def test_population_decodes_a_held_value_within_two_percent(value: float) -> None:
    """n_bins=8, window=16, deterministic: a value held for a full window decodes within 0.02 of the range."""
    enc = PopulationEncoder(1, n_bins=8, window=16)
    _, recon = enc.reconstruct(torch.full((32, 1), value))
    assert torch.all((recon[16:] - value).abs() <= 0.02)


def test_population_receptive_fields_peak_at_their_centres() -> None:
    enc = PopulationEncoder(1, n_bins=5, sigma=0.1, window=10)
    centres = torch.linspace(0, 1, 5)
    for k, centre in enumerate(centres):
        spikes, _ = enc.encode(torch.full((10, 1), float(centre)))
        counts = spikes[:, 0].sum(0)
        assert int(counts.argmax()) == k
        assert int(counts[k]) == 10


def test_population_beats_a_plain_centre_of_mass_near_the_edges() -> None:
    enc = PopulationEncoder(1, n_bins=6, sigma=0.2, window=32)
    spikes, _ = enc.encode(torch.zeros(32, 1))
    decoded, _ = enc.decode(spikes)
    counts = spikes[-32:, 0].sum(0).float()
    centre_of_mass = float((counts * torch.linspace(0, 1, 6)).sum() / counts.sum())
    assert abs(decoded[-1].item()) < 0.02 < centre_of_mass


def test_population_poisson_is_seeded() -> None:
    signal = torch.rand(100, 2, generator=torch.Generator().manual_seed(1))
    a, _ = make("population", 2, mode="poisson", seed=4).encode(signal)
    b, _ = make("population", 2, mode="poisson", seed=4).encode(signal)
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", ["rate", "population"])
def test_per_feature_decoder_windows_equal_one_encoder_per_feature(name: str) -> None:
    signal = torch.rand(60, 2, 3)
    windows = [3, 8, 17]
    together = make(name, 3, window=windows)
    spikes, _ = together.encode(signal)
    decoded, _ = together.decode(spikes)
    for j, window in enumerate(windows):
        alone = make(name, 1, window=window)
        alone_decoded, _ = alone.decode(spikes[:, :, j : j + 1])
        assert torch.allclose(decoded[..., j : j + 1], alone_decoded)


def test_windows_must_be_whole_numbers_one_per_feature() -> None:
    assert RateEncoder(2, window=[4.0, 6]).window.tolist() == [4, 6]
    with pytest.raises(ValueError, match=r"window must be an integer or one per feature \(n_features=2\)"):
        RateEncoder(2, window=[4, 5, 6])
    with pytest.raises(TypeError, match=r"window must be an integer, got 2\.5"):
        RateEncoder(2, window=[4, 2.5])
