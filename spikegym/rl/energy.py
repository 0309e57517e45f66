"""Operation counts and an energy estimate per decision, spiking vs conventional networks.

The model is the usual one for comparing SNNs with ANNs (as in PopSAN and the
spike-encoding literature): a synaptic operation of a spiking layer is an
accumulate (AC), done only when a spike arrives, so a layer with fan-out
``n_out`` costs ``spikes_in x n_out`` ACs per decision; a dense layer costs
``n_in x n_out`` multiply-accumulates (MAC) whatever its input. Energies per
operation default to 32-bit floating point in 45 nm CMOS (Horowitz, ISSCC
2014): 0.9 pJ per AC, 4.6 pJ per MAC. Membrane leaks and threshold checks,
memory access and the encoder are not counted; the non-spiking head after the
spiking layers is counted as MACs.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from torch import nn

E_AC_PJ = 0.9
E_MAC_PJ = 4.6


@dataclass(frozen=True)
class EnergyModel:
    """Energy per operation, in picojoules."""

    e_ac_pj: float = E_AC_PJ
    e_mac_pj: float = E_MAC_PJ


@dataclass(frozen=True)
class DecisionCost:
    """Operations and energy of one decision (one forward pass of the acting network).

    :param synaptic_ops: accumulates triggered by spikes.
    :param macs: multiply-accumulates of dense layers.
    :param energy_pj: ``synaptic_ops * e_ac + macs * e_mac``.
    """

    synaptic_ops: float
    macs: float
    energy_pj: float


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
    layers: Sequence[nn.Linear], spikes_in: Sequence[float], head_macs: float, model: EnergyModel | None = None
) -> DecisionCost:
    """The cost of a spiking network whose layer ``l`` receives ``spikes_in[l]`` spikes per decision.

    ``spikes_in[0]`` are the input spikes (over all ``T`` sub-steps),
    ``spikes_in[l]`` for ``l >= 1`` the spikes of spiking layer ``l - 1``.

    >>> cost = spiking_cost([nn.Linear(10, 4), nn.Linear(4, 2)], [6, 3], head_macs=2 * 1)
    >>> cost.synaptic_ops, cost.macs, round(cost.energy_pj, 2)
    (30.0, 2, 36.2)
    """
    energies = model or EnergyModel()
    ops = float(sum(count * layer.out_features for count, layer in zip(spikes_in, layers, strict=True)))
    return DecisionCost(ops, head_macs, ops * energies.e_ac_pj + head_macs * energies.e_mac_pj)


def dense_cost(sizes: Sequence[int], model: EnergyModel | None = None) -> DecisionCost:
    """The cost of an MLP with layer sizes ``sizes`` (inputs first, outputs last), once per decision.

    >>> dense_cost([4, 64, 64, 2]).macs
    4480
    """
    energies = model or EnergyModel()
    macs = sum(a * b for a, b in itertools.pairwise(sizes))
    return DecisionCost(0.0, macs, macs * energies.e_mac_pj)
