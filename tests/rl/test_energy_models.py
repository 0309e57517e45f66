"""Energy models: the presets' figures are their sources' tables, custom models round-trip through YAML, bad
models are refused by name, and the default model prices what it always did."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from spikegym.rl.energy import DEFAULT_LEAVES_OUT, EnergyModel, decision_cost, dense_cost, spiking_cost
from spikegym.rl.energy_models import PRESETS, energy_model, load_energy_model, save_energy_model

# Horowitz, ISSCC 2014, 45 nm (pJ): add and multiply of fp32, fp16, int8; an 8 KB SRAM's 64-bit read is 10 pJ.
# Davies et al., IEEE Micro 2018 (Loihi): 23.6 pJ per synaptic op, 81 pJ per neuron update.
# Tang et al., Frontiers in Neuroscience 2023, Table 3 (SpiNNaker 2, citing Höppner et al. 2021): 10 pJ per SOp.
TABLES = {
    "horowitz-45nm-fp32": {"add": 0.9, "mult": 3.7, "read": 10.0 * 32 / 64},
    "horowitz-45nm-fp16": {"add": 0.4, "mult": 1.1, "read": 10.0 * 16 / 64},
    "horowitz-45nm-int8": {"add": 0.03, "mult": 0.2, "read": 10.0 * 8 / 64},
}
SOURCES = {
    "horowitz": ("Horowitz", "ISSCC 2014", "10.1109/ISSCC.2014.6757323"),
    "loihi": ("Davies", "IEEE Micro"),
    "spinnaker2": ("Tang", "10.3389/fnins.2023.1187252", "Höppner", "arXiv:2103.08392"),
}
CHIPS = ("loihi", "spinnaker2")
energies = st.floats(min_value=0.0, max_value=1e4, allow_nan=False)


def test_the_presets_are_exactly_these() -> None:
    assert sorted(PRESETS) == sorted([*TABLES, *CHIPS])


@pytest.mark.parametrize("name", sorted(TABLES))
@pytest.mark.parametrize("memory", [False, True])
def test_each_horowitz_preset_prices_its_operations_from_the_table(name: str, memory: bool) -> None:
    table, model = TABLES[name], energy_model(name, memory)
    assert model.e_ac_pj == pytest.approx(table["add"], abs=1e-12)
    assert model.e_mac_pj == pytest.approx(table["mult"] + table["add"], abs=1e-12)
    assert model.e_neuron_pj == pytest.approx(table["mult"] + 2 * table["add"], abs=1e-12)  # leak, input, compare
    assert model.e_memory_pj == (pytest.approx(table["read"]) if memory else 0.0)
    assert model.name == name


def test_the_loihi_preset_is_davies_et_al_with_horowitz_macs() -> None:
    model = energy_model("loihi")
    assert (model.e_ac_pj, model.e_neuron_pj, model.e_memory_pj) == (23.6, 81.0, 0.0)
    assert model.e_mac_pj == pytest.approx(3.7 + 0.9)
    assert energy_model("loihi", memory=True).e_memory_pj == 0.0  # the measured op includes the weight read


@pytest.mark.parametrize("memory", [False, True])
def test_the_spinnaker2_preset_is_tang_et_al_and_says_it_prices_no_neuron_update(memory: bool) -> None:
    model = energy_model("spinnaker2", memory)
    assert (model.e_ac_pj, model.e_neuron_pj, model.e_memory_pj) == (10.0, 0.0, 0.0)
    assert model.e_mac_pj == pytest.approx(3.7 + 0.9)
    assert model.leaves_out[0].startswith("neuron updates: no per-update figure")
    assert "leaves out: neuron updates" in model.describe()[2]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_preset_cites_its_source_and_says_what_it_leaves_out(name: str) -> None:
    model = energy_model(name)
    for citation in SOURCES[name if name in CHIPS else "horowitz"]:
        assert citation in model.source
    assert any("encoder" in item for item in model.leaves_out)
    lines = model.describe()
    assert lines[0].startswith(f"energy model {name}: ") and lines[1].startswith("  source: ")
    assert lines[2].startswith("  leaves out: ")
    if name not in CHIPS:
        assert any("--memory" in item for item in model.leaves_out)
        assert not any("--memory" in item for item in energy_model(name, memory=True).leaves_out)


def test_the_default_model_prices_acs_and_macs_only_as_before() -> None:
    model = EnergyModel()
    assert (model.e_ac_pj, model.e_mac_pj, model.e_neuron_pj, model.e_memory_pj) == (0.9, 4.6, 0.0, 0.0)
    assert model.leaves_out == DEFAULT_LEAVES_OUT
    cost = spiking_cost([nn.Linear(10, 4), nn.Linear(4, 2)], [6, 3], head_macs=2, steps=8)
    assert cost.neuron_updates == 8 * 6 and cost.memory_accesses == 30 + 2
    assert cost.energy_pj == pytest.approx(30 * 0.9 + 2 * 4.6)  # neuron updates and memory cost nothing here
    assert dense_cost([4, 3]).energy_pj == pytest.approx(12 * 4.6)


@given(energies, energies, energies, energies, st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
def test_a_decision_costs_the_sum_of_its_operations(
    ac: float, mac: float, neuron: float, memory: float, ops: int, macs: int, updates: int
) -> None:
    model = EnergyModel(ac, mac, neuron, memory, name="m")
    cost = decision_cost(ops, macs, model, updates)
    expected = ops * ac + macs * mac + updates * neuron + (ops + macs) * memory
    assert math.isclose(cost.energy_pj, expected, rel_tol=1e-12, abs_tol=1e-9)
    assert cost.memory_accesses == ops + macs


@given(energies, energies, energies, energies, st.text(min_size=1).filter(str.strip), st.lists(st.text()))
def test_a_custom_model_round_trips_through_yaml(
    ac: float, mac: float, neuron: float, memory: float, name: str, leaves_out: list[str]
) -> None:
    import tempfile

    model = EnergyModel(ac, mac, neuron, memory, name=name, source="a datasheet", leaves_out=tuple(leaves_out))
    with tempfile.TemporaryDirectory() as folder:
        assert load_energy_model(save_energy_model(model, Path(folder) / "m.yaml")) == model


def test_a_yaml_model_loads_by_path_with_defaults_for_what_it_omits(tmp_path: Path) -> None:
    path = tmp_path / "chip.yml"
    path.write_text("name: chip\ne_ac_pj: 2\ne_mac_pj: 3.5\n")
    model = energy_model(str(path))
    assert (model.name, model.e_ac_pj, model.e_mac_pj, model.e_neuron_pj, model.e_memory_pj) == (
        "chip", 2.0, 3.5, 0.0, 0.0,
    )  # fmt: skip
    assert model.source == f"custom model from {path}" and model.leaves_out == ()


def test_save_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("mine")
    with pytest.raises(FileExistsError, match="exists"):
        save_energy_model(EnergyModel(), path)
    assert path.read_text() == "mine"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: [unclosed\n", "is not valid YAML"),
        ("- 1\n- 2\n", "must hold a mapping of ['name', 'e_ac_pj'"),
        ("name: x\ne_ac_pj: 1\ne_mac_pj: 1\ne_sop_pj: 2\n", "unknown keys ['e_sop_pj']; allowed: ['name', "),
        ("name: x\ne_ac_pj: 1\n", "missing keys ['e_mac_pj']"),
        ("name: x\ne_ac_pj: -0.5\ne_mac_pj: 1\n", "e_ac_pj must be a finite energy >= 0 (pJ), got -0.5"),
        ("name: x\ne_ac_pj: 1\ne_mac_pj: .nan\n", "e_mac_pj must be a finite energy >= 0 (pJ), got nan"),
        (
            "name: x\ne_ac_pj: 1\ne_mac_pj: 1\ne_neuron_pj: yes\n",
            "e_neuron_pj must be a finite energy >= 0 (pJ), got True",
        ),
        ("name: x\ne_ac_pj: '1'\ne_mac_pj: 1\n", "e_ac_pj must be a finite energy >= 0 (pJ), got '1'"),
        ("name: ''\ne_ac_pj: 1\ne_mac_pj: 1\n", "name must be a non-empty string, got ''"),
        ("name: x\ne_ac_pj: 1\ne_mac_pj: 1\nleaves_out: static power\n", "leaves_out must be a list of strings"),
    ],
)
def test_a_malformed_yaml_model_is_refused_naming_the_file_key_and_value(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as error:
        energy_model(str(path))
    assert str(path) in str(error.value) and message in str(error.value)


def test_an_unknown_name_or_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"energy model 'spinnaker' is neither a preset \(one of \['horowitz"):
        energy_model("spinnaker")
    with pytest.raises(ValueError, match="does not exist"):
        energy_model(str(tmp_path / "absent.yaml"))


def test_a_saved_model_is_plain_yaml(tmp_path: Path) -> None:
    data = yaml.safe_load(save_energy_model(energy_model("loihi"), tmp_path / "l.yaml").read_text())
    assert data["e_ac_pj"] == 23.6 and data["name"] == "loihi" and isinstance(data["leaves_out"], list)
