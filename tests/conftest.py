"""Fixtures shared by every layer's tests: the hypothesis profile, each encoder by name, a trained run."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

from tests.helpers import ENCODER_NAMES

settings.register_profile("spikegym", deadline=None, max_examples=40, print_blob=True)
settings.load_profile("spikegym")


@pytest.fixture(params=ENCODER_NAMES)
def encoder_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """A short PPO run on CartPole-v1 (its run directory and model), trained once per session."""
    from spikegym.rl.training import train

    root = tmp_path_factory.mktemp("runs")
    return train("CartPole-v1", "ppo", timesteps=2048, runs_dir=root, progress=False, eval_freq=1024, n_eval_episodes=1)
