"""Step-forward coding: the worked example from the issue, and its error bound."""

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from spikegym.encoders import StepForwardEncoder, make

EXAMPLE = [0.1, 0.3, 0.2, 0.4, 0.8, 0.6, 0.7, 0.9, 0.5, 0.3, 0.2]


def test_worked_example_spikes_and_decoding() -> None:
    enc = make("sf", n_features=1, threshold=0.1)
    spikes, state = enc.encode(torch.tensor(EXAMPLE).reshape(-1, 1))
    flat = spikes.flatten().tolist()
    assert [t for t, s in enumerate(flat) if s == 1] == [1, 3, 4, 5, 6, 7]
    assert [t for t, s in enumerate(flat) if s == -1] == [8, 9, 10]
    assert state.baseline.item() == np.float32(0.4)

    decoded, _ = enc.decode(spikes, enc.initial_state(torch.tensor([0.0])))
    expected = [0.0, 0.1, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.5, 0.4, 0.3]
    np.testing.assert_allclose(decoded.flatten().numpy(), expected, atol=1e-6)


def test_given_initial_baseline() -> None:
    enc = StepForwardEncoder(n_features=1, threshold=0.1, initial=0.0)
    spikes, _ = enc.encode(torch.tensor([[0.35]]))
    assert spikes.item() == 1  # 0.35 > 0.0 + 0.1


@given(
    seed=st.integers(0, 2**32 - 1),
    threshold=st.floats(0.01, 0.3),
    n_steps=st.integers(1, 300),
    scale=st.floats(0.1, 100.0),
)
def test_error_at_most_threshold_when_signal_moves_less(
    seed: int, threshold: float, n_steps: int, scale: float
) -> None:
    """|x - x_hat| <= threshold (in signal units) wherever the signal moves less than the threshold per step."""
    rng = np.random.default_rng(seed)
    steps = rng.uniform(-0.99, 0.99, size=(n_steps, 3)) * threshold
    signal = np.clip(0.5 + np.cumsum(steps, axis=0), 0.0, 1.0) * scale
    enc = make("sf", n_features=3, threshold=threshold, low=0.0, high=scale).double()
    _, recon = enc.reconstruct(torch.from_numpy(signal))
    assert np.all(np.abs(recon.numpy() - signal) <= threshold * scale * (1 + 1e-9))
