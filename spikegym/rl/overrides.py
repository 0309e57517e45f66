"""Command-line overrides of a recipe and of the env, after rl-baselines3-zoo's ``--hyperparams`` and
``--env-kwargs``: ``key=value`` pairs whose values are YAML (so ``0.0005`` is a float, ``true`` a bool,
``[64, 64]`` a list), checked against the signature they go to before any work starts.

>>> parse_pairs(["learning_rate=0.0005", "n_steps=64"], "--hyperparams")
{'learning_rate': 0.0005, 'n_steps': 64}
>>> check_hyperparams("ppo", {"learning_rate": 0.0005, "spiking.beta": 0.95})
{'learning_rate': 0.0005, 'spiking.beta': 0.95}
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from spikegym.rl.algorithms import ALGORITHMS
from spikegym.rl.extractors import SpikingExtractor
from spikegym.rl.recipes import (
    ANN_NORMALIZE,
    NORMALIZE_REWARD,
    SCHEDULED,
    Recipe,
    RecipeError,
    check_normalize_reward,
    normalize_options,
    with_schedules,
)

SPIKING_PREFIX = "spiking."
"""Hyperparameters that start with it set a :class:`~spikegym.rl.extractors.SpikingExtractor` option."""
SET_ELSEWHERE = {
    "policy": "the policy is the spiking extractor (or the MLP with --ann)",
    "env": "the env is ENV_ID (its arguments: --env-kwargs)",
    "policy_kwargs": "spiking options are spiking.NAME=VALUE; other policy options belong in a recipe file",
    "seed": "use --seed",
    "device": "use --device",
    "verbose": "training prints its own progress",
    "tensorboard_log": "TensorBoard logs go into the run directory",
    "n_timesteps": "use --timesteps",
    "n_envs": "use --n-envs",
    "_init_setup_model": "it is internal to SB3",
}
"""Arguments an algorithm takes that ``--hyperparams`` may not set, and where they are set instead."""
RECIPE_CHECKS = {ANN_NORMALIZE: normalize_options, NORMALIZE_REWARD: check_normalize_reward}
"""Recipe keys ``--hyperparams`` may set besides the algorithm's and the extractor's arguments, with their checks
(raising :class:`~spikegym.rl.recipes.RecipeError`); training applies them to the recipe."""


def parse_pairs(pairs: Sequence[str], flag: str) -> dict[str, Any]:
    """``["key=value", ...]`` as a dict of YAML-typed values; a ``ValueError`` naming ``flag`` otherwise."""
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key or key != key.strip():
            raise ValueError(f"{flag} takes key=value pairs, got {pair!r}")
        if key in parsed:
            raise ValueError(f"{flag} gives {key!r} twice")
        try:
            parsed[key] = yaml.safe_load(text) if text else ""
        except yaml.YAMLError as error:
            raise ValueError(f"{flag} {pair!r}: the value is not YAML ({error})") from None
    return parsed


def _type_problem(value: Any, parameter: inspect.Parameter) -> str | None:
    """What is wrong with ``value`` for a parameter whose default says its type; ``None`` if nothing is."""
    default, annotation = parameter.default, str(parameter.annotation)
    if default is None or default is inspect.Parameter.empty:
        return None
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(value, list) and "tuple" in annotation:
        return None
    if isinstance(default, int):
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    if isinstance(default, float):
        number = isinstance(value, int | float) and not isinstance(value, bool)
        per_layer = isinstance(value, list) and "Sequence" in annotation
        return None if number or per_layer else "a number"
    if isinstance(default, str):
        return None if isinstance(value, str) else "a string"
    return None


def check_hyperparams(algo: str, hyperparams: Mapping[str, Any]) -> dict[str, Any]:
    """``hyperparams`` checked against ``algo``'s constructor (``spiking.NAME`` against
    :class:`~spikegym.rl.extractors.SpikingExtractor`'s, the recipe keys of :data:`RECIPE_CHECKS` by their
    checks): a ``ValueError`` names the key, the value and what is allowed."""
    algorithm = inspect.signature(ALGORITHMS[algo]).parameters
    extractor = inspect.signature(SpikingExtractor).parameters
    for key, value in hyperparams.items():
        if key in RECIPE_CHECKS:
            try:
                RECIPE_CHECKS[key](value)
            except RecipeError as error:
                raise ValueError(f"--hyperparams {error}") from None
            continue
        if key.startswith(SPIKING_PREFIX):
            name, parameters, owner = key[len(SPIKING_PREFIX) :], extractor, "SpikingExtractor"
            if name == "observation_space":
                raise ValueError(f"--hyperparams {key}: the observation space comes from the env")
        else:
            name, parameters, owner = key, algorithm, algo.upper()
        if name in SET_ELSEWHERE and owner != "SpikingExtractor":
            raise ValueError(f"--hyperparams {key}: {SET_ELSEWHERE[name]}")
        allowed = [p for p in parameters if p not in SET_ELSEWHERE and p not in ("observation_space", "args")]
        if name not in parameters:
            names = allowed if owner != "SpikingExtractor" else [SPIKING_PREFIX + p for p in allowed]
            raise ValueError(f"--hyperparams {key}={value!r}: {owner} takes no {name!r}; allowed: {names}")
        if name in SCHEDULED and isinstance(value, str) and owner != "SpikingExtractor":
            try:
                with_schedules({name: value})
            except RecipeError as error:
                raise ValueError(f"--hyperparams {key}: {error}") from None
            continue
        problem = _type_problem(value, parameters[name])
        if problem:
            raise ValueError(f"--hyperparams {key} must be {problem} (as {owner}'s {name}), got {value!r}")
    return dict(hyperparams)


def apply_overrides(recipe: Recipe, hyperparams: Mapping[str, Any], n_envs: int | None = None) -> Recipe:
    """``recipe`` with checked ``hyperparams`` merged into its ``algo_kwargs`` (``spiking.NAME`` into its
    ``spiking`` options) and ``n_envs`` replacing its own.

    >>> recipe = Recipe("ppo", "CartPole-v1", 1000, 8, {"n_steps": 32}, {"hidden": [64]})
    >>> changed = apply_overrides(recipe, {"n_steps": 64, "spiking.beta": 0.95}, n_envs=4)
    >>> changed.algo_kwargs, changed.spiking, changed.n_envs
    ({'n_steps': 64}, {'hidden': [64], 'beta': 0.95}, 4)
    """
    spiking = {k[len(SPIKING_PREFIX) :]: v for k, v in hyperparams.items() if k.startswith(SPIKING_PREFIX)}
    algo_kwargs = {k: v for k, v in hyperparams.items() if not k.startswith(SPIKING_PREFIX)}
    return dataclasses.replace(
        recipe,
        algo_kwargs={**recipe.algo_kwargs, **algo_kwargs},
        spiking={**recipe.spiking, **spiking},
        n_envs=recipe.n_envs if n_envs is None else n_envs,
    )
