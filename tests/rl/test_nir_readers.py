"""NIR-exact policies exported and run in real NIR readers (snntorch's ``import_from_nir``, norse's ``from_nir``)
give the trained model's actions: discrete policies (PPO, DQN), SAC and TD3 actors with and without a population
head, ``beta = 1`` layers; and a closed-loop CartPole episode driven by each reader.

The readers are optional installs (norse with ``--no-deps``, snntorch's reader needs nirtorch): locally a
missing one skips with the reason; in CI (``$CI`` set) it fails.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from stable_baselines3.common.base_class import BaseAlgorithm

from spikegym.rl.export import actor_of, export_policy, policy_graph
from spikegym.rl.extractors import NIR_EXACT
from spikegym.rl.nir_readers import AGREEMENT, compare, describe, load_reader, record_observations
from spikegym.rl.replay import make_replay_env
from spikegym.rl.runs import load_run
from spikegym.rl.training import build_model, make_env, resolve_encoder
from tests.rl.helpers import tiny_recipe

READER_MODULES = {"snntorch": "nirtorch", "norse": "norse.torch"}
"""What each external reader needs installed."""


def require(reader: str) -> None:
    """Skip (fail in CI) when ``reader`` cannot be imported."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # norse uses torch.jit.script
            importlib.import_module(READER_MODULES[reader])
    except ImportError as error:
        message = (
            f"the {reader} NIR reader is not installed ({error}); install norse with "
            "`pip install --no-deps norse==1.1.0` and nirtorch with `pip install nirtorch`"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(params=sorted(READER_MODULES))
def reader(request: pytest.FixtureRequest) -> str:
    require(request.param)
    return request.param


@functools.cache
def nir_exact_model(
    algo: str,
    env_id: str,
    population_head: int | None = None,
    beta: float = 0.9,
    steps: int = 300,
    alpha: float | None = None,
) -> BaseAlgorithm:
    """A small NIR-exact spiking model of ``algo`` on ``env_id``, trained ``steps`` env steps (once per session:
    the readers' tests only read it)."""
    recipe = tiny_recipe(algo, env_id, population_head)
    algo_kwargs = {"learning_starts": 100} if algo in ("dqn", "sac", "td3") else {"n_steps": 64}
    recipe = dataclasses.replace(
        recipe,
        spiking={**recipe.spiking, **NIR_EXACT, "beta": beta, "alpha": alpha},
        algo_kwargs={**recipe.algo_kwargs, **algo_kwargs},
    )
    env = make_env(env_id, 1, 0, resolve_encoder(env_id, None))
    model = build_model(recipe, env, seed=0, spiking=True)
    return model.learn(steps)


def observations_of(model: BaseAlgorithm, env_id: str, n: int = 300) -> np.ndarray:
    """``n`` spike observations of ``env_id`` as ``model`` acts; checked to make the spiking layers fire."""
    import spikegym

    observations = record_observations(model, spikegym.make(env_id), n, seed=1)
    actor = actor_of(model)
    scores = actor.scores(observations)
    assert np.ptp(scores, axis=0).max() > 0, "the outputs do not depend on the observations: a vacuous comparison"
    return observations


def assert_agrees(model: BaseAlgorithm, observations: np.ndarray, reader: str, **options: object) -> None:
    graph = policy_graph(model, **options)
    (agreement,) = compare(actor_of(model), graph, observations, readers=[reader])
    assert agreement.problem is None, describe(agreement)
    assert agreement.share >= AGREEMENT, describe(agreement)


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BaseAlgorithm]:
    """A NIR-exact PPO CartPole-v1 run (``spikegym train --nir-exact``), trained briefly."""
    from spikegym.rl.training import train

    root = tmp_path_factory.mktemp("nir_runs")
    return train("CartPole-v1", "ppo", timesteps=16000, runs_dir=root, progress=False, eval_freq=10**6, nir_exact=True)


@pytest.mark.slow
def test_a_trained_ppo_policy_runs_as_trained_in_the_reader(
    cartpole_run: tuple[Path, BaseAlgorithm], reader: str, tmp_path: Path
) -> None:
    import nir

    run_dir, model = cartpole_run
    target = tmp_path / "policy.nir"
    export_policy(model, target)
    env = make_replay_env(load_run(run_dir))
    observations = record_observations(model, env, 400, seed=2)
    (agreement,) = compare(actor_of(model), nir.read(target), observations, readers=[reader])
    assert agreement.problem is None and agreement.share >= AGREEMENT, describe(agreement)


