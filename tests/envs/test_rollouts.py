"""Recorded rollouts: split by episode, saved and loaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spikegym.envs.rollouts import Rollouts, record


def test_rollouts_split_by_episode_and_round_trip_through_npz(tmp_path: Path) -> None:
    rollouts = record("CartPole-v1", 500, seed=2)
    tuning_set, held_out = rollouts.split(0.25, seed=0)
    assert tuning_set.n_steps + held_out.n_steps == 500
    assert len(held_out.episodes) == round(0.25 * len(rollouts.episodes))
    path = rollouts.save(tmp_path / "r.npz")
    loaded = Rollouts.load(path)
    assert loaded.env_id == "CartPole-v1" and loaded.features == rollouts.features
    assert all(np.array_equal(a, b) for a, b in zip(loaded.episodes, rollouts.episodes, strict=True))
    with pytest.raises(FileExistsError):
        rollouts.save(path)
    assert record("CartPole-v1", 500, seed=2).episodes[0].tolist() == rollouts.episodes[0].tolist()
