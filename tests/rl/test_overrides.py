"""Command-line overrides of recipes: parsed as YAML, checked against the signatures they go to, merged."""

from __future__ import annotations

import pytest

from spikegym.rl.overrides import apply_overrides, check_hyperparams, parse_pairs
from spikegym.rl.recipes import default_recipe, find_recipe


def test_values_are_typed_as_yaml() -> None:
    parsed = parse_pairs(["a=1", "b=0.5", "c=true", "d=[64, 32]", "e=auto", "f="], "--hyperparams")
    assert parsed == {"a": 1, "b": 0.5, "c": True, "d": [64, 32], "e": "auto", "f": ""}


@pytest.mark.parametrize(
    ("algo", "hyperparams", "message"),
    [
        ("dqn", {"n_epochs": 8}, "DQN takes no 'n_epochs'"),
        ("sac", {"gamma": "high"}, "gamma must be a number"),
        ("ppo", {"normalize_advantage": 1}, "normalize_advantage must be true or false"),
        ("ppo", {"policy_kwargs": {}}, "spiking options are spiking.NAME=VALUE"),
        ("ppo", {"spiking.observation_space": 1}, "the observation space comes from the env"),
        ("ppo", {"spiking.readout": 3}, "spiking.readout must be a string"),
    ],
)
def test_hyperparams_are_checked_against_the_signatures(algo: str, hyperparams: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_hyperparams(algo, hyperparams)


def test_dqn_takes_train_freq_as_a_pair() -> None:
    assert check_hyperparams("dqn", {"train_freq": [1, "episode"]}) == {"train_freq": [1, "episode"]}


def test_overrides_merge_into_the_recipe_and_leave_it_alone() -> None:
    recipe, default = find_recipe("ppo", "CartPole-v1")
    changed = apply_overrides(recipe, {"n_epochs": 3, "spiking.beta": 0.8}, n_envs=2)
    assert not default
    assert changed.algo_kwargs == {**recipe.algo_kwargs, "n_epochs": 3}
    assert changed.spiking == {**recipe.spiking, "beta": 0.8} and changed.n_envs == 2
    assert recipe.algo_kwargs["n_epochs"] == 20 and recipe.n_envs == 8


@pytest.mark.parametrize("algo", ["a2c", "dqn", "ppo", "sac", "td3"])
def test_a_pair_without_a_recipe_gets_the_default_one(algo: str) -> None:
    recipe, default = find_recipe(algo, "Nowhere-v0")
    assert default and recipe == default_recipe(algo, "Nowhere-v0")
    assert recipe.algo_kwargs == {} and recipe.spiking["hidden"] == [64, 64]
    assert (recipe.critic == "mlp") == (algo in ("sac", "td3"))


def test_nir_exact_training_refuses_hyperparams_that_change_its_reset(tmp_path: object) -> None:
    from spikegym.rl.training import Overrides, train

    with pytest.raises(ValueError, match=r"nir_exact fixes the spiking \['reset'\]"):
        train("CartPole-v1", "ppo", nir_exact=True, runs_dir=str(tmp_path),
              overrides=Overrides(hyperparams={"spiking.reset": "subtract"}))  # fmt: skip
