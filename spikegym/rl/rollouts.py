"""Rollouts recorded with a trained agent: what ``spikegym tune --agent`` tunes an encoder on.

A random policy rarely reaches the states a good agent visits (a balanced
pole, a lander near the pad); recording with the agent gives the encoder
the observations it will see in use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym

from spikegym.envs.rollouts import LastObservation, Rollouts, record_with
from spikegym.rl.acting import Agent
from spikegym.rl.replay import wrap_for_run
from spikegym.rl.runs import load_run
from spikegym.rl.training import load_model


def record_agent(
    run_dir: str | Path,
    n_steps: int | None = None,
    seed: int = 0,
    deterministic: bool = True,
    progress: bool = False,
    n_episodes: int | None = None,
) -> Rollouts:
    """Record raw observations of a trained agent (a ``spikegym train`` run directory) as :func:`record` does.

    The agent acts on its observations exactly as trained (its saved encoder
    config); the recorded observations are the env's raw ones.
    """
    run = load_run(run_dir)
    raw = LastObservation(gym.make(run.info.env_id, **run.info.env_kwargs))
    agent = Agent(load_model(run), deterministic)
    env = _EpisodeStarts(wrap_for_run(run, raw), agent)
    return record_with(env, raw, agent, n_steps, n_episodes, seed, progress, "recording agent")


class _EpisodeStarts(gym.Wrapper):
    """Tells the agent where episodes start (a stateful agent's state restarts there)."""

    def __init__(self, env: gym.Env, agent: Agent) -> None:
        super().__init__(env)
        self.agent = agent

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        self.agent.episode_started()
        return self.env.reset(**kwargs)
