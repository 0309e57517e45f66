"""Helpers of the rl tests: tiny recipes that train in seconds."""

from __future__ import annotations

from spikegym.rl.recipes import Recipe, load_recipe

SMALL = {"hidden": [16], "beta": 0.9}
"""One spiking layer of 16 neurons."""


def tiny_recipe(algo: str, env_id: str, population_head: int | None = None, **algo_kwargs: object) -> Recipe:
    """``algo``'s recipe for ``env_id`` with a 200-step budget, one env and :data:`SMALL` layers."""
    base = load_recipe(algo, env_id)
    return Recipe(algo, env_id, 200, 1, algo_kwargs, SMALL, base.net_arch, [16], base.action_noise, population_head)
