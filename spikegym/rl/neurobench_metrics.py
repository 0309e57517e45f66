"""NeuroBench's workload metrics of a spiking policy's acting network, computed by NeuroBench itself.

:func:`neurobench_counts` runs the spike inputs a replay recorded (each decision's ``(T, C)`` block entering the
first spiking layer) through the acting network as snntorch modules (:class:`SnnTorchActor`: the extractor's own
``nn.Linear`` layers and ``snn.Leaky`` (or ``snn.Synaptic``) neurons, its read-out, and the action head), wrapped in
``neurobench.models.SNNTorchModel``, and returns what ``neurobench.benchmarks.Benchmark`` measures with its
``SynapticOperations``, ``ActivationSparsity`` and ``MembraneUpdates`` metrics, per decision. A stateful policy's
episodes run as one sequence each, its membranes carried from one decision to the next.

NeuroBench counts differently from :mod:`spikegym.rl.energy` in ways ``docs/energy.md`` lists: a layer whose
input is all 0/1 (spikes) costs effective ACs and any other layer effective MACs, both counted only for nonzero
inputs times nonzero weights; a membrane counts as updated only where its value changed (and every neuron at the
first sub-step of each sample); its sparsity includes ReLU and sigmoid outputs of the head.

NeuroBench is an optional install (its package requires torchaudio, which would pull another torch, and
uses none of it here): ``pip install --no-deps neurobench==2.3.0``.

>>> NEUROBENCH_INSTALL
'pip install --no-deps neurobench==2.3.0'
"""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import snntorch as snn
import torch
from torch import nn

from spikegym.rl.energy import DecisionCost, EnergyModel, decision_cost
from spikegym.rl.extractors import SpikingExtractor

NEUROBENCH_INSTALL = "pip install --no-deps neurobench==2.3.0"
BATCH = 1024
"""Decisions per NeuroBench batch of a stateless policy. The agent acted on one decision at a time: a batched
matrix product may round an input current's last bit differently and, rarely, flip a spike that sits exactly at
the threshold (``batch=1`` repeats the agent's arithmetic, about 40 times slower)."""


class NeuroBenchMissing(ImportError):
    """NeuroBench is not installed."""


@dataclass(frozen=True)
class NeuroBenchCounts:
    """NeuroBench's workload metrics of the acting network, per decision.

    :param effective_acs: accumulates of layers whose input is binary (spikes), nonzero inputs x nonzero weights.
    :param effective_macs: multiply-accumulates of the other layers (the head on the read-out), counted the same way.
    :param dense_ops: every input times every weight of every layer (NeuroBench's ``Dense``).
    :param membrane_updates: membranes whose value changed, over all sub-steps.
    :param activation_sparsity: the share of zero outputs of the spiking layers (and ReLU/sigmoid layers).
    :param decisions: the decisions measured.
    """

    effective_acs: float
    effective_macs: float
    dense_ops: float
    membrane_updates: float
    activation_sparsity: float
    decisions: int

    def cost(self, model: EnergyModel | None = None) -> DecisionCost:
        """The energy of these counts under ``model``: ACs, MACs and membrane updates priced as spikegym's.

        >>> NeuroBenchCounts(10.0, 2.0, 40.0, 4.0, 0.5, 3).cost(EnergyModel(1.0, 5.0, e_neuron_pj=0.5)).energy_pj
        22.0
        """
        return decision_cost(self.effective_acs, self.effective_macs, model, self.membrane_updates)


class SnnTorchActor(nn.Module):
    """A spiking policy's acting network in snntorch modules, for NeuroBench: copies of the extractor's
    ``nn.Linear`` layers and ``snn.Leaky`` neurons, stepped one sub-step at a time from zero membranes, its
    read-out per window of ``T`` sub-steps, then copies of the head's modules.

    ``forward`` takes spike inputs ``(B, W * T, C)`` (``W`` decisions of one sequence each, or ``W = 1``) and
    returns the head's outputs ``(B, W, n_out)``.

    >>> import gymnasium as gym
    >>> extractor = SpikingExtractor(gym.spaces.MultiBinary((4, 6)), hidden=(8,))
    >>> actor = SnnTorchActor(extractor, [nn.Linear(8, 2)])
    >>> blocks = (torch.rand(3, 4, 6) < 0.5).float()
    >>> bool(torch.allclose(actor(blocks)[:, 0], actor.head(extractor(blocks))))
    True
    """

    def __init__(self, extractor: SpikingExtractor, head: Sequence[nn.Module]) -> None:
        super().__init__()
        self.extractor = copy.deepcopy(extractor)
        self.extractor.record = False
        self.head = nn.Sequential(*(copy.deepcopy(module) for module in head))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        extractor = self.extractor
        x, membranes = inputs, inputs
        for layer, neuron in zip(extractor.layers, extractor.neurons, strict=True):
            neuron.mem = torch.zeros(0)  # zero membranes (and synaptic currents) of the input's shape at the start
            if isinstance(neuron, snn.Synaptic):
                neuron.syn = torch.zeros(0)
            current = layer(x)
            steps = [neuron(current[:, t]) for t in range(current.shape[1])]
            x = torch.stack([step[0] for step in steps], dim=1)
            membranes = torch.stack([step[-1] for step in steps], dim=1)
        batch, length, size = x.shape
        windows = length // extractor.steps
        shape = (batch * windows, extractor.steps, size)
        features = extractor.read_out(x.reshape(shape), membranes.reshape(shape))
        return self.head(features).reshape(batch, windows, -1)


