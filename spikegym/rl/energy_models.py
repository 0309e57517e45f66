"""Energy models with their sources: presets (Horowitz 45 nm at three precisions, Loihi, SpiNNaker 2) and custom
YAML.

Each preset prices the four operations of :class:`~spikegym.rl.energy.EnergyModel`
(AC, MAC, neuron update, memory access) from a published table, says where
each figure comes from and what the model leaves out; ``docs/energy.md``
describes them. ``spikegym replay RUN --energy-model NAME`` (or a YAML file)
picks one; ``--memory`` adds a preset's memory-access term.

- ``horowitz-45nm-fp32``, ``-fp16``, ``-int8``: Horowitz's 45 nm table (ISSCC 2014). An AC is one add, a MAC
  a multiply and an add, a neuron update ``v <- beta v + I`` then ``v > threshold`` a multiply and two adds;
  the memory term reads one weight from an 8 KB SRAM per AC and per MAC (10 pJ per 64-bit read, scaled to the
  weight's width).
- ``loihi``: Davies et al. (IEEE Micro 2018): 23.6 pJ per synaptic op, 81 pJ per neuron update; the dense
  head and the ANN rows, which Loihi's neuromorphic cores do not run, at Horowitz's 45 nm fp32 MAC.
- ``spinnaker2``: 10 pJ per synaptic op, as Tang et al. (Frontiers in Neuroscience 2023, Table 3) quote
  Höppner et al. (2021); no per-neuron-update figure is published in a source we could check, so neuron
  updates are not priced (and the model says so); MACs at Horowitz's 45 nm fp32 MAC as for Loihi.

>>> sorted(PRESETS)
['horowitz-45nm-fp16', 'horowitz-45nm-fp32', 'horowitz-45nm-int8', 'loihi', 'spinnaker2']
>>> energy_model("horowitz-45nm-int8").e_mac_pj  # multiply 0.2 + add 0.03
0.23
"""

from __future__ import annotations

from pathlib import Path

import yaml

from spikegym.rl.energy import ENERGIES, EnergyModel

HOROWITZ_2014 = (
    "M. Horowitz, 'Computing's energy problem (and what we can do about it)', IEEE ISSCC 2014, pp. 10-14, "
    "doi:10.1109/ISSCC.2014.6757323: energy per operation, 45 nm, 0.9 V"
)
HOROWITZ_PJ: dict[str, dict[str, float]] = {
    "fp32": {"add": 0.9, "mult": 3.7, "bits": 32},
    "fp16": {"add": 0.4, "mult": 1.1, "bits": 16},
    "int8": {"add": 0.03, "mult": 0.2, "bits": 8},
}
"""Horowitz (ISSCC 2014), 45 nm: energy of an add and a multiply (pJ) of 32-bit and 16-bit floats and 8-bit
integers, and the operand width (bits)."""
HOROWITZ_SRAM_8KB_64BIT_PJ = 10.0
"""Horowitz (ISSCC 2014), 45 nm: one 64-bit read of an 8 KB SRAM (the smallest memory of his table)."""
DAVIES_2018 = (
    "M. Davies et al., 'Loihi: A Neuromorphic Manycore Processor with On-Chip Learning', IEEE Micro 38(1), "
    "pp. 82-99, 2018, doi:10.1109/MM.2018.112130359: energy per operation measured on the 14 nm chip"
)
LOIHI_SYNAPTIC_OP_PJ = 23.6
"""Davies et al. (2018): energy of a synaptic spike operation (their minimum)."""
LOIHI_NEURON_UPDATE_PJ = 81.0
"""Davies et al. (2018): energy of an (active) neuron update."""
TANG_2023 = (
    "G. Tang et al., 'SENECA: building a fully digital neuromorphic processor, design trade-offs and challenges', "
    "Frontiers in Neuroscience 17:1187252, 2023, doi:10.3389/fnins.2023.1187252, Table 3 (energy per synaptic "
    "operation, 'only mentioned for high-level comparison'), citing S. Höppner et al., 'The SpiNNaker 2 "
    "Processing Element Architecture for Hybrid Digital Neuromorphic Computing', arXiv:2103.08392, 2021"
)
SPINNAKER2_SYNAPTIC_OP_PJ = 10.0
"""Tang et al. (2023), Table 3, for SpiNNaker 2 (Höppner et al. 2021): energy per synaptic operation; no
operating point (voltage, clock) is given."""

