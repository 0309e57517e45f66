"""Which encoders a stateless policy can read: does one ``T``-step window, decoded alone, carry the value?

The wrapper carries each encoder's state across env steps and emits one
window of ``T`` steps per observation; a stateless policy reads each window
alone. Here a slow signal is streamed window by window (state carried, as the
wrapper does), each window is decoded from a fresh decoder state, and the
error is compared with decoding the whole stream with the decoder's state
carried (the code's own error) and with guessing the middle of the range.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from spikegym.encoders import ENCODERS, SpikeEncoder, make, names


def slow_signal(n_obs: int = 300, seed: int = 0) -> np.ndarray:
    """A slowly moving scaled signal in ``[0.02, 0.98]``, one value per observation."""
    t = np.arange(n_obs)
    noise = 0.03 * np.random.default_rng(seed).standard_normal(n_obs)
    x = 0.5 + 0.2 * np.sin(2 * np.pi * t / 97) + 0.15 * np.sin(2 * np.pi * t / 23 + 1) + noise
    return np.clip(x, 0.02, 0.98)


def window_errors(encoder: SpikeEncoder, substeps: int, n_obs: int = 300) -> tuple[float, float, float]:
    """RMSE at the end of each window ``(alone, carried, middle)``: each window decoded alone from a fresh
    decoder state, the stream decoded with its state carried, and the constant guess 0.5."""
    x = slow_signal(n_obs).astype(encoder.np_dtype)
    state = encoder.stream_state((1,), seed=0 if encoder.stochastic else None)
    carried_state = encoder.stream_decode_state((1,))
    alone, carried = [], []
    for value in x:
        spikes = encoder.stream_encode(np.full((substeps, 1), value, encoder.np_dtype), state)
        alone.append(encoder.stream_decode(spikes, encoder.stream_decode_state((1,)), substeps)[-1, 0])
        carried.append(encoder.stream_decode(spikes, carried_state, substeps)[-1, 0])
    start = 20  # past the stream decoder's own start from the middle of the range

    def rmse(estimate: Any) -> float:
        return float(np.sqrt(np.mean((np.asarray(estimate)[start:] - x[start:]) ** 2)))

    return rmse(alone), rmse(carried), rmse(np.full(n_obs, 0.5))


READABLE = [
    ("rate", {}, 8),
    ("rate", {"mode": "poisson", "seed": 0}, 8),
    ("rate", {"exc_inh": True}, 8),
    ("rate", {"window": 64}, 8),
    ("population", {}, 8),
    ("population", {"mode": "poisson", "seed": 0}, 8),
    ("pwm", {}, 8),
    ("pwm", {"frequency": 0.25, "bipolar": False}, 8),
    ("pwm", {"frequency": 0.125, "phase": 0.3}, 8),
    ("pwm", {"frequency": 0.0625}, 16),
    ("bsa", {"order": 7}, 8),
    ("bsa", {}, 16),
    ("lif", {"beta": 0.5, "threshold": 0.3}, 8),
]
UNREADABLE = [
    ("step_forward", {}, 8),
    ("step_forward", {"threshold": 0.01}, 16),
    ("lif", {}, 8),
    ("bsa", {}, 8),
    ("pwm", {"frequency": 0.1}, 8),
    ("pwm", {"frequency": 0.1}, 16),
    ("pwm", {"frequency": 0.0625, "bipolar": False}, 8),
]


@pytest.mark.parametrize(("name", "params", "substeps"), READABLE)
def test_a_window_declared_to_carry_the_value_decodes_alone_as_well_as_the_stream(
    name: str, params: dict[str, Any], substeps: int
) -> None:
    encoder = make(name, 1, **params)
    assert encoder.window_shortfall(substeps) is None
    alone, carried, _ = window_errors(encoder, substeps)
    assert alone <= 1.5 * carried + 0.01, (alone, carried)


@pytest.mark.parametrize(("name", "params", "substeps"), UNREADABLE)
def test_a_window_declared_to_miss_the_value_decodes_alone_far_worse(
    name: str, params: dict[str, Any], substeps: int
) -> None:
    encoder = make(name, 1, **params)
    assert isinstance(encoder.window_shortfall(substeps), str)
    alone, carried, middle = window_errors(encoder, substeps)
    assert alone >= 3 * carried and alone >= 0.5 * middle, (alone, carried, middle)


def test_only_rate_and_population_carry_the_value_whatever_their_parameters() -> None:
    declared = sorted(name for name, cls in ENCODERS.items() if cls.window_carries_value)
    assert declared == ["population", "rate"]
    for name in names():
        cls = ENCODERS[name]
        assert not (cls.window_carries_value and cls.window_parameters), name
        if not cls.window_carries_value:
            assert isinstance(make(name, 2).window_shortfall(2), str), name


@pytest.mark.parametrize("substeps", [0, 2.5, True])
def test_window_shortfall_refuses_a_bad_substeps(substeps: Any) -> None:
    with pytest.raises((TypeError, ValueError), match="substeps"):
        make("rate", 1).window_shortfall(substeps)


def test_pwm_carries_the_value_with_whole_periods_per_window_in_float32() -> None:
    encoder = make("pwm", 3, frequency=[0.1, 0.2, 0.5]).float()
    assert encoder.window_shortfall(10) is None
    assert "1/frequency = 10 steps" in str(encoder.window_shortfall(5))
