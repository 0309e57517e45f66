"""The package's layers import one way, with no circles, and using a layer pulls in no heavier one.

The import graph comes from grimp (import-linter's graph builder): every
``import`` statement counts, those inside functions and ``TYPE_CHECKING``
blocks included.
"""

from __future__ import annotations

import graphlib
import json
import subprocess
import sys

import grimp
import pytest

HEAVY = ("stable_baselines3", "sb3_contrib", "optuna", "snntorch", "nir")
"""Libraries only the tuning and rl layers may import."""

ALLOWED_EXTERNAL = {
    "spikegym.encoders": {"numpy", "numba", "torch"},
    "spikegym.envs": {"numpy", "numba", "torch", "gymnasium", "yaml", "tqdm"},
}
"""The third-party libraries the lower layers may import (the standard library aside)."""


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("spikegym", include_external_packages=True, cache_dir=None)


def internal(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    """Each spikegym module and the spikegym modules it imports."""
    return {
        module: {m for m in graph.find_modules_directly_imported_by(module) if m.split(".")[0] == "spikegym"}
        for module in graph.modules
        if module.split(".")[0] == "spikegym"
    }


def import_circle(graph: grimp.ImportGraph) -> list[str]:
    """A chain of spikegym modules that imports itself, or ``[]``."""
    try:
        graphlib.TopologicalSorter(internal(graph)).prepare()
    except graphlib.CycleError as error:
        return list(reversed(error.args[1]))
    return []


def upward_imports(graph: grimp.ImportGraph) -> list[str]:
    """Imports of a layer above (cli > tuning, rl > envs > encoders; tuning and rl independent)."""
    layers = ["cli", grimp.Layer("tuning", "rl", independent=True), "envs", "encoders"]
    illegal = graph.find_illegal_dependencies_for_layers(layers=layers, containers={"spikegym"})
    return [f"{d.importer} -> {d.imported}: {[route.middle for route in d.routes]}" for d in illegal]


def test_the_package_has_no_import_circles(graph: grimp.ImportGraph) -> None:
    assert import_circle(graph) == []


def test_layers_import_only_the_layers_below(graph: grimp.ImportGraph) -> None:
    assert upward_imports(graph) == []


def test_the_checks_catch_an_upward_import_and_its_circle() -> None:
    graph = grimp.build_graph("spikegym", cache_dir=None)
    graph.add_import(importer="spikegym.encoders.base", imported="spikegym.envs.wrappers")
    circle = import_circle(graph)
    assert circle[0] == circle[-1] and "spikegym.encoders.base" in circle and "spikegym.envs.wrappers" in circle
    assert any(line.startswith("spikegym.encoders -> spikegym.envs") for line in upward_imports(graph))
    graph.add_import(importer="spikegym.rl.replay", imported="spikegym.tuning.objectives")
    assert any(line.startswith("spikegym.rl -> spikegym.tuning") for line in upward_imports(graph))


def test_the_top_package_and_the_version_sit_on_the_gymnasium_side(graph: grimp.ImportGraph) -> None:
    imports = internal(graph)
    assert imports["spikegym"] == {"spikegym._version", "spikegym.envs"}
    assert imports["spikegym._version"] == set()


@pytest.mark.parametrize("layer", sorted(ALLOWED_EXTERNAL))
def test_lower_layers_import_only_their_libraries(graph: grimp.ImportGraph, layer: str) -> None:
    modules = {layer} | graph.find_descendants(layer)
    external = {
        imported.split(".")[0]
        for module in modules
        for imported in graph.find_modules_directly_imported_by(module)
        if imported.split(".")[0] != "spikegym"
    }
    assert external - set(sys.stdlib_module_names) <= ALLOWED_EXTERNAL[layer]


def loaded_after(code: str) -> dict[str, bool]:
    """Which of gymnasium, torch and :data:`HEAVY` a fresh interpreter has imported after running ``code``."""
    names = ("gymnasium", "torch", *HEAVY)
    report = f"import json, sys; print(json.dumps({{n: n in sys.modules for n in {names!r}}}))"
    result = subprocess.run([sys.executable, "-c", f"{code}\n{report}"], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.splitlines()[-1])


def test_importing_spikegym_imports_nothing_heavy() -> None:
    loaded = loaded_after("import spikegym; spikegym.__version__")
    assert not any(loaded.values()), loaded


def test_the_encoders_run_without_gymnasium() -> None:
    loaded = loaded_after(
        "import torch\nfrom spikegym.encoders import make, names\n"
        "for name in names(): make(name, 3).reconstruct(torch.rand(16, 3))"
    )
    assert loaded["torch"]
    assert not loaded["gymnasium"] and not any(loaded[name] for name in HEAVY), loaded


def test_the_wrappers_run_without_sb3_optuna_or_snntorch() -> None:
    loaded = loaded_after(
        "import gymnasium as gym\nimport spikegym\n"
        "env = spikegym.make('CartPole-v1'); env.reset(seed=0); env.step(0)\n"
        "envs = spikegym.make_vec('CartPole-v1', 2, vectorization_mode='sync'); envs.reset(seed=0); envs.step([0, 1])\n"
        "spikegym.SpikeObservationWrapper(gym.make('Pendulum-v1'), 'sf').reset(seed=0)"
    )
    assert loaded["gymnasium"]
    assert not any(loaded[name] for name in HEAVY), loaded
