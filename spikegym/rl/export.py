"""Export a trained spiking policy to the Neuromorphic Intermediate Representation (NIR), and read it back.

The graph is ``input -> (Affine -> LIF) x L -> Affine x H -> output``: each
spiking layer's weights and its snntorch ``Leaky`` neurons (discrete decay
``beta`` as NIR's continuous LIF with ``tau = dt / (1 - beta)``, ``r = tau / dt``,
the convention of snntorch's own exporter), then the policy's linear action
head. What NIR has no node for is stored in the graph's metadata and applied
by :func:`load_policy`: the ``T`` sub-steps per decision, the read-out of the
last spiking layer (membrane mean, last membrane or spike count), the reset
by subtraction, and how actions follow from the head's outputs (argmax for
discrete actions).
"""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np
import torch
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from torch import nn

from spikegym.rl.extractors import SpikingExtractor
from spikegym.rl.replay import actor_parts
from spikegym.rl.training import LEARNABLE

DT = 1e-4
"""Time step (s) that maps the discrete decay ``beta`` to NIR's time constant."""


class ExportError(ValueError):
    """A policy that cannot be written to (or read from) NIR as spikegym does it."""


EXPORTABLE_ALGOS = ("a2c", "dqn", "ppo")


def check_exportable(algo: str, encoder: str | None) -> None:
    """Refuse, from a run's algorithm and encoder alone (before loading its model), what NIR export cannot write.

    >>> check_exportable("sac", "population")
    Traceback (most recent call last):
    ...
    spikegym.rl.export.ExportError: NIR export supports the discrete-action algorithms ['a2c', 'dqn', 'ppo'], got 'sac'
    """
    if algo not in EXPORTABLE_ALGOS:
        raise ExportError(f"NIR export supports the discrete-action algorithms {list(EXPORTABLE_ALGOS)}, got {algo!r}")
    if encoder is None:
        raise ExportError("NIR export needs a spiking policy; this is an ANN (MLP) run on raw observations")
    if encoder == LEARNABLE:
        raise ExportError("NIR export needs spike observations; this run encodes inside the policy (learnable encoder)")


def export_policy(model: BaseAlgorithm, path: str | Path) -> nir.NIRGraph:
    """Write ``model``'s acting network (spiking extractor and linear head) to ``path`` as NIR.

    Supports the discrete-action algorithms (PPO, A2C, DQN) with a spiking
    extractor on spike observations and a head of linear layers (``net_arch=[]``).
    """
    if not isinstance(model, PPO | A2C | DQN):
        raise ExportError(f"NIR export supports PPO, A2C and DQN policies, got {type(model).__name__}")
    extractor, head = actor_parts(model)
    if not isinstance(extractor, SpikingExtractor) or extractor.encoder is not None:
        raise ExportError(
            "NIR export needs a SpikingExtractor on spike observations (not an ANN or a learnable encoder)"
        )
    head_layers = [m for part in head for m in part.modules() if not isinstance(m, nn.Sequential)]
    if not head_layers or not all(isinstance(m, nn.Linear) for m in head_layers):
        raise ExportError(f"NIR export needs a head of linear layers only (net_arch=[]), got {head_layers}")
    nodes: dict[str, nir.NIRNode] = {
        "input": nir.Input(input_type={"input": np.array([extractor.layers[0].in_features])})
    }
    edges: list[tuple[str, str]] = []
    previous = "input"
    for i, (layer, neuron) in enumerate(zip(extractor.layers, extractor.neurons, strict=True)):
        n = layer.out_features
        beta = float(neuron.beta.clamp(0, 1))
        tau = np.full(n, DT / (1.0 - beta) if beta < 1 else np.inf)
        nodes[f"fc{i}"] = nir.Affine(weight=_array(layer.weight), bias=_array(layer.bias))
        nodes[f"lif{i}"] = nir.LIF(
            tau=tau, r=tau / DT, v_leak=np.zeros(n), v_threshold=np.full(n, float(neuron.threshold))
        )
        edges += [(previous, f"fc{i}"), (f"fc{i}", f"lif{i}")]
        previous = f"lif{i}"
    for j, layer in enumerate(head_layers):
        nodes[f"head{j}"] = nir.Affine(weight=_array(layer.weight), bias=_array(layer.bias))
        edges.append((previous, f"head{j}"))
        previous = f"head{j}"
    nodes["output"] = nir.Output(output_type={"output": np.array([head_layers[-1].out_features])})
    edges.append((previous, "output"))
    metadata = {
        "producer": "spikegym",
        "substeps": extractor.steps,
        "readout": extractor.readout,
        "reset": "subtract",
        "dt": DT,
        "action": "argmax",
        "spiking_layers": len(extractor.layers),
    }
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    nir.write(target, graph)
    return graph


