"""NIR export: the graph carries the trained dynamics (nodes, edges, time constants), the metadata only adds
information, spikegym's reader runs the graph as NIR defines it, and what NIR cannot carry is refused."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import nir
import numpy as np
import pytest
import torch
from stable_baselines3.common.base_class import BaseAlgorithm

from spikegym.rl.export import (
    DISCRETE_RULE,
    DT,
    LONG_TAU,
    SQUASHED_RULE,
    ExportError,
    actor_of,
    check_exportable,
    export_policy,
    policy_graph,
)
from spikegym.rl.extractors import NIR_EXACT
from spikegym.rl.nir_readers import AGREEMENT, NIRPolicy, load_policy, record_observations
from spikegym.rl.training import LEARNABLE, build_model, make_env, resolve_encoder
from tests.rl.helpers import tiny_recipe


def small_model(algo: str, env_id: str, population_head: int | None = None, **spiking: object) -> BaseAlgorithm:
    """An untrained small spiking model; NIR-exact unless ``spiking`` overrides its options."""
    recipe = tiny_recipe(algo, env_id, population_head)
    recipe = dataclasses.replace(recipe, spiking={**recipe.spiking, **NIR_EXACT, **spiking})
    return build_model(recipe, make_env(env_id, 1, 0, resolve_encoder(env_id, None)), seed=0, spiking=True)


def test_the_graph_holds_the_trained_update_and_the_metadata_only_adds(tmp_path: Path) -> None:
    model = small_model("ppo", "CartPole-v1", beta=0.8, threshold=0.7)
    export_policy(model, tmp_path / "p.nir", channels=["a", "b"], info={"env_id": "CartPole-v1"})
    graph = nir.read(tmp_path / "p.nir")
    assert graph.edges == [("input", "fc0"), ("fc0", "lif0"), ("lif0", "head"), ("head", "output")]
    extractor = model.policy.pi_features_extractor
    layer, lif, head = graph.nodes["fc0"], graph.nodes["lif0"], graph.nodes["head"]
    beta = float(extractor.neurons[0].beta)
    assert isinstance(lif, nir.LIF) and isinstance(layer, nir.Affine) and isinstance(head, nir.Affine)
    np.testing.assert_allclose(lif.tau, DT / (1 - beta))
    np.testing.assert_array_equal(lif.r, 1.0)
    np.testing.assert_array_equal(lif.v_leak, 0.0)
    np.testing.assert_array_equal(lif.v_reset, 0.0)
    np.testing.assert_allclose(lif.v_threshold, 0.7, rtol=1e-7)
    np.testing.assert_allclose(layer.weight * (1 - beta), extractor.layers[0].weight.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(head.weight, model.policy.action_net.weight.detach().numpy(), rtol=1e-7)
    meta = graph.metadata
    assert (meta["substeps"], meta["dt"], meta["action"]) == (extractor.steps, DT, DISCRETE_RULE)
    assert meta["input_channels"] == "a, b" and meta["env_id"] == "CartPole-v1"
    assert "readout" not in meta and "reset" not in meta


def test_spikegym_reads_the_graph_as_nir_defines_it() -> None:
    """NIR's forward Euler on the graph (float64) gives the trained outputs; the exported model fires."""
    import spikegym

    model = small_model("ppo", "CartPole-v1")
    observations = record_observations(model, spikegym.make("CartPole-v1"), 200, seed=3)
    reader = load_policy_from(model)
    expected = actor_of(model).scores(observations)
    outputs = reader.outputs(observations)
    assert outputs.shape == (200, model.policy.pi_features_extractor.steps, 2)
    assert np.ptp(expected, axis=0).max() > 0
    close = np.abs(outputs.mean(axis=1) - expected).max(axis=1) < 1e-5
    assert close.mean() >= AGREEMENT
    assert (reader.act(observations) == model.predict(observations, deterministic=True)[0]).mean() >= AGREEMENT
    torch.testing.assert_close(reader(torch.as_tensor(observations)), torch.as_tensor(outputs.mean(axis=1)))


