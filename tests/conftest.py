"""Shared test helpers: smooth test signals and a list of every encoder's default build."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import settings

from spikegym.encoders import names

settings.register_profile("spikegym", deadline=None, max_examples=40, print_blob=True)
settings.load_profile("spikegym")

ENCODER_NAMES = names()


def multi_sine(n_steps: int = 2000, n_features: int = 4, batch: tuple[int, ...] = (), seed: int = 0) -> torch.Tensor:
    """A smooth multi-sine signal ``(n_steps, *batch, n_features)`` with a different range per feature."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, n_steps)[:, None]
    shape = (n_steps, *batch, n_features)
    signal = np.zeros(shape)
    for frequency in (1.0, 2.0, 3.0):
        phase = rng.uniform(0, 2 * np.pi, size=(*batch, n_features))
        amplitude = rng.uniform(0.5, 2.0, size=(*batch, n_features))
        signal += amplitude * np.sin(2 * np.pi * frequency * t.reshape((n_steps,) + (1,) * (len(shape) - 1)) + phase)
    offset = rng.uniform(-5, 5, size=n_features)
    return torch.tensor(signal + offset, dtype=torch.float32)


@pytest.fixture(params=ENCODER_NAMES)
def encoder_name(request: pytest.FixtureRequest) -> str:
    return request.param
