"""LIF, BSA and PWM: stated reconstruction bounds and the FIR filter."""

from __future__ import annotations

import numpy as np
import scipy.signal
import torch
from hypothesis import given
from hypothesis import strategies as st

from spikegym.encoders import BSAEncoder, LIFEncoder, PWMEncoder, make
from spikegym.encoders.bsa import lowpass_taps
from tests.helpers import multi_sine


@given(
    seed=st.integers(0, 2**32 - 1),
    threshold=st.floats(0.02, 0.3),
    beta=st.floats(0.8, 1.0),
    n_steps=st.integers(1, 300),
)
def test_lif_error_at_most_threshold_when_signal_and_leak_move_less(
    seed: int, threshold: float, beta: float, n_steps: int
) -> None:
    """|x - x_hat| <= threshold wherever the per-step change plus the leak, (1 - beta)(0.5 + threshold), is below it."""
    leak = (1 - beta) * (0.5 + threshold)
    if leak >= threshold:
        beta = 1 - 0.5 * threshold / (0.5 + threshold)
        leak = (1 - beta) * (0.5 + threshold)
    rng = np.random.default_rng(seed)
    steps = rng.uniform(-1, 1, size=(n_steps, 2)) * (threshold - leak) * 0.99
    signal = np.clip(0.5 + np.cumsum(steps, axis=0), 0, 1)
    _, recon = LIFEncoder(2, threshold=threshold, beta=beta).double().reconstruct(torch.from_numpy(signal))
    assert np.all(np.abs(recon.numpy() - signal) <= threshold + 1e-12)


def test_lif_leaks_to_the_middle_without_spikes() -> None:
    enc = LIFEncoder(1, threshold=0.1, beta=0.5)
    spikes = torch.zeros(10, 1, dtype=torch.int8)
    decoded, _ = enc.decode(spikes, enc.initial_state(torch.tensor([1.0])))
    assert abs(decoded[-1].item() - 0.5) < 1e-3


def test_lif_without_leak_is_step_forward() -> None:
    signal = multi_sine(300)
    sf = make("sf", 4, threshold=0.03).fit(signal)
    lif = make("lif", 4, threshold=0.03, beta=1.0).fit(signal)
    assert torch.equal(sf.encode(signal)[0], lif.encode(signal)[0])


@given(value=st.floats(0.0, 1.0), frequency=st.sampled_from([0.5, 0.25, 0.125, 0.05]), bipolar=st.booleans())
def test_pwm_decodes_a_held_value_within_half_a_carrier_step(value: float, frequency: float, bipolar: bool) -> None:
    enc = PWMEncoder(1, frequency=frequency, bipolar=bipolar)
    n_steps = int(np.ceil(4 / frequency))
    spikes, _ = enc.encode(torch.full((n_steps, 1), value))
    decoded, _ = enc.decode(spikes)  # no shared initial state: the decoder needs only the spikes
    settled = int(np.ceil(2 / frequency))
    assert torch.all((decoded[settled:] - value).abs() <= frequency / 2 + 1e-6)


@given(value=st.floats(0.0, 1.0), frequency=st.sampled_from([0.5, 0.25, 0.1]), bipolar=st.booleans())
def test_pwm_fires_at_most_once_per_period(value: float, frequency: float, bipolar: bool) -> None:
    period = round(1 / frequency)
    spikes, _ = PWMEncoder(1, frequency=frequency, bipolar=bipolar).encode(torch.full((period * 10, 1), value))
    per_period = spikes.abs().reshape(10, period).sum(1)
    assert int(per_period.max()) <= 1


def test_pwm_bipolar_is_silent_in_the_middle_and_signs_the_side() -> None:
    enc = PWMEncoder(3, frequency=0.25)
    spikes, _ = enc.encode(torch.tensor([[0.5, 0.9, 0.1]]).expand(16, 3))
    assert (spikes[:, 0] == 0).all()
    assert set(spikes[:, 1].tolist()) == {0, 1}
    assert set(spikes[:, 2].tolist()) == {0, -1}


def test_pwm_carrier_phase_is_state() -> None:
    enc = PWMEncoder(1, frequency=0.25, bipolar=False)
    _, state = enc.encode(torch.full((3, 1), 0.6))
    assert abs(state.phase.item() - 0.5) < 1e-6
    shifted = PWMEncoder(1, frequency=0.25, bipolar=False, phase=0.5)
    assert not torch.equal(shifted.encode(torch.full((8, 1), 0.6))[0], enc.encode(torch.full((8, 1), 0.6))[0])


@given(value=st.floats(0.1, 0.9))
def test_bsa_tracks_a_held_value_outside_its_dead_zones(value: float) -> None:
    """Default filter: after the filter length, a held value in [0.1, 0.9] decodes within 0.05."""
    enc = BSAEncoder(1)
    spikes, recon = enc.reconstruct(torch.full((200, 1), value))
    assert torch.all((recon[20:] - value).abs() <= 0.05)
    assert abs(spikes.float().mean().item() - value) <= 0.05


def test_bsa_decoder_is_the_convolution_of_spikes_with_the_filter() -> None:
    enc = BSAEncoder(2, order=7, cutoff=0.3).double()
    spikes = (torch.rand(60, 2, generator=torch.Generator().manual_seed(0)) < 0.4).to(torch.int8)
    zero_state = type(enc.initial_state(torch.zeros(2)))(torch.zeros(2, 8, dtype=torch.float64))
    decoded, _ = enc.decode(spikes, zero_state)
    taps = enc.taps.numpy()
    for j in range(2):
        expected = np.convolve(spikes[:, j].numpy().astype(float), taps[j])[:60]
        np.testing.assert_allclose(decoded[:, j].numpy(), expected, atol=1e-12)


@given(n_taps=st.integers(1, 64), cutoff=st.floats(0.01, 0.99))
def test_lowpass_taps_equal_scipy_firwin(n_taps: int, cutoff: float) -> None:
    np.testing.assert_allclose(
        lowpass_taps(n_taps, np.array([cutoff]))[0], scipy.signal.firwin(n_taps, cutoff), atol=1e-12
    )


def test_bsa_filter_has_unit_dc_gain_per_feature() -> None:
    enc = BSAEncoder(3, cutoff=[0.05, 0.2, 0.5])
    assert torch.allclose(enc.taps.sum(1), torch.ones(3))
    assert not torch.allclose(enc.taps[0], enc.taps[2])