_COMMON_LEAVES_OUT = (
    "the encoder that turns observations into spikes",
    "the ANN's activation functions (tanh, ReLU)",
    "the membrane reset after a spike",
)


def _horowitz(precision: str, memory: bool) -> EnergyModel:
    table = HOROWITZ_PJ[precision]
    add, mult, bits = table["add"], table["mult"], int(table["bits"])
    read = HOROWITZ_SRAM_8KB_64BIT_PJ * bits / 64
    memory_note = (
        f"memory: one {bits}-bit weight read per AC and per MAC from an 8 KB SRAM at {read:g} pJ (Horowitz's "
        f"{HOROWITZ_SRAM_8KB_64BIT_PJ:g} pJ per 64-bit read, scaled to {bits} bits)"
    )
    memory_left_out = (
        "membrane and activation reads and writes, larger memories and DRAM"
        if memory
        else "memory access (weights, membranes, activations): add it with --memory"
    )
    leaves_out = (
        memory_left_out,
        *_COMMON_LEAVES_OUT,
        "control, clocking, spike routing and static (leakage) power",
    )
    return EnergyModel(
        e_ac_pj=add,
        e_mac_pj=round(mult + add, 6),
        e_neuron_pj=round(mult + 2 * add, 6),
        e_memory_pj=read if memory else 0.0,
        name=f"horowitz-45nm-{precision}",
        source=f"{HOROWITZ_2014}; {precision} add {add:g} pJ, multiply {mult:g} pJ; AC = add, MAC = multiply + add, "
        "neuron update = multiply (leak) + add (input) + add (threshold compare)"
        + (f"; {memory_note}" if memory else ""),
        leaves_out=leaves_out,
    )


HOROWITZ_FP32_MAC_PJ = round(HOROWITZ_PJ["fp32"]["mult"] + HOROWITZ_PJ["fp32"]["add"], 6)
"""A 45 nm fp32 multiply and add: what the chip presets charge for the MACs their neuromorphic cores do not run."""


def _chip(
    name: str, synaptic_op_pj: float, neuron_pj: float, source: str, memory: bool, leaves_out: tuple[str, ...]
) -> EnergyModel:
    """A neuromorphic chip's preset: its synaptic op (the weight read included, so ``memory`` adds nothing) and
    neuron update, ``source`` saying where they come from; MACs (the dense head, the ANN rows) at
    :data:`HOROWITZ_FP32_MAC_PJ`."""
    return EnergyModel(
        e_ac_pj=synaptic_op_pj,
        e_mac_pj=HOROWITZ_FP32_MAC_PJ,
        e_neuron_pj=neuron_pj,
        e_memory_pj=0.0,
        name=name,
        source=source.format(memory=" (so --memory adds nothing)" if memory else "", mac=HOROWITZ_FP32_MAC_PJ),
        leaves_out=leaves_out,
    )


def _loihi(memory: bool) -> EnergyModel:
    return _chip(
        "loihi",
        LOIHI_SYNAPTIC_OP_PJ,
        LOIHI_NEURON_UPDATE_PJ,
        f"{DAVIES_2018}: {LOIHI_SYNAPTIC_OP_PJ:g} pJ per synaptic op (their minimum), "
        f"{LOIHI_NEURON_UPDATE_PJ:g} pJ per active neuron update, every neuron counted active at every sub-step; "
        "the weight read is part of the measured synaptic op{memory}; MACs (the dense head, the ANN rows) at "
        "Horowitz 45 nm fp32 ({mac:g} pJ): Loihi's neuromorphic cores run no dense layers",
        memory,
        (
            *_COMMON_LEAVES_OUT,
            "spike messages between cores and the per-time-step synchronisation",
            "static power, the embedded x86 cores and the host",
        ),
    )