def neurobench_installed() -> bool:
    """Whether NeuroBench can be imported (:data:`NEUROBENCH_INSTALL` installs it)."""
    try:
        require_neurobench()
    except NeuroBenchMissing:
        return False
    return True


def require_neurobench() -> None:
    """Raise :class:`NeuroBenchMissing`, saying how to install it, unless NeuroBench can be imported."""
    _neurobench()


def _neurobench() -> tuple[type, type, tuple[type, ...]]:
    try:
        from neurobench.benchmarks import Benchmark
        from neurobench.metrics.workload import ActivationSparsity, MembraneUpdates, SynapticOperations
        from neurobench.models import SNNTorchModel
    except ImportError as error:
        raise NeuroBenchMissing(f"NeuroBench is not installed: {NEUROBENCH_INSTALL} ({error})") from None
    return Benchmark, SNNTorchModel, (SynapticOperations, ActivationSparsity, MembraneUpdates)


def neurobench_counts(
    extractor: SpikingExtractor,
    head: Sequence[nn.Module],
    inputs: torch.Tensor | np.ndarray,
    starts: Sequence[bool] | np.ndarray | None = None,
    batch: int = BATCH,
) -> NeuroBenchCounts:
    """NeuroBench's synaptic operations, activation sparsity and membrane updates of the acting network
    (``extractor``'s spiking layers and read-out, then ``head``) per decision, over ``inputs``: the spike inputs
    ``(N, T, C)`` of ``N`` decisions entering the first spiking layer.

    A stateful policy gives ``starts`` ``(N,)``: each episode (from a set flag to the next) runs as one sequence,
    its membranes carried across its decisions; otherwise every decision starts from zero membranes, ``batch``
    decisions per NeuroBench batch. Raises :class:`NeuroBenchMissing` if NeuroBench is not installed, and a
    ``RuntimeError`` with NeuroBench's message if one of its metrics fails (NeuroBench itself would report 0).
    """
    benchmark_class, model_class, metrics = _neurobench()
    blocks = torch.as_tensor(np.asarray(inputs), dtype=torch.float32)
    if blocks.ndim != 3 or blocks.shape[1] != extractor.steps or blocks.shape[2] != extractor.layers[0].in_features:
        raise ValueError(
            f"inputs must be spike blocks (N, T={extractor.steps}, C={extractor.layers[0].in_features}), "
            f"got shape {tuple(blocks.shape)}"
        )
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    n = len(blocks)
    if starts is None:
        batches = [list(range(first, min(first + batch, n))) for first in range(0, n, batch)]
    else:
        marks = np.asarray(starts, dtype=bool)
        if marks.shape != (n,) or not marks[0]:
            raise ValueError(f"starts must be ({n},) episode-start flags with the first set, got {marks.shape}")
        edges = [*np.flatnonzero(marks).tolist(), n]
        batches = [list(range(a, b)) for a, b in itertools.pairwise(edges)]
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(blocks, torch.zeros(n)), batch_sampler=batches)
    model = model_class(SnnTorchActor(extractor, head), custom_forward=True)
    sequence = [] if starts is None else [_one_sequence]
    benchmark = benchmark_class(model, loader, sequence, [], [[], list(metrics)])
    chatter = io.StringIO()
    with torch.no_grad(), contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
        results = benchmark.run(quiet=False)
    model.cleanup_hooks()
    if "Error running workload metric" in chatter.getvalue():
        raise RuntimeError(f"a NeuroBench metric failed: {chatter.getvalue().strip()}")
    synops = results["SynapticOperations"]
    return NeuroBenchCounts(
        effective_acs=float(synops["Effective_ACs"]),
        effective_macs=float(synops["Effective_MACs"]),
        dense_ops=float(synops["Dense"]),
        membrane_updates=float(results["MembraneUpdates"]),
        activation_sparsity=float(results["ActivationSparsity"]),
        decisions=n,
    )


def _one_sequence(data: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """NeuroBench preprocessor: an episode's decisions ``(n, T, C)`` as one sequence ``(1, n * T, C)``."""
    inputs, targets = data
    return inputs.reshape(1, -1, inputs.shape[-1]), targets
