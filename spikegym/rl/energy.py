"""Operation counts and an energy estimate per decision, spiking vs conventional networks.

The model is the usual one for comparing SNNs with ANNs (as in PopSAN and the
spike-encoding literature): a synaptic operation of a spiking layer is an
accumulate (AC), done only when a spike arrives, so a layer with fan-out
``n_out`` costs ``spikes_in x n_out`` ACs per decision; a dense layer costs
``n_in x n_out`` multiply-accumulates (MAC) whatever its input. A neuron update
is one neuron's membrane at one sub-step (``T x`` the spiking neurons per
decision: a clock-driven chip updates every membrane every step), and a memory
access is one weight read per AC and per MAC. The default :class:`EnergyModel`
prices ACs and MACs only, at 32-bit floating point in 45 nm CMOS (Horowitz,
ISSCC 2014): 0.9 pJ per AC, 4.6 pJ per MAC; neuron updates, memory access and
the encoder are not counted, and the non-spiking head after the spiking layers
is counted as MACs. :mod:`spikegym.rl.energy_models` holds presets with their
sources (Horowitz at three precisions, Loihi) that price neuron updates too,
and reads custom models from YAML.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields

from torch import nn

E_AC_PJ = 0.9
E_MAC_PJ = 4.6
ENERGIES = ("e_ac_pj", "e_mac_pj", "e_neuron_pj", "e_memory_pj")
"""The per-operation energies of an :class:`EnergyModel`, in picojoules."""
DEFAULT_NAME = "ac-mac-45nm-fp32"
DEFAULT_SOURCE = (
    "M. Horowitz, 'Computing's energy problem (and what we can do about it)', ISSCC 2014, "
    "doi:10.1109/ISSCC.2014.6757323: 45 nm, 0.9 V, 32-bit float add 0.9 pJ, multiply 3.7 pJ"
)
DEFAULT_LEAVES_OUT = (
    "neuron updates (membrane leak, integration, threshold and reset)",
    "memory access (weights, membranes, activations)",
    "the encoder that turns observations into spikes",
    "the ANN's activation functions",
    "control, spike routing and static power",
)


@dataclass(frozen=True)
class EnergyModel:
    """Energy per operation, in picojoules, with what the model is and what it leaves out.

    :param e_ac_pj: per accumulate (one spike arriving at one synapse: a synaptic operation).
    :param e_mac_pj: per multiply-accumulate (one weight of a dense layer).
    :param e_neuron_pj: per neuron update (one neuron's membrane at one sub-step).
    :param e_memory_pj: per memory access (one weight read per AC and per MAC).
    :param name: what the model is called in reports.
    :param source: where its figures come from.
    :param leaves_out: what it does not count.

    >>> EnergyModel().e_mac_pj, EnergyModel().name
    (4.6, 'ac-mac-45nm-fp32')
    >>> EnergyModel(e_ac_pj=-1.0)
    Traceback (most recent call last):
    ...
    ValueError: e_ac_pj must be a finite energy >= 0 (pJ), got -1.0
    """

    e_ac_pj: float = E_AC_PJ
    e_mac_pj: float = E_MAC_PJ
    e_neuron_pj: float = 0.0
    e_memory_pj: float = 0.0
    name: str = DEFAULT_NAME
    source: str = DEFAULT_SOURCE
    leaves_out: tuple[str, ...] = field(default=DEFAULT_LEAVES_OUT)

    def __post_init__(self) -> None:
        for name in ENERGIES:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite energy >= 0 (pJ), got {value!r}")
            object.__setattr__(self, name, float(value))
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.source, str):
            raise ValueError(f"source must be a string, got {self.source!r}")
        leaves_out = self.leaves_out
        if isinstance(leaves_out, str) or not all(isinstance(item, str) for item in leaves_out):
            raise ValueError(f"leaves_out must be a list of strings, got {leaves_out!r}")
        object.__setattr__(self, "leaves_out", tuple(leaves_out))

    def as_dict(self) -> dict[str, object]:
        """The model as plain values (YAML-ready; :func:`~spikegym.rl.energy_models.load_energy_model` reads it).

        >>> EnergyModel().as_dict()["e_ac_pj"]
        0.9
        """
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["leaves_out"] = list(self.leaves_out)
        return values

    def describe(self) -> list[str]:
        """Lines for a person: the model's name and figures, its source, and what it leaves out.

        >>> EnergyModel().describe()[0]
        'energy model ac-mac-45nm-fp32: 0.9 pJ per synaptic op (AC), 4.6 pJ per MAC'
        """
        figures = [f"{self.e_ac_pj:g} pJ per synaptic op (AC)", f"{self.e_mac_pj:g} pJ per MAC"]
        if self.e_neuron_pj:
            figures.append(f"{self.e_neuron_pj:g} pJ per neuron update")
        if self.e_memory_pj:
            figures.append(f"{self.e_memory_pj:g} pJ per memory access (a weight read per AC and MAC)")
        lines = [f"energy model {self.name}: {', '.join(figures)}"]
        if self.source:
            lines.append(f"  source: {self.source}")
        if self.leaves_out:
            lines.append(f"  leaves out: {'; '.join(self.leaves_out)}")
        return lines


@dataclass(frozen=True)
class DecisionCost:
    """Operations and energy of one decision (one forward pass of the acting network).

    :param synaptic_ops: accumulates triggered by spikes.
    :param macs: multiply-accumulates of dense layers.
    :param energy_pj: ``synaptic_ops * e_ac + macs * e_mac + neuron_updates * e_neuron
        + memory_accesses * e_memory``.
    :param neuron_updates: membrane updates (neurons x sub-steps).
    :param memory_accesses: weight reads (one per synaptic op and per MAC).
    """

    synaptic_ops: float
    macs: float
    energy_pj: float
    neuron_updates: float = 0.0
    memory_accesses: float = 0.0


def decision_cost(
    synaptic_ops: float, macs: float, model: EnergyModel | None = None, neuron_updates: float = 0.0
) -> DecisionCost:
    """The cost of ``synaptic_ops`` ACs, ``macs`` MACs and ``neuron_updates`` membrane updates under ``model``,
    with one weight read per AC and per MAC.

    >>> decision_cost(10, 2, EnergyModel(1.0, 5.0, e_neuron_pj=0.5), neuron_updates=4).energy_pj
    22.0
    """
    energies = model or EnergyModel()
    memory = synaptic_ops + macs
    energy = (
        synaptic_ops * energies.e_ac_pj
        + macs * energies.e_mac_pj
        + neuron_updates * energies.e_neuron_pj
        + memory * energies.e_memory_pj
    )
    return DecisionCost(synaptic_ops, macs, energy, neuron_updates, memory)


def linear_macs(modules: Iterable[nn.Module]) -> int:
    """Multiply-accumulates of the dense layers in ``modules`` per step: every leaf with a 2-d ``weight``
    (``nn.Linear``, a population decoder) costs one MAC per weight, an ``nn.LSTM`` one per weight of its
    input and recurrent matrices (gates' element-wise products not counted).

    >>> linear_macs([nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))])
    18
    >>> linear_macs([nn.LSTM(4, 8)])  # 4 gates x 8 units x (4 inputs + 8 recurrent)
    384
    """
    return sum(_macs(m) for module in modules for m in module.modules() if not list(m.children()))


def _macs(leaf: nn.Module) -> int:
    if isinstance(leaf, nn.LSTM):
        return sum(weight.numel() for name, weight in leaf.named_parameters() if name.startswith("weight_"))
    weight = getattr(leaf, "weight", None)
    return weight.numel() if isinstance(weight, nn.Parameter) and weight.dim() == 2 else 0


def spiking_cost(
    layers: Sequence[nn.Linear],
    spikes_in: Sequence[float],
    head_macs: float,
    model: EnergyModel | None = None,
    steps: int = 0,
) -> DecisionCost:
    """The cost of a spiking network whose layer ``l`` receives ``spikes_in[l]`` spikes per decision.

    ``spikes_in[0]`` are the input spikes (over all ``T`` sub-steps),
    ``spikes_in[l]`` for ``l >= 1`` the spikes of spiking layer ``l - 1``. With
    ``steps`` (``T``), every neuron of every layer updates its membrane once per sub-step.

    >>> cost = spiking_cost([nn.Linear(10, 4), nn.Linear(4, 2)], [6, 3], head_macs=2 * 1)
    >>> cost.synaptic_ops, cost.macs, round(cost.energy_pj, 2)
    (30.0, 2, 36.2)
    >>> spiking_cost([nn.Linear(10, 4), nn.Linear(4, 2)], [6, 3], head_macs=2, steps=8).neuron_updates
    48
    """
    ops = float(sum(count * layer.out_features for count, layer in zip(spikes_in, layers, strict=True)))
    neurons = steps * sum(layer.out_features for layer in layers)
    return decision_cost(ops, head_macs, model, neurons)


def dense_cost(sizes: Sequence[int], model: EnergyModel | None = None) -> DecisionCost:
    """The cost of an MLP with layer sizes ``sizes`` (inputs first, outputs last), once per decision.

    >>> dense_cost([4, 64, 64, 2]).macs
    4480
    """
    return decision_cost(0.0, sum(a * b for a, b in itertools.pairwise(sizes)), model)