def _spinnaker2(memory: bool) -> EnergyModel:
    return _chip(
        "spinnaker2",
        SPINNAKER2_SYNAPTIC_OP_PJ,
        0.0,
        f"{TANG_2023}: {SPINNAKER2_SYNAPTIC_OP_PJ:g} pJ per synaptic op, taken to include the weight read{{memory}}; "
        "MACs (the dense head, the ANN rows) at Horowitz 45 nm fp32 ({mac:g} pJ), as for Loihi",
        memory,
        (
            "neuron updates: no per-update figure of SpiNNaker 2 in a source we could check (0 pJ here; "
            "a YAML model can add one)",
            *_COMMON_LEAVES_OUT,
            "the operating point (SpiNNaker 2 scales voltage and clock per core), spike routing between cores",
            "static power and the host",
        ),
    )


PRESETS = {
    "horowitz-45nm-fp32": lambda memory: _horowitz("fp32", memory),
    "horowitz-45nm-fp16": lambda memory: _horowitz("fp16", memory),
    "horowitz-45nm-int8": lambda memory: _horowitz("int8", memory),
    "loihi": _loihi,
    "spinnaker2": _spinnaker2,
}
"""The preset energy models by name: each a function of whether to count memory access."""
YAML_KEYS = ("name", *ENERGIES, "source", "leaves_out")
REQUIRED_KEYS = ("name", "e_ac_pj", "e_mac_pj")


def energy_model(name: str, memory: bool = False) -> EnergyModel:
    """The preset ``name`` (with its memory-access term if ``memory``), or the custom model in the YAML file
    ``name`` (its own ``e_memory_pj``).

    >>> energy_model("loihi").e_neuron_pj
    81.0
    >>> energy_model("truenorth")
    Traceback (most recent call last):
    ...
    ValueError: energy model 'truenorth' is neither a preset (one of ['horowitz-45nm-fp16', \
'horowitz-45nm-fp32', 'horowitz-45nm-int8', 'loihi', 'spinnaker2']) nor a .yaml/.yml file of a custom model
    """
    if name in PRESETS:
        return PRESETS[name](memory)
    if Path(name).suffix.lower() in (".yaml", ".yml"):
        return load_energy_model(name)
    raise ValueError(
        f"energy model {name!r} is neither a preset (one of {sorted(PRESETS)}) nor a .yaml/.yml file of a custom model"
    )


def load_energy_model(path: str | Path) -> EnergyModel:
    """Read a custom model from a YAML mapping with ``name``, ``e_ac_pj`` and ``e_mac_pj`` (pJ), and optionally
    ``e_neuron_pj``, ``e_memory_pj`` (0 if absent), ``source`` and ``leaves_out`` (a list of strings).

    A file that is missing, not YAML, not such a mapping, or that holds an unknown key or a value that is not a
    finite energy >= 0 is refused with a ``ValueError`` naming the file, the key and the value.
    """
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"energy model file {str(file)!r} does not exist (or is not a file)")
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as error:
        raise ValueError(f"energy model file {str(file)!r} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"energy model file {str(file)!r} must hold a mapping of {list(YAML_KEYS)}, got {data!r}")
    unknown = sorted(str(key) for key in data if key not in YAML_KEYS)
    if unknown:
        raise ValueError(f"energy model file {str(file)!r}: unknown keys {unknown}; allowed: {list(YAML_KEYS)}")
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        raise ValueError(f"energy model file {str(file)!r}: missing keys {missing} (required: {list(REQUIRED_KEYS)})")
    values = {"source": f"custom model from {file}", "leaves_out": (), **data}
    try:
        return EnergyModel(**{key: values[key] for key in YAML_KEYS if key in values})
    except ValueError as error:
        raise ValueError(f"energy model file {str(file)!r}: {error}") from None


def save_energy_model(model: EnergyModel, path: str | Path) -> Path:
    """Write ``model`` as YAML that :func:`load_energy_model` reads back to an equal model; never overwrites.

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> load_energy_model(save_energy_model(energy_model("loihi"), f"{folder}/loihi.yaml")) == energy_model("loihi")
    True
    """
    file = Path(path)
    if file.exists():
        raise FileExistsError(f"{file} exists; choose another path or delete it first")
    file.write_text(yaml.safe_dump(model.as_dict(), sort_keys=False, width=120))
    return file
