"""Rollouts recorded with a trained agent."""

from __future__ import annotations

from pathlib import Path


def test_rollouts_recorded_with_a_trained_agent(trained: tuple[Path, object]) -> None:
    from spikegym.envs.rollouts import record
    from spikegym.rl.rollouts import record_agent

    rollouts = record_agent(trained[0], 300, seed=1)
    assert rollouts.env_id == "CartPole-v1" and rollouts.n_steps == 300
    assert rollouts.features == ("x[0]", "x[1]", "x[2]", "x[3]")
    random_policy = record("CartPole-v1", 300, seed=1)
    assert len(rollouts.episodes) < len(random_policy.episodes), "the agent balances longer than a random policy"
    assert record_agent(trained[0], 300, seed=1).episodes[0].tolist() == rollouts.episodes[0].tolist()