def load_policy_from(model: BaseAlgorithm, **options: object) -> NIRPolicy:
    """spikegym's reader of ``model`` exported to a NIR file."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "policy.nir"
        export_policy(model, path, **options)
        return load_policy(path)


@pytest.mark.parametrize("population_head", [None, 4])
@pytest.mark.parametrize("algo", ["sac", "td3"])
def test_an_actor_ends_before_its_squash_and_the_metadata_says_what_follows(
    algo: str, population_head: int | None
) -> None:
    import spikegym

    model = small_model(algo, "Pendulum-v1", population_head)
    graph = policy_graph(model)
    assert graph.metadata["action"] == SQUASHED_RULE
    np.testing.assert_array_equal(graph.metadata["action_low"], [-2.0])
    np.testing.assert_array_equal(graph.metadata["action_high"], [2.0])
    assert graph.nodes["head"].weight.shape == (1, model.policy.actor.features_extractor.features_dim)
    observations = record_observations(model, spikegym.make("Pendulum-v1"), 100, seed=0)
    reader = load_policy_from(model)
    actions = model.predict(observations, deterministic=True)[0]
    assert np.abs(reader.act(observations) - actions).max() < 1e-4


def test_a_population_head_is_a_block_affine_map() -> None:
    model = small_model("sac", "Pendulum-v1", population_head=3)
    decoder = model.policy.actor.mu
    weight = policy_graph(model).nodes["head"].weight
    features = model.policy.actor.features_extractor.features_dim
    np.testing.assert_allclose(weight[0, features - 3 :], decoder.weight.detach().numpy()[0], rtol=1e-7)
    np.testing.assert_array_equal(weight[0, : features - 3], 0.0)


def test_beta_one_is_an_if_or_on_request_a_long_lif() -> None:
    import spikegym

    model = small_model("ppo", "CartPole-v1", beta=1.0)
    weight = model.policy.pi_features_extractor.layers[0].weight.detach().double().numpy()
    as_if = policy_graph(model)
    assert isinstance(as_if.nodes["if0"], nir.IF)
    np.testing.assert_array_equal(as_if.nodes["if0"].r, 1 / DT)
    np.testing.assert_array_equal(as_if.nodes["fc0"].weight, weight)
    as_lif = policy_graph(model, integrator="lif")
    np.testing.assert_array_equal(as_lif.nodes["lif0"].tau, LONG_TAU)
    np.testing.assert_array_equal(as_lif.nodes["fc0"].weight, weight * 2.0**30)
    for options in ({}, {"integrator": "lif"}):
        observations = record_observations(model, spikegym.make("CartPole-v1"), 100, seed=0)
        actions = model.predict(observations, deterministic=True)[0]
        assert (load_policy_from(model, **options).act(observations) == actions).mean() >= AGREEMENT
    with pytest.raises(ValueError, match="integrator must be 'if' or 'lif', got 'iaf'"):
        policy_graph(model, integrator="iaf")


@pytest.mark.parametrize(
    ("spiking", "feature"),
    [
        ({"readout": "membrane_mean"}, "its read-out is 'membrane_mean'"),
        ({"readout": "last_membrane"}, "its read-out is 'last_membrane'"),
        ({"reset": "subtract"}, "its neurons reset by 'subtract' one sub-step after a spike"),
    ],
)
def test_a_policy_nir_cannot_carry_is_refused_naming_the_feature_and_the_option(
    spiking: dict[str, str], feature: str, tmp_path: Path
) -> None:
    model = small_model("ppo", "CartPole-v1", **spiking)
    with pytest.raises(ExportError, match="--nir-exact") as error:
        export_policy(model, tmp_path / "p.nir")
    assert feature in str(error.value)
    assert not (tmp_path / "p.nir").exists()


def test_a_head_with_hidden_layers_is_refused(tmp_path: Path) -> None:
    recipe = dataclasses.replace(tiny_recipe("ppo", "CartPole-v1"), net_arch=[8])
    recipe = dataclasses.replace(recipe, spiking={**recipe.spiking, **NIR_EXACT})
    model = build_model(recipe, make_env("CartPole-v1", 1, 0, resolve_encoder("CartPole-v1", None)), 0, True)
    with pytest.raises(ExportError, match=r"affine action head .* a Tanh layer"):
        export_policy(model, tmp_path / "p.nir")


@pytest.mark.parametrize(
    ("algo", "encoder", "spiking", "message"),
    [
        ("ppo", None, {}, "this is an ANN (MLP) run"),
        ("ppo", LEARNABLE, {}, "the learnable population encoder"),
        ("ppo", "population", {"readout": "membrane_mean", "reset": "zero"}, "its read-out is 'membrane_mean'"),
        ("sac", "population", {"readout": "spike_count"}, "its neurons reset by 'subtract'"),
        ("trpo", "population", {}, "NIR export supports the algorithms"),
    ],
)
def test_check_exportable_refuses_from_the_run_alone(
    algo: str, encoder: str | None, spiking: dict[str, str], message: str
) -> None:
    recipe = dataclasses.replace(tiny_recipe("ppo", "CartPole-v1"), spiking=spiking)
    with pytest.raises(ExportError, match="NIR export") as error:
        check_exportable(algo, encoder, recipe)
    assert message in str(error.value)


def test_check_exportable_passes_a_nir_exact_recipe_and_a_population_head() -> None:
    check_exportable("ppo", "population", dataclasses.replace(tiny_recipe("ppo", "CartPole-v1"), spiking=NIR_EXACT))
    with_population_head = dataclasses.replace(tiny_recipe("sac", "Pendulum-v1", 4), spiking={"reset": "zero"})
    check_exportable("sac", "population", with_population_head)


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "policy.nir"
    target.write_text("the user's file")
    with pytest.raises(FileExistsError, match=r"policy\.nir exists"):
        export_policy(small_model("ppo", "CartPole-v1"), target)
    assert target.read_text() == "the user's file"
