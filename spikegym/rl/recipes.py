"""Training recipes: ``agents/<algo>.yaml`` keyed by env id, in the style of rl-baselines3-zoo.

Recipes are looked up in ``$SPIKEGYM_AGENTS_DIR`` (if set), then ``./agents``,
then the recipes shipped with spikegym (package data); the first
``<algo>.yaml`` with an entry for the env wins.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stable_baselines3.common.utils import LinearSchedule

from spikegym._yaml import read_yaml
from spikegym.data import search_path

ALGOS: tuple[str, ...] = ("a2c", "dqn", "ppo", "recurrent_ppo", "sac", "td3")
REQUIRED = ("n_timesteps", "n_envs")
OPTIONAL = (
    "algo_kwargs",
    "spiking",
    "net_arch",
    "ann_net_arch",
    "ann_algo_kwargs",
    "ann_n_timesteps",
    "ann_normalize",
    "normalize_reward",
    "action_noise",
    "population_head",
    "critic",
    "nir_exact",
)
CRITICS: dict[str, tuple[str, ...]] = {
    "a2c": ("shared", "spiking", "mlp"),
    "ppo": ("shared", "spiking", "mlp"),
    "recurrent_ppo": ("lstm", "spiking"),
    "sac": ("spiking", "mlp"),
    "td3": ("spiking", "mlp"),
}
"""The critic kinds each actor-critic algorithm takes; the first is its default (DQN has none)."""


class RecipeError(ValueError):
    """A recipe that is missing, malformed or holds a field of the wrong type."""


SCHEDULED = ("learning_rate", "clip_range", "clip_range_vf")
"""The algorithm arguments a recipe may give as rl-zoo's ``lin_<value>``: from ``value`` down to 0 over training."""


