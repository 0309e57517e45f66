"""Recipes: shipped for the classic suite, malformed entries named with file, env and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from spikegym.data import shipped
from spikegym.rl.recipes import RecipeError, load_recipe


def test_recipes_ship_for_the_classic_suite() -> None:
    pairs = [("ppo", "CartPole-v1"), ("dqn", "CartPole-v1"), ("ppo", "Acrobot-v1"), ("dqn", "MountainCar-v0"),
             ("sac", "Pendulum-v1"), ("sac", "MountainCarContinuous-v0"), ("ppo", "LunarLander-v3")]  # fmt: skip
    for algo, env_id in pairs:
        recipe = load_recipe(algo, env_id)
        assert recipe.n_timesteps > 0 and recipe.spiking["hidden"]


def test_unknown_algorithms_and_envs_without_a_recipe() -> None:
    with pytest.raises(RecipeError, match=r"unknown algo 'trpo'"):
        load_recipe("trpo", "CartPole-v1")
    with pytest.raises(RecipeError, match=r"has no recipe for 'Pong-v5'"):
        load_recipe("ppo", "Pong-v5")


@pytest.mark.parametrize(
    ("algo", "entry", "message"),
    [
        ("ppo", "n_envs: 4", r"entry 'CartPole-v1' is missing the required key 'n_timesteps'"),
        ("ppo", "n_envs: 4\n  n_timesteps: 10\n  net_arch: big", r"CartPole-v1.net_arch must be a list of layer sizes"),
        (
            "ppo",
            "n_envs: 4\n  n_timesteps: 10\n  critic: ann",
            r"critic must be one of \['shared', 'spiking', 'mlp'\]; got 'ann'",
        ),
        ("dqn", "n_envs: 1\n  n_timesteps: 10\n  critic: spiking", r"CartPole-v1.critic must be absent for dqn"),
        ("ppo", "n_envs: 1\n  n_timesteps: 10\n  nir_exact: 0.5", r"CartPole-v1.nir_exact must be a mapping"),
        (
            "ppo",
            "n_envs: 1\n  n_timesteps: 10\n  nir_exact: {spiking: {readout: membrane_mean}}",
            r"CartPole-v1.nir_exact cannot set \['readout'\]",
        ),
        ("ppo", "n_envs: 1\n  n_timesteps: 10\n  nir_exact: {beta: 0.9}", r"nir_exact has unknown key\(s\) \['beta'\]"),
        (
            "ppo",
            "n_envs: 1\n  n_timesteps: 10\n  nir_exact: {critic: ann}",
            r"\(with CartPole-v1.nir_exact\): CartPole-v1.critic must be one of \['shared', 'spiking', 'mlp'\]",
        ),
        (
            "sac",
            "n_envs: 1\n  n_timesteps: 10\n  critic: ann",
            r"critic must be one of \['spiking', 'mlp'\]; got 'ann'",
        ),
    ],
)
def test_malformed_recipes_name_the_file_env_and_key(algo: str, entry: str, message: str, tmp_path: Path) -> None:
    (tmp_path / f"{algo}.yaml").write_text(f"CartPole-v1:\n  {entry}\n")
    with pytest.raises(RecipeError, match=message) as error:
        load_recipe(algo, "CartPole-v1", agents_dir=tmp_path)
    assert str(tmp_path / f"{algo}.yaml") in str(error.value)


def test_users_recipes_come_first_and_other_envs_fall_through_to_the_shipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SPIKEGYM_AGENTS_DIR", raising=False)
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "ppo.yaml").write_text("CartPole-v1:\n  n_envs: 2\n  n_timesteps: 10\n")
    assert load_recipe("ppo", "CartPole-v1").n_envs == 2
    assert load_recipe("ppo", "Acrobot-v1") == load_recipe("ppo", "Acrobot-v1", agents_dir=shipped("agents"))
    variable = tmp_path / "variable"
    variable.mkdir()
    (variable / "ppo.yaml").write_text("CartPole-v1:\n  n_envs: 3\n  n_timesteps: 10\n")
    monkeypatch.setenv("SPIKEGYM_AGENTS_DIR", str(variable))
    assert load_recipe("ppo", "CartPole-v1").n_envs == 3
    with pytest.raises(RecipeError, match=r"has no recipe for 'Pong-v5': looked in .*variable.*ppo\.yaml"):
        load_recipe("ppo", "Pong-v5")


def test_a_malformed_users_recipe_file_is_named_not_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "ppo.yaml").write_text("CartPole-v1: [\n")
    with pytest.raises(RecipeError, match=r"agents/ppo\.yaml: not valid YAML"):
        load_recipe("ppo", "CartPole-v1")


def test_nir_exact_training_applies_the_recipes_nir_exact_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spikegym.rl.runs import load_run
    from spikegym.rl.training import train

    (tmp_path / "ppo.yaml").write_text(
        "CartPole-v1:\n  n_timesteps: 64\n  n_envs: 1\n  algo_kwargs: {n_steps: 32, batch_size: 32, n_epochs: 1}\n"
        "  spiking: {hidden: [8], threshold: 1.0}\n"
        "  nir_exact: {spiking: {threshold: 0.5, slope: 5}, critic: spiking}\n"
    )
    monkeypatch.setenv("SPIKEGYM_AGENTS_DIR", str(tmp_path))
    assert load_recipe("ppo", "CartPole-v1").nir_exact["critic"] == "spiking"
    plain = train("CartPole-v1", "ppo", runs_dir=tmp_path / "runs", progress=False)[0]
    exact = train("CartPole-v1", "ppo", runs_dir=tmp_path / "runs", progress=False, nir_exact=True)[0]
    assert load_run(plain).recipe.spiking == {"hidden": [8], "threshold": 1.0}
    recipe = load_run(exact).recipe
    assert recipe.spiking == {"hidden": [8], "threshold": 0.5, "slope": 5, "reset": "zero", "readout": "spike_count"}
    assert recipe.critic == "spiking" and load_run(plain).recipe.critic is None


def test_lin_schedules_run_from_their_value_to_zero_as_rl_zoo_writes_them() -> None:
    from spikegym.rl.recipes import with_schedules

    resolved = with_schedules({"learning_rate": "lin_0.001", "clip_range": "lin_0.2", "n_steps": 32})
    assert resolved["n_steps"] == 32
    assert [resolved["learning_rate"](p) for p in (1.0, 0.25, 0.0)] == pytest.approx([0.001, 0.00025, 0.0])
    assert resolved["clip_range"](0.5) == pytest.approx(0.1)
    with pytest.raises(RecipeError, match=r"learning_rate must be a number or 'lin_<value>'.*got 'exp_0.1'"):
        with_schedules({"learning_rate": "exp_0.1"})


def test_a_recipe_with_a_malformed_schedule_is_refused_naming_the_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "ppo.yaml").write_text("CartPole-v1: {n_timesteps: 10, n_envs: 1, algo_kwargs: {clip_range: lin_}}\n")
    with pytest.raises(RecipeError, match=r"ppo.yaml: CartPole-v1.algo_kwargs: clip_range must be"):
        load_recipe("ppo", "CartPole-v1", tmp_path)


ZOO_PPO = {"CartPole-v1": ({"learning_rate": "lin_0.001", "clip_range": "lin_0.2"}, 100_000, None),
           "Acrobot-v1": ({"learning_rate": 0.0003}, 1_000_000, {}),
           "MountainCar-v0": ({"learning_rate": 0.0003}, 1_000_000, {}),
           "LunarLander-v3": ({"learning_rate": 0.0003}, 1_000_000, None)}  # fmt: skip
"""rl-baselines3-zoo's hyperparams/ppo.yml: the MLP's rates (SB3's default 0.0003 where the zoo sets none), budget and
``normalize`` (``{}``: VecNormalize's defaults, as ``normalize: true``)."""

SB3_PPO_RATES = {"learning_rate": 0.0003, "clip_range": 0.2}
"""SB3's PPO defaults: the rate of a recipe that sets none."""

SPIKING_PPO_RATES = {"CartPole-v1": "lin_0.001", "Acrobot-v1": 0.0003, "MountainCar-v0": 0.0003,
                     "LunarLander-v3": "lin_0.0003"}  # fmt: skip
"""The rate each spiking agent trains with (issue 17: LunarLander-v3's decays, as CartPole-v1's in the zoo)."""


@pytest.mark.parametrize("env_id", sorted(ZOO_PPO))
def test_the_mlp_baseline_trains_with_the_zoos_recipe_and_the_spiking_agent_with_its_own_rate(env_id: str) -> None:
    recipe = load_recipe("ppo", env_id)
    zoo_rates, budget, normalize = ZOO_PPO[env_id]
    ann = recipe.for_ann()
    assert ann.n_timesteps == budget and recipe.ann_normalize == normalize
    assert {key: ann.algo_kwargs.get(key, SB3_PPO_RATES[key]) for key in zoo_rates} == zoo_rates
    assert {key: value for key, value in ann.algo_kwargs.items() if key not in zoo_rates} == {
        key: value for key, value in recipe.algo_kwargs.items() if key not in zoo_rates
    }
    assert recipe.algo_kwargs.get("learning_rate", SB3_PPO_RATES["learning_rate"]) == SPIKING_PPO_RATES[env_id]


def test_ann_keys_round_trip_and_are_validated(tmp_path: Path) -> None:
    from spikegym.rl.recipes import Recipe

    recipe = load_recipe("ppo", "Acrobot-v1")
    entry = {k: v for k, v in recipe.to_dict().items() if k not in ("algo", "env_id")}
    assert entry["ann_normalize"] is True and entry["ann_n_timesteps"] == 1_000_000
    assert Recipe.from_dict("ppo", "Acrobot-v1", entry, "x") == recipe
    for key, value, message in [
        ("ann_n_timesteps", 0, r"CartPole-v1.ann_n_timesteps must be an integer >= 1, got 0"),
        ("ann_algo_kwargs", [1], r"CartPole-v1.ann_algo_kwargs must be a mapping, got \[1\]"),
        ("ann_algo_kwargs", {"learning_rate": "lin_x"}, r"CartPole-v1.ann_algo_kwargs: learning_rate must be"),
    ]:
        (tmp_path / "ppo.yaml").write_text(f"CartPole-v1: {{n_timesteps: 10, n_envs: 1, {key}: {value}}}\n")
        with pytest.raises(RecipeError, match=message):
            load_recipe("ppo", "CartPole-v1", tmp_path)
