"""Acting with a trained model in an env, exactly as it was trained: a stateful policy's state restarts where an
episode starts.

SB3's ``model.predict(observation, state, episode_start)`` takes the state a
recurrent policy returned on the previous call and the flags of the
observations that begin an episode. :class:`Agent` keeps both for one
env, :class:`VectorAgent` for a gymnasium vector env, whose sub-envs
(gymnasium 1.x) reset one ``step`` after their episode ends: the observation
that step returns is the first of the new episode, and only there does the
state restart, so the old episode's state never leaks into the new one.
Stateless models ignore the state and the flags. A model whose env normalises observations (SB3's
``VecNormalize``: an ANN baseline trained with ``ann_normalize``, loaded by
:func:`~spikegym.rl.training.load_model`) acts on observations normalised with those statistics, as it was
trained; the statistics are only read.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize


class Agent:
    """A model as a policy over one env: call :meth:`episode_started` after each ``reset``.

    >>> import spikegym
    >>> from sb3_contrib import RecurrentPPO
    >>> env = spikegym.make("CartPole-v1")
    >>> agent = Agent(RecurrentPPO("MlpLstmPolicy", env, n_steps=16, seed=0))
    >>> observation, _ = env.reset(seed=0)
    >>> agent.episode_started()
    >>> int(agent(observation)) in (0, 1)
    True
    """

    def __init__(self, model: BaseAlgorithm, deterministic: bool = True) -> None:
        self.model, self.deterministic = model, deterministic
        self.normalization: VecNormalize | None = model.get_vec_normalize_env()
        self.state: Any = None
        self.starting = True

    def episode_started(self) -> None:
        """The next observation is the first of an episode: the state restarts there."""
        self.starting = True

    def __call__(self, observation: Any) -> Any:
        if self.normalization is not None:
            observation = self.normalization.normalize_obs(observation)
        action, self.state = self.model.predict(
            observation, self.state, np.array([self.starting]), deterministic=self.deterministic
        )
        self.starting = False
        return action


class VectorAgent:
    """A model as a policy over a gymnasium vector env (next-step autoreset): call :meth:`reset` after the
    env's ``reset`` and :meth:`stepped` with each step's ``terminated`` and ``truncated``.

    >>> import spikegym
    >>> from sb3_contrib import RecurrentPPO
    >>> envs = spikegym.make_vec("CartPole-v1", 2, vectorization_mode="sync")
    >>> agent = VectorAgent(RecurrentPPO("MlpLstmPolicy", spikegym.make("CartPole-v1"), n_steps=16))
    >>> observations, _ = envs.reset(seed=0)
    >>> agent.reset(envs.num_envs)
    >>> agent(observations).shape
    (2,)
    """

    def __init__(self, model: BaseAlgorithm, deterministic: bool = True) -> None:
        self.model, self.deterministic = model, deterministic
        self.normalization: VecNormalize | None = model.get_vec_normalize_env()
        self.state: Any = None
        self.starts = np.ones(0, bool)
        self.resetting = np.zeros(0, bool)

    def reset(self, num_envs: int) -> None:
        """Every sub-env starts an episode."""
        self.state = None
        self.starts = np.ones(num_envs, bool)
        self.resetting = np.zeros(num_envs, bool)

    def stepped(self, terminated: np.ndarray, truncated: np.ndarray) -> None:
        """After a step: the sub-envs that reset in it start an episode; those that ended reset in the next."""
        self.starts = self.resetting
        self.resetting = np.logical_or(terminated, truncated)

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        if self.normalization is not None:
            observations = self.normalization.normalize_obs(observations)
        actions, self.state = self.model.predict(
            observations, self.state, self.starts, deterministic=self.deterministic
        )
        return actions