@pytest.mark.slow
def test_the_reader_balances_the_pole_as_the_model_does(cartpole_run: tuple[Path, BaseAlgorithm], reader: str) -> None:
    """Closed loop: the reader's own actions drive the env for 5 episodes; along its trajectories the model acts
    the same, and its episodes are the model's own episodes from the same seeds."""
    run_dir, model = cartpole_run
    run_in_reader = load_reader(reader, policy_graph(model))
    lengths: dict[str, list[int]] = {"model": [], reader: []}
    same = 0
    for driver in lengths:
        env = make_replay_env(load_run(run_dir))
        for episode in range(5):
            observation, _ = env.reset(seed=7 + episode)
            steps, done = 0, False
            while not done:
                expected = int(model.predict(observation, deterministic=True)[0])
                action = expected if driver == "model" else int(run_in_reader(observation[None]).sum(1).argmax(1)[0])
                same += driver == reader and action == expected
                observation, _, terminated, truncated, _ = env.step(action)
                steps, done = steps + 1, terminated or truncated
            lengths[driver].append(steps)
    steps = sum(lengths[reader])
    assert np.mean(lengths["model"]) >= 20, f"the model balanced {lengths['model']} steps: no better than one push"
    assert same >= AGREEMENT * steps, f"{reader} chose the model's action in {same} of {steps} closed-loop steps"
    assert same < steps or lengths[reader] == lengths["model"], lengths


@pytest.mark.parametrize(
    ("algo", "env_id", "population_head"),
    [
        ("dqn", "CartPole-v1", None),
        pytest.param("sac", "Pendulum-v1", None, marks=pytest.mark.slow),
        pytest.param("sac", "Pendulum-v1", 8, marks=pytest.mark.slow),
        pytest.param("td3", "Pendulum-v1", None, marks=pytest.mark.slow),
        pytest.param("td3", "Pendulum-v1", 8, marks=pytest.mark.slow),
    ],
)
def test_dqn_and_the_sac_and_td3_actors_run_as_trained_in_the_reader(
    algo: str, env_id: str, population_head: int | None, reader: str
) -> None:
    model = nir_exact_model(algo, env_id, population_head)
    assert_agrees(model, observations_of(model, env_id), reader)


@pytest.mark.parametrize("alpha", [1.0, 0.8])
def test_a_synaptic_first_layer_runs_as_a_cuba_lif_in_every_reader(alpha: float, reader: str) -> None:
    """``alpha = 1`` (a synaptic current that never decays) is a :data:`~spikegym.rl.export.LONG_TAU` CubaLIF."""
    model = nir_exact_model("ppo", "CartPole-v1", alpha=alpha)
    graph = policy_graph(model)
    assert type(graph.nodes["cubalif0"]).__name__ == "CubaLIF" and ("fc0", "cubalif0") in graph.edges
    observations = observations_of(model, "CartPole-v1")
    assert_agrees(model, observations, reader)
    (ours,) = compare(actor_of(model), graph, observations, readers=["spikegym"])
    assert ours.agree == len(observations), describe(ours)


@pytest.mark.slow
def test_beta_one_runs_as_an_if_in_norse_and_as_a_long_lif_in_both_readers() -> None:
    require("norse")
    require("snntorch")
    model = nir_exact_model("ppo", "CartPole-v1", beta=1.0)
    observations = observations_of(model, "CartPole-v1")
    assert type(policy_graph(model).nodes["if0"]).__name__ == "IF"
    assert_agrees(model, observations, "norse")
    assert_agrees(model, observations, "norse", integrator="lif")
    assert_agrees(model, observations, "snntorch", integrator="lif")


def test_snntorch_refuses_an_if_graph_rather_than_running_it_as_a_leaky_neuron() -> None:
    """snntorch 1.0 reads ``nir.IF`` as ``Leaky(beta=0.9)`` with subtractive reset; the export's ``r = 1/dt``
    (exact under NIR's definition) makes that reader refuse the graph instead of running it wrongly."""
    require("snntorch")
    model = nir_exact_model("ppo", "CartPole-v1", beta=1.0)
    (agreement,) = compare(actor_of(model), policy_graph(model), observations_of(model, "CartPole-v1"), ["snntorch"])
    assert agreement.ok or (agreement.problem is not None and agreement.problem.startswith("failed")), describe(
        agreement
    )