class NIRPolicy(nn.Module):
    """A spiking policy rebuilt from a spikegym NIR graph: spike blocks ``(B, T, C)`` to actions."""

    def __init__(self, graph: nir.NIRGraph) -> None:
        super().__init__()
        meta = graph.metadata
        if meta.get("producer") != "spikegym":
            raise ExportError("the NIR graph was not written by spikegym (its metadata has no producer 'spikegym')")
        self.steps, self.readout = int(meta["substeps"]), str(meta["readout"])
        n_layers, dt = int(meta["spiking_layers"]), float(meta["dt"])
        self.layers = nn.ModuleList(_linear(graph.nodes[f"fc{i}"]) for i in range(n_layers))
        lifs = [graph.nodes[f"lif{i}"] for i in range(n_layers)]
        self.betas = [torch.tensor(1.0 - dt / _array_from(lif.tau), dtype=torch.float32) for lif in lifs]
        self.thresholds = [torch.tensor(_array_from(lif.v_threshold), dtype=torch.float32) for lif in lifs]
        n_heads = sum(1 for name in graph.nodes if name.startswith("head"))
        self.head = nn.Sequential(*(_linear(graph.nodes[f"head{j}"]) for j in range(n_heads)))

    def forward(self, blocks: torch.Tensor) -> torch.Tensor:
        """The head's outputs (logits or Q-values) for spike blocks ``(B, T, C)``."""
        x = blocks.float()
        membranes = torch.empty(0)
        for layer, beta, threshold in zip(self.layers, self.betas, self.thresholds, strict=True):
            current = layer(x)
            membrane = torch.zeros_like(current[:, 0])
            spike = torch.zeros_like(membrane)
            spikes, trace = [], []
            for t in range(self.steps):
                membrane = beta * membrane + current[:, t] - spike * threshold
                spike = (membrane - threshold > 0).float()
                spikes.append(spike)
                trace.append(membrane)
            x, membranes = torch.stack(spikes, 1), torch.stack(trace, 1)
        if self.readout == "spike_count":
            features = x.mean(1)
        elif self.readout == "last_membrane":
            features = membranes[:, -1]
        else:
            features = membranes.mean(1)
        return self.head(features)

    def act(self, blocks: np.ndarray) -> np.ndarray:
        """Deterministic actions (argmax of the head) for a batch of spike blocks."""
        with torch.no_grad():
            return self(torch.as_tensor(np.asarray(blocks, np.float32))).argmax(dim=1).numpy()


def load_policy(path: str | Path) -> NIRPolicy:
    """Read a NIR file written by :func:`export_policy` into a runnable policy."""
    return NIRPolicy(nir.read(Path(path)))


def _array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().double().numpy()


def _array_from(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, np.float64)


def _linear(node: nir.Affine) -> nn.Linear:
    weight = torch.tensor(_array_from(node.weight), dtype=torch.float32)
    layer = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(torch.tensor(_array_from(node.bias), dtype=torch.float32))
    return layer