def with_schedules(algo_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``algo_kwargs`` with each ``lin_<value>`` of :data:`SCHEDULED` as SB3's linear schedule from ``value`` to 0
    (rl-baselines3-zoo's ``linear_schedule``); a malformed one is a :class:`RecipeError`.

    >>> with_schedules({"learning_rate": "lin_0.001", "n_steps": 32})["learning_rate"](0.5)
    0.0005
    """
    resolved = dict(algo_kwargs)
    for key in SCHEDULED:
        value = resolved.get(key)
        if not isinstance(value, str):
            continue
        try:
            start = float(value.removeprefix("lin_")) if value.startswith("lin_") else None
        except ValueError:
            start = None
        if start is None or not start >= 0:
            raise RecipeError(f"{key} must be a number or 'lin_<value>' (a linear schedule to 0), got {value!r}")
        resolved[key] = LinearSchedule(start, 0.0, 1.0)
    return resolved


ANN_NORMALIZE = "ann_normalize"
"""The recipe key (and ``--hyperparams`` key) of the ANN baseline's observation normalisation."""
NORMALIZE_REWARD = "normalize_reward"
"""The recipe key (and ``--hyperparams`` key) of the spiking agent's return normalisation."""
NORMALIZE_OPTIONS: dict[str, str] = {
    "norm_obs": "true or false",
    "norm_reward": "true or false",
    "clip_obs": "a number > 0",
    "clip_reward": "a number > 0",
    "epsilon": "a number > 0",
}
"""The ``VecNormalize`` options ``ann_normalize`` may set, and what each takes (the discount of the normalised
return is the algorithm's ``gamma``, as rl-baselines3-zoo sets it)."""


def check_normalize_reward(value: Any) -> bool:
    """``normalize_reward`` checked: ``true`` or ``false``; anything else is a :class:`RecipeError`.

    >>> check_normalize_reward(True)
    True
    """
    if not isinstance(value, bool):
        raise RecipeError(f"{NORMALIZE_REWARD} must be true or false, got {value!r}")
    return value


def normalize_options(value: Any) -> dict[str, Any] | None:
    """rl-baselines3-zoo's ``normalize`` as ``VecNormalize`` keyword arguments: ``true`` its defaults (observations
    and rewards), a mapping of :data:`NORMALIZE_OPTIONS` those, ``false`` or ``None`` no normalisation
    (``None``); anything else is a :class:`RecipeError` naming the value and what is allowed.

    >>> normalize_options(True), normalize_options({"norm_reward": False}), normalize_options(False)
    ({}, {'norm_reward': False}, None)
    """
    if value is None or value is False:
        return None
    if value is True:
        return {}
    allowed = f"true, false or a mapping of VecNormalize options {list(NORMALIZE_OPTIONS)}"
    if not isinstance(value, Mapping):
        raise RecipeError(f"ann_normalize must be {allowed}, got {value!r}")
    unknown = sorted(set(value) - set(NORMALIZE_OPTIONS))
    if unknown:
        raise RecipeError(f"ann_normalize has unknown option(s) {unknown}; allowed: {list(NORMALIZE_OPTIONS)}")
    for key, option in value.items():
        if NORMALIZE_OPTIONS[key] == "true or false":
            valid = isinstance(option, bool)
        else:
            valid = isinstance(option, int | float) and not isinstance(option, bool) and option > 0
        if not valid:
            raise RecipeError(f"ann_normalize.{key} must be {NORMALIZE_OPTIONS[key]}, got {option!r}")
    return dict(value)


@dataclass(frozen=True)
class Recipe:
    """How to train one algorithm on one env.

    :param algo: the SB3 algorithm, lower case (``ppo``, ``dqn``, ...).
    :param env_id: the env.
    :param n_timesteps: training budget in env steps.
    :param n_envs: parallel envs.
    :param algo_kwargs: keyword arguments of the SB3 algorithm.
    :param spiking: keyword arguments of :class:`~spikegym.rl.extractors.SpikingExtractor`.
    :param net_arch: the SB3 head after the spiking extractor (``[]``: linear readout), or
        SB3's per-network form (``{"pi": [], "qf": [256, 256]}``).
    :param ann_net_arch: the MLP of the ANN baseline.
    :param action_noise: ``{"type": "normal", "sigma": s}`` for TD3-style exploration, or ``None``.
    :param population_head: for SAC/TD3, neurons per action dimension of a PopSAN-style population-coded
        action decoder (the spiking extractor gains an output layer of ``n_actions x population_head``).
    :param critic: the value network or critics, which train the actor and are never deployed:
        for PPO/A2C ``shared`` (a head on the actor's spiking features, SB3's default) or ``spiking``
        (its own spiking extractor); for SAC/TD3 ``spiking`` (the default) or ``mlp`` (MLPs over
        the flattened spike block); for recurrent PPO ``lstm`` (the default: sb3-contrib's LSTM over the
        spike blocks) or ``spiking`` (a second stateful spiking network). ``None``: the algorithm's default.
    :param nir_exact: what ``spikegym train --nir-exact`` changes in this recipe (:meth:`with_nir_exact`):
        ``spiking`` options and ``algo_kwargs`` merged into the recipe's, ``critic`` and ``n_timesteps``
        replacing them; what the NIR-exact layers need to learn this env. It cannot set the reset or the
        read-out, which NIR-exact training fixes.
    :param ann_algo_kwargs: algorithm keyword arguments of the ANN baseline only, over ``algo_kwargs``
        (rl-baselines3-zoo's own where they differ from what the spiking agent trains with).
    :param ann_n_timesteps: the ANN baseline's budget, where it is not ``n_timesteps``.
    :param ann_normalize: the ANN baseline's observation (and reward) normalisation, as rl-baselines3-zoo's
        ``normalize``: ``VecNormalize`` keyword arguments (``{}``: its defaults), or ``None`` for none
        (:func:`normalize_options`). A spiking agent's observations are never normalised (its encoder scales
        them into spikes); with ``normalize_reward`` its returns are (``VecNormalize`` with ``norm_obs`` off).
    :param normalize_reward: normalise the spiking agent's rewards by a running estimate of the return's spread
        (rl-baselines3-zoo's ``normalize`` does this with the observations; a value function that must first grow
        to returns near -100 can leave the actor untrained: recurrent PPO on Acrobot-v1).

    >>> load_recipe("ppo", "CartPole-v1").n_envs
    8
    """

    algo: str
    env_id: str
    n_timesteps: int
    n_envs: int
    algo_kwargs: dict[str, Any] = field(default_factory=dict)
    spiking: dict[str, Any] = field(default_factory=dict)
    net_arch: list[int] | dict[str, list[int]] = field(default_factory=list)
    ann_net_arch: list[int] = field(default_factory=lambda: [64, 64])
    action_noise: dict[str, Any] | None = None
    population_head: int | None = None
    critic: str | None = None
    nir_exact: dict[str, Any] = field(default_factory=dict)
    ann_algo_kwargs: dict[str, Any] = field(default_factory=dict)
    ann_n_timesteps: int | None = None
    ann_normalize: dict[str, Any] | None = None
    normalize_reward: bool = False

    def normalization(self, ann: bool) -> dict[str, Any] | None:
        """The ``VecNormalize`` options of a run of this recipe (the discount aside), or ``None`` for none: the ANN
        baseline's :attr:`ann_normalize`; the spiking agent's returns only, with :attr:`normalize_reward`.

        >>> Recipe("ppo", "X-v0", 10, 1, normalize_reward=True).normalization(ann=False)
        {'norm_obs': False}
        """
        if ann:
            return self.ann_normalize
        return {"norm_obs": False} if self.normalize_reward else None

    def with_nir_exact(self, options: Mapping[str, Any]) -> Recipe:
        """This recipe with its :attr:`nir_exact` changes applied and the extractor ``options`` on top.

        >>> recipe = Recipe("ppo", "X-v0", 10, 1, spiking={"hidden": [8]}, nir_exact={"spiking": {"beta": 0.95}})
        >>> recipe.with_nir_exact({"reset": "zero"}).spiking
        {'hidden': [8], 'beta': 0.95, 'reset': 'zero'}
        """
        overlay = self.nir_exact
        return dataclasses.replace(
            self,
            n_timesteps=overlay.get("n_timesteps", self.n_timesteps),
            algo_kwargs={**self.algo_kwargs, **overlay.get("algo_kwargs", {})},
            spiking={**self.spiking, **overlay.get("spiking", {}), **options},
            critic=overlay.get("critic", self.critic),
        )

    def for_ann(self) -> Recipe:
        """The recipe the ANN baseline trains with: :attr:`ann_algo_kwargs` over :attr:`algo_kwargs`,
        :attr:`ann_n_timesteps` replacing :attr:`n_timesteps` where given.

        >>> recipe = Recipe("ppo", "X-v0", 10, 1, {"n_steps": 8}, ann_algo_kwargs={"learning_rate": "lin_0.001"})
        >>> recipe.for_ann().algo_kwargs
        {'n_steps': 8, 'learning_rate': 'lin_0.001'}
        """
        return dataclasses.replace(
            self,
            n_timesteps=self.ann_n_timesteps or self.n_timesteps,
            algo_kwargs={**self.algo_kwargs, **self.ann_algo_kwargs},
        )

    def to_dict(self) -> dict[str, Any]:
        """The recipe as written in ``agents/<algo>.yaml`` (one env's entry, with algo and env id)."""
        data = {
            "algo": self.algo,
            "env_id": self.env_id,
            "n_timesteps": self.n_timesteps,
            "n_envs": self.n_envs,
            "algo_kwargs": dict(self.algo_kwargs),
            "spiking": dict(self.spiking),
            "net_arch": self.net_arch,
            "ann_net_arch": list(self.ann_net_arch),
        }
        if self.ann_algo_kwargs:
            data["ann_algo_kwargs"] = dict(self.ann_algo_kwargs)
        if self.ann_n_timesteps is not None:
            data["ann_n_timesteps"] = self.ann_n_timesteps
        if self.ann_normalize is not None:
            data["ann_normalize"] = dict(self.ann_normalize) or True
        if self.normalize_reward:
            data["normalize_reward"] = True
        if self.action_noise is not None:
            data["action_noise"] = dict(self.action_noise)
        if self.population_head is not None:
            data["population_head"] = self.population_head
        if self.critic is not None:
            data["critic"] = self.critic
        if self.nir_exact:
            data["nir_exact"] = dict(self.nir_exact)
        return data

    @classmethod
    def from_dict(cls, algo: str, env_id: str, data: Any, where: str) -> Recipe:
        """Validate one env's entry; a :class:`RecipeError` names the file, env and key."""
        if not isinstance(data, Mapping):
            raise RecipeError(f"{where}: entry {env_id!r} must be a mapping, got {type(data).__name__}")
        for key in REQUIRED:
            if key not in data:
                raise RecipeError(f"{where}: entry {env_id!r} is missing the required key '{key}'")
        unknown = sorted(set(data) - set(REQUIRED) - set(OPTIONAL))
        if unknown:
            raise RecipeError(
                f"{where}: entry {env_id!r} has unknown key(s) {unknown}; allowed: {[*REQUIRED, *OPTIONAL]}"
            )
        for key in (*REQUIRED, "ann_n_timesteps"):
            value = data.get(key, 1)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise RecipeError(f"{where}: {env_id}.{key} must be an integer >= 1, got {value!r}")
        for key in ("algo_kwargs", "ann_algo_kwargs", "spiking", "nir_exact"):
            if not isinstance(data.get(key, {}), Mapping):
                raise RecipeError(f"{where}: {env_id}.{key} must be a mapping, got {data[key]!r}")
        for key in ("algo_kwargs", "ann_algo_kwargs"):
            try:
                with_schedules(data.get(key) or {})
            except RecipeError as error:
                raise RecipeError(f"{where}: {env_id}.{key}: {error}") from None
        try:
            normalize = normalize_options(data.get("ann_normalize"))
            check_normalize_reward(data.get(NORMALIZE_REWARD, False))
        except RecipeError as error:
            raise RecipeError(f"{where}: {env_id}.{error}") from None
        _check_nir_exact(algo, env_id, data, where)
        for key in ("net_arch", "ann_net_arch"):
            value = data.get(key, [])
            parts = value.values() if isinstance(value, Mapping) else [value]
            if not all(isinstance(p, list) and all(isinstance(v, int) and v > 0 for v in p) for p in parts):
                raise RecipeError(
                    f"{where}: {env_id}.{key} must be a list of layer sizes (or pi/vf/qf lists), got {value!r}"
                )
        noise = data.get("action_noise")
        if noise is not None and (
            not isinstance(noise, Mapping) or noise.get("type") != "normal" or "sigma" not in noise
        ):
            raise RecipeError(f"{where}: {env_id}.action_noise must be {{type: normal, sigma: S}}, got {noise!r}")
        head = data.get("population_head")
        if head is not None and (
            algo not in ("sac", "td3") or isinstance(head, bool) or not isinstance(head, int) or head < 1
        ):
            raise RecipeError(
                f"{where}: {env_id}.population_head must be a population size >= 1, for sac or td3; got {head!r}"
            )
        critic = data.get("critic")
        if critic is not None and critic not in CRITICS.get(algo, ()):
            allowed = f"one of {list(CRITICS[algo])}" if algo in CRITICS else f"absent for {algo}"
            raise RecipeError(f"{where}: {env_id}.critic must be {allowed}; got {critic!r}")
        return cls(
            algo,
            env_id,
            data["n_timesteps"],
            data["n_envs"],
            dict(data.get("algo_kwargs") or {}),
            dict(data.get("spiking") or {}),
            data.get("net_arch", []),
            list(data.get("ann_net_arch", [64, 64])),
            None if noise is None else dict(noise),
            head,
            critic,
            dict(data.get("nir_exact") or {}),
            dict(data.get("ann_algo_kwargs") or {}),
            data.get("ann_n_timesteps"),
            normalize,
            data.get(NORMALIZE_REWARD, False),
        )


NIR_EXACT_KEYS = ("spiking", "algo_kwargs", "critic", "n_timesteps")
"""The keys a recipe's ``nir_exact`` may change."""


def _check_nir_exact(algo: str, env_id: str, data: Mapping[str, Any], where: str) -> None:
    """Validate an entry's ``nir_exact`` changes by validating the entry they make (without the reset/read-out)."""
    overlay = data.get("nir_exact")
    if not overlay:
        return
    unknown = sorted(set(overlay) - set(NIR_EXACT_KEYS))
    if unknown:
        raise RecipeError(f"{where}: {env_id}.nir_exact has unknown key(s) {unknown}; allowed: {list(NIR_EXACT_KEYS)}")
    fixed = sorted({"reset", "readout"} & set(overlay.get("spiking") or {}))
    if fixed:
        raise RecipeError(f"{where}: {env_id}.nir_exact cannot set {fixed}: NIR-exact layers reset to zero and "
                          "read out spike counts")  # fmt: skip
    changed = {key: value for key, value in data.items() if key != "nir_exact"}
    for key in ("spiking", "algo_kwargs"):
        if not isinstance(overlay.get(key, {}), Mapping):
            raise RecipeError(f"{where}: {env_id}.nir_exact.{key} must be a mapping, got {overlay[key]!r}")
        changed[key] = {**(data.get(key) or {}), **overlay.get(key, {})}
    changed.update({key: overlay[key] for key in ("critic", "n_timesteps") if key in overlay})
    Recipe.from_dict(algo, env_id, changed, f"{where} (with {env_id}.nir_exact)")


class MissingRecipe(RecipeError):
    """No recipe file holds an entry for the env."""


DEFAULT_TIMESTEPS = 100_000
"""The budget of a default recipe."""
DEFAULT_SPIKING: dict[str, Any] = {"hidden": [64, 64], "beta": 0.9, "readout": "membrane_mean"}
"""The spiking layers of a default recipe: two layers of 64 leaky integrate-and-fire neurons."""
SB3_NET_ARCH: dict[str, list[int]] = {"a2c": [64, 64], "ppo": [64, 64], "recurrent_ppo": [64, 64], "dqn": [64, 64],
                                       "sac": [256, 256], "td3": [400, 300]}  # fmt: skip
"""SB3's default hidden layers of each algorithm's MLP (actor and critics)."""


def default_recipe(algo: str, env_id: str) -> Recipe:
    """The recipe for a pair without one: SB3's defaults for ``algo`` (one env, :data:`DEFAULT_TIMESTEPS`),
    :data:`DEFAULT_SPIKING` layers with a linear action head, SB3's MLP as the baseline and, for SAC and TD3,
    SB3's MLP critics over the spike block.

    >>> recipe = default_recipe("sac", "BipedalWalker-v3")
    >>> recipe.algo_kwargs, recipe.spiking["hidden"], recipe.net_arch, recipe.critic
    ({}, [64, 64], {'pi': [], 'qf': [256, 256]}, 'mlp')
    """
    if algo not in ALGOS:
        raise RecipeError(f"unknown algo {algo!r}; choose one of {list(ALGOS)}")
    off_policy_continuous = algo in ("sac", "td3")
    return Recipe(
        algo,
        env_id,
        DEFAULT_TIMESTEPS,
        1,
        spiking=dict(DEFAULT_SPIKING),
        net_arch={"pi": [], "qf": list(SB3_NET_ARCH[algo])} if off_policy_continuous else [],
        ann_net_arch=list(SB3_NET_ARCH[algo]),
        critic="mlp" if off_policy_continuous else None,
    )


def find_recipe(algo: str, env_id: str) -> tuple[Recipe, bool]:
    """``algo``'s recipe for ``env_id`` (:func:`load_recipe`), or :func:`default_recipe` where no file has
    one; and whether it is the default. A malformed recipe file is still an error.

    >>> find_recipe("dqn", "Acrobot-v1")[1]
    True
    """
    try:
        return load_recipe(algo, env_id), False
    except MissingRecipe:
        return default_recipe(algo, env_id), True


def load_recipe(algo: str, env_id: str, agents_dir: str | Path | None = None) -> Recipe:
    """The recipe for ``algo`` on ``env_id``: from ``agents_dir/<algo>.yaml`` if given, else from the first
    ``<algo>.yaml`` with an entry for ``env_id`` in ``$SPIKEGYM_AGENTS_DIR``, ``./agents``, the shipped recipes.

    Raises a :class:`RecipeError` for an unknown algorithm, an env without a
    recipe (listing those with one) or a malformed file or entry.
    """
    if algo not in ALGOS:
        raise RecipeError(f"unknown algo {algo!r}; choose one of {list(ALGOS)}")
    dirs = [Path(agents_dir)] if agents_dir is not None else search_path("agents", "SPIKEGYM_AGENTS_DIR")
    searched: list[str] = []
    for directory in dirs:
        path = directory / f"{algo}.yaml"
        if not path.is_file():
            continue
        recipes = _read(path)
        if env_id in recipes:
            return Recipe.from_dict(algo, env_id, recipes[env_id], str(path))
        searched.append(f"{path} (it has {sorted(recipes)})")
    if not searched:
        raise MissingRecipe(f"no recipe file {algo}.yaml in {', '.join(str(d) for d in dirs)}")
    raise MissingRecipe(f"{algo} has no recipe for {env_id!r}: looked in {'; '.join(searched)}")


def _read(path: Path) -> Mapping[str, Any]:
    """The env ids and recipes of one recipe file; a :class:`RecipeError` naming the file if it is malformed."""
    recipes = read_yaml(path, RecipeError) or {}
    if not isinstance(recipes, Mapping):
        raise RecipeError(f"{path}: expected a mapping of env ids to recipes")
    return recipes
