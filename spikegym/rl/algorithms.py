"""The SB3 algorithms spikegym trains, by the lower-case names recipes and commands use.

>>> ALGORITHMS["ppo"].__name__
'PPO'
"""

from __future__ import annotations

from gymnasium import spaces
from sb3_contrib import RecurrentPPO
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm

ALGORITHMS: dict[str, type[BaseAlgorithm]] = {
    "a2c": A2C, "dqn": DQN, "ppo": PPO, "recurrent_ppo": RecurrentPPO, "sac": SAC, "td3": TD3
}  # fmt: skip
STATEFUL: tuple[str, ...] = ("recurrent_ppo",)
"""The algorithms whose policies carry state across env steps (sb3-contrib's recurrent PPO)."""
_ON_POLICY_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)
ACTION_SPACES: dict[str, tuple[type[spaces.Space], ...]] = {
    "a2c": _ON_POLICY_SPACES,
    "ppo": _ON_POLICY_SPACES,
    "recurrent_ppo": _ON_POLICY_SPACES,
    "dqn": (spaces.Discrete,),
    "sac": (spaces.Box,),
    "td3": (spaces.Box,),
}
"""The action spaces each algorithm acts in (as SB3 declares them)."""


def action_space_problem(algo: str, space: spaces.Space) -> str | None:
    """Why ``algo`` cannot act in ``space``, or ``None`` if it can.

    >>> action_space_problem("dqn", spaces.Box(-1, 1, (1,)))
    "dqn acts in ['Discrete'] action spaces, not Box(-1.0, 1.0, (1,), float32)"
    """
    if isinstance(space, ACTION_SPACES[algo]):
        return None
    return f"{algo} acts in {[kind.__name__ for kind in ACTION_SPACES[algo]]} action spaces, not {space}"
