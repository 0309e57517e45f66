"""Export a trained spiking policy to the Neuromorphic Intermediate Representation (NIR), so that other tools run
it exactly as trained.

The graph carries the whole computation of one sub-step::

    input -> fc0 (Affine) -> lif0 (LIF | IF) -> ... -> fcL -> lifL -> head (Affine) -> output

A NIR-exact policy (``spikegym train --nir-exact``: :data:`~spikegym.rl.extractors.NIR_EXACT`) runs
``v_t = beta v_{t-1} + W x_t + b``, fires where ``v_t > threshold`` and sets those membranes to 0 in the
same sub-step, over the ``T`` sub-steps of each observation from ``v = 0``; its features are the mean of the
last layer's spikes, and its action head is affine, so the head applied to each sub-step's spikes, averaged
over the ``T`` sub-steps, is exactly the trained output (logits, Q-values, or the actor's pre-squash mean).

Each spiking layer is written so that NIR's forward-Euler update at ``dt`` (:data:`DT`) is the trained one:

- ``beta < 1``: ``LIF(tau = dt / (1 - beta), r = 1, v_leak = 0, v_reset = 0, v_threshold = threshold)``
  fed by the layer's weights and bias scaled by ``1 / (1 - beta)``:
  ``v += (dt / tau) (-v + W' x) = beta v + W x``;
- ``beta = 1``: ``IF(r = 1 / dt, v_reset = 0, v_threshold = threshold)`` with the weights as trained:
  ``v += dt r W x = v + W x`` (or, with ``integrator="lif"``, a :data:`LONG_TAU` LIF, for snntorch);
- a synaptic first layer (``alpha``: snntorch's ``Synaptic``): ``CubaLIF`` with the weights as trained
  (:func:`_cuba_lif`).

:mod:`spikegym.rl.nir_readers` runs the graph in spikegym's own reader, snntorch's and norse's, and
compares them with the trained model. The metadata only adds what a graph cannot hold: the ``T``
sub-steps, ``dt``, the input layout (each sub-step's channels of the spike block) and the action rule
after the output node (argmax over the sum of the ``T`` outputs; for SAC and TD3 the tanh squash of their
mean, scaled to the action bounds).

>>> DT, LONG_TAU / DT == 2**30
(0.0001, True)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import nir
import numpy as np
import snntorch as snn
import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from torch import nn

from spikegym.rl.extractors import NIR_EXACT, READOUTS, RESETS, SpikingExtractor
from spikegym.rl.policies import PopulationDecoder
from spikegym.rl.recipes import Recipe
from spikegym.rl.recurrent import SpikingRecurrentCore, sequence_features
from spikegym.rl.training import LEARNABLE

logger = logging.getLogger(__name__)

DT = 1e-4
"""The time step (s) of the exported graph: snntorch's NIR reader fixes it; pass it to norse's ``from_nir``."""
LONG_TAU = DT * 2**30
"""The time constant of a ``beta = 1`` layer written as a LIF (``integrator="lif"``): a leak of ``2**-30`` per
sub-step, below float32's resolution, so float32 readers run it as an integrate-and-fire neuron; the input
scale ``2**30`` is a power of two, exact in floating point."""
NIR_EXACT_OPTION = "spikegym train ENV_ID --nir-exact"
EXPORTABLE_ALGOS = ("a2c", "dqn", "ppo", "recurrent_ppo", "sac", "td3")
DISCRETE_RULE = "argmax over the sum of the outputs of the T sub-steps"
SQUASHED_RULE = (
    "tanh of the mean output over the T sub-steps, scaled from [-1, 1] to the action bounds [action_low, action_high]"
)
STATELESS_INPUT = "starting every observation from zero state (reset the reader between observations)"
STATEFUL_INPUT = (
    "carrying the state from one observation to the next within an episode (reset the reader only at episode start)"
)
Integrator = Literal["if", "lif"]


class ExportError(ValueError):
    """A policy that NIR cannot carry as trained, or a graph spikegym cannot read."""


def _not_nir_exact(feature: str) -> ExportError:
    return ExportError(
        f"NIR export refuses this policy: {feature}, which no NIR node expresses, so other tools would run it as "
        f"something else; train with `{NIR_EXACT_OPTION}` (SpikingExtractor options {NIR_EXACT}) to export it"
    )


def check_exportable(algo: str, encoder: str | None, recipe: Recipe | None = None) -> None:
    """Refuse, from a run's algorithm, encoder and recipe alone (before loading its model), what NIR cannot carry.

    >>> check_exportable("ppo", None)
    Traceback (most recent call last):
    ...
    spikegym.rl.export.ExportError: NIR export needs a spiking policy; this is an ANN (MLP) run on raw observations
    """
    if algo not in EXPORTABLE_ALGOS:
        raise ExportError(f"NIR export supports the algorithms {list(EXPORTABLE_ALGOS)}, got {algo!r}")
    if encoder is None:
        raise ExportError("NIR export needs a spiking policy; this is an ANN (MLP) run on raw observations")
    if encoder == LEARNABLE:
        raise _not_nir_exact(
            f"the run encodes inside the policy (the learnable population encoder, --encoder {LEARNABLE})"
        )
    if recipe is not None:
        _check_options(recipe.spiking.get("reset", RESETS[0]), _recipe_readout(recipe))


def _recipe_readout(recipe: Recipe) -> str:
    return "spike_count" if recipe.population_head is not None else recipe.spiking.get("readout", READOUTS[0])


def _check_options(reset: str, readout: str) -> None:
    if readout != NIR_EXACT["readout"]:
        raise _not_nir_exact(f"its read-out is {readout!r} (the last layer's membrane, not a node of the graph)")
    if reset != NIR_EXACT["reset"]:
        raise _not_nir_exact(f"its neurons reset by {reset!r} one sub-step after a spike (NIR's LIF resets at once)")


@dataclass(frozen=True)
class Actor:
    """The parts of a model that act: its spiking extractor and its affine head, and what follows the head.

    :param extractor: the NIR-exact :class:`SpikingExtractor`.
    :param weight: the head's weight ``(n_out, features)`` (float64; several linear layers composed).
    :param bias: the head's bias ``(n_out,)``.
    :param squashed: whether a tanh follows the head (SAC, TD3), scaled to ``action_low``/``action_high``.
    :param stateful: whether the layers carry their state from one observation to the next within an episode
        (recurrent PPO's :class:`~spikegym.rl.recurrent.SpikingRecurrentPolicy`).
    """

    extractor: SpikingExtractor
    weight: np.ndarray
    bias: np.ndarray
    squashed: bool
    action_low: np.ndarray | None = None
    action_high: np.ndarray | None = None
    stateful: bool = False

    def scores(self, observations: np.ndarray, starts: np.ndarray | None = None) -> np.ndarray:
        """The trained outputs (logits, Q-values or pre-squash means) ``(N, n_out)`` for observations ``(N, T, C)``;
        a stateful actor reads them as one sequence, its state zeroed where ``starts`` ``(N,)`` is set."""
        blocks = torch.as_tensor(np.asarray(observations), dtype=torch.float32)
        with torch.no_grad():
            if self.stateful:
                if starts is None:
                    raise ValueError("a stateful actor reads a sequence of observations; give its episode starts")
                marks = torch.as_tensor(np.asarray(starts, bool)).reshape(1, -1)
                features = sequence_features(self.extractor, blocks, marks)[0]
            else:
                features = self.extractor(blocks)
            head = torch.as_tensor(self.weight, dtype=torch.float32), torch.as_tensor(self.bias, dtype=torch.float32)
        return (features @ head[0].T + head[1]).numpy()


def actor_of(model: BaseAlgorithm) -> Actor:
    """The acting parts of ``model`` as NIR can carry them, or an :class:`ExportError` naming what it cannot."""
    extractor, layers, squash = _acting_modules(model)
    stateful = isinstance(model, RecurrentPPO)
    if not isinstance(extractor, SpikingExtractor):
        raise ExportError(f"NIR export needs a spiking policy (a SpikingExtractor); got {type(extractor).__name__}")
    if extractor.encoder is not None:
        raise _not_nir_exact(
            f"the policy encodes inside itself (the learnable population encoder, --encoder {LEARNABLE})"
        )
    _check_options(extractor.reset, extractor.readout)
    weight, bias = _compose(layers, extractor.features_dim)
    if not squash:
        return Actor(extractor, weight, bias, False, stateful=stateful)
    space = model.action_space
    return Actor(extractor, weight, bias, True, np.asarray(space.low, np.float64), np.asarray(space.high, np.float64))


def _acting_modules(model: BaseAlgorithm) -> tuple[nn.Module, list[nn.Module], bool]:
    """The extractor, the head's layers (empty containers dropped) and whether a tanh squash follows them."""
    policy = model.policy
    if isinstance(model, RecurrentPPO):
        if not isinstance(model.action_space, gym.spaces.Discrete):
            raise ExportError(f"NIR export of RecurrentPPO supports Discrete action spaces, got {model.action_space}")
        core = policy.lstm_actor
        layers = _layers(policy.mlp_extractor.policy_net, policy.action_net)
        return (core.extractor if isinstance(core, SpikingRecurrentCore) else core), layers, False
    if isinstance(model, PPO | A2C):
        if not isinstance(model.action_space, gym.spaces.Discrete):
            raise ExportError(
                f"NIR export of {type(model).__name__} supports Discrete action spaces, got {model.action_space}"
            )
        return policy.pi_features_extractor, _layers(policy.mlp_extractor.policy_net, policy.action_net), False
    if isinstance(model, DQN):
        return policy.q_net.features_extractor, _layers(policy.q_net.q_net), False
    if isinstance(model, SAC):
        return policy.actor.features_extractor, _layers(policy.actor.latent_pi, policy.actor.mu), True
    if isinstance(model, TD3):
        layers = _layers(policy.actor.mu)
        if not layers or not isinstance(layers[-1], nn.Tanh):
            raise ExportError(f"NIR export expects TD3's actor to end in a tanh, got {layers}")
        return policy.actor.features_extractor, layers[:-1], True
    raise ExportError(f"NIR export supports PPO, A2C, DQN, SAC and TD3 (their actors), got {type(model).__name__}")


def _layers(*modules: nn.Module) -> list[nn.Module]:
    found: list[nn.Module] = []
    for module in modules:
        found += _layers(*module) if isinstance(module, nn.Sequential) else [module]
    return found


def _compose(layers: Sequence[nn.Module], n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """One affine map (float64) for a chain of linear layers and population decoders; refuse anything else."""
    weight, bias = np.eye(n_features), np.zeros(n_features)
    if not layers:
        raise ExportError("NIR export needs a linear action head after the spiking layers; the model has none")
    for layer in layers:
        if isinstance(layer, nn.Linear):
            w = _array(layer.weight)
            b = _array(layer.bias) if layer.bias is not None else np.zeros(layer.out_features)
        elif isinstance(layer, PopulationDecoder):
            w, b = _population_block(layer), _array(layer.bias)
        else:
            raise ExportError(
                f"NIR export needs an affine action head (net_arch=[] or pi=[]: linear layers only); this head has "
                f"a {type(layer).__name__} layer, which NIR's graph would not run as trained"
            )
        weight, bias = w @ weight, w @ bias + b
    return weight, bias


def _population_block(decoder: PopulationDecoder) -> np.ndarray:
    """PopSAN's decoder as a block weight matrix: row ``i`` holds ``w_i`` over its own group of neurons."""
    groups = _array(decoder.weight)
    block = np.zeros((decoder.n_actions, decoder.n_actions * decoder.population))
    for action in range(decoder.n_actions):
        block[action, action * decoder.population : (action + 1) * decoder.population] = groups[action]
    return block


def policy_graph(
    model: BaseAlgorithm,
    integrator: Integrator = "if",
    channels: Sequence[str] | None = None,
    info: Mapping[str, str] | None = None,
) -> nir.NIRGraph:
    """``model``'s acting network as a NIR graph (see the module's description), without writing it.

    :param integrator: how a layer with ``beta = 1`` is written: ``"if"`` (NIR's ``IF``) or ``"lif"``
        (a LIF with :data:`LONG_TAU`, for readers whose ``IF`` is wrong, such as snntorch 1.0's).
    :param channels: the names of the input channels (the spike block's columns), stored in the metadata.
    :param info: more metadata (env id, encoder, run directory).
    """
    if integrator not in ("if", "lif"):
        raise ValueError(f"integrator must be 'if' or 'lif', got {integrator!r}")
    actor = actor_of(model)
    extractor = actor.extractor
    nodes: dict[str, nir.NIRNode] = {
        "input": nir.Input(input_type={"input": np.array([extractor.layers[0].in_features])})
    }
    edges: list[tuple[str, str]] = []
    previous = "input"
    for i, (layer, neuron) in enumerate(zip(extractor.layers, extractor.neurons, strict=True)):
        weight = _array(layer.weight)
        bias = _array(layer.bias) if layer.bias is not None else np.zeros(layer.out_features)
        name, node, scale = _spiking_node(i, neuron, layer.out_features, integrator)
        nodes[f"fc{i}"] = nir.Affine(weight=weight * scale, bias=bias * scale)
        nodes[name] = node
        edges += [(previous, f"fc{i}"), (f"fc{i}", name)]
        previous = name
    nodes["head"] = nir.Affine(weight=actor.weight, bias=actor.bias)
    nodes["output"] = nir.Output(output_type={"output": np.array([actor.weight.shape[0]])})
    edges += [(previous, "head"), ("head", "output")]
    metadata = _metadata(model, actor, channels, info)
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def _spiking_node(index: int, neuron: nn.Module, size: int, integrator: Integrator) -> tuple[str, nir.NIRNode, float]:
    """The NIR node of one spiking layer, its name, and the factor its input weights are scaled by."""
    betas = neuron.beta.detach().clamp(0, 1).double().cpu().numpy() * np.ones(size)
    threshold = np.full(size, float(neuron.threshold))
    zeros = np.zeros(size)
    if np.unique(betas).size > 1:
        raise ExportError(f"NIR export needs one beta per spiking layer; layer {index} has betas {np.unique(betas)}")
    if isinstance(neuron, snn.Synaptic):
        return f"cubalif{index}", _cuba_lif(float(neuron.alpha.clamp(0, 1)), float(betas[0]), threshold), 1.0
    if np.all(betas == 1.0):
        if integrator == "if":
            return f"if{index}", nir.IF(r=np.full(size, 1.0 / DT), v_threshold=threshold, v_reset=zeros), 1.0
        tau = np.full(size, LONG_TAU)
        return (
            f"lif{index}",
            nir.LIF(tau=tau, r=np.ones(size), v_leak=zeros, v_threshold=threshold, v_reset=zeros),
            2.0**30,
        )
    beta = float(betas[0])
    tau = np.full(size, DT / (1.0 - beta))
    lif = nir.LIF(tau=tau, r=np.ones(size), v_leak=zeros, v_threshold=threshold, v_reset=zeros)
    return f"lif{index}", lif, 1.0 / (1.0 - beta)


def _cuba_lif(alpha: float, beta: float, threshold: np.ndarray) -> nir.CubaLIF:
    """A synaptic layer (``i_t = alpha i_{t-1} + W x_t``, ``v_t = beta v_{t-1} + i_t``) as NIR's ``CubaLIF``, whose
    forward Euler step at :data:`DT` is that update: ``tau_syn = dt / (1 - alpha)`` with ``w_in = tau_syn / dt``,
    ``tau_mem = dt / (1 - beta)`` with ``r = tau_mem / dt`` (snntorch's reader asks for this ``r``); a decay of 1
    is a :data:`LONG_TAU`."""
    tau_syn, tau_mem = (LONG_TAU if decay == 1.0 else DT / (1.0 - decay) for decay in (alpha, beta))
    ones = np.ones_like(threshold)
    return nir.CubaLIF(
        tau_syn=tau_syn * ones, tau_mem=tau_mem * ones, r=tau_mem / DT * ones, v_leak=0 * ones,
        v_threshold=threshold, v_reset=0 * ones, w_in=tau_syn / DT * ones,
    )  # fmt: skip


def _metadata(
    model: BaseAlgorithm, actor: Actor, channels: Sequence[str] | None, info: Mapping[str, str] | None
) -> dict[str, Any]:
    from spikegym._version import __version__

    steps = actor.extractor.steps
    metadata: dict[str, Any] = {
        "producer": "spikegym",
        "producer_version": __version__,
        "algorithm": type(model).__name__,
        "substeps": steps,
        "dt": DT,
        "input": f"one observation is a spike block (T={steps}, C={actor.extractor.layers[0].in_features}): feed "
        "its row t (the C channels of sub-step t) to the input node at sub-step t, one sub-step per dt, "
        + (STATEFUL_INPUT if actor.stateful else STATELESS_INPUT),
        "state": "carried from one observation to the next, reset at episode start"
        if actor.stateful
        else "from zero state at every observation",
        "output": "per sub-step, the action head on the last spiking layer's spikes; their mean over the T "
        "sub-steps is the trained output (logits, Q-values or the actor's pre-squash mean)",
        "action": SQUASHED_RULE if actor.squashed else DISCRETE_RULE,
        "readers": f"norse: norse.torch.from_nir(graph, dt={DT}); snntorch: snntorch.import_nir.import_from_nir(graph)",
    }
    if actor.squashed:
        metadata["action_low"], metadata["action_high"] = actor.action_low, actor.action_high
    if channels is not None:
        metadata["input_channels"] = ", ".join(channels)
    metadata.update(info or {})
    return metadata


def export_policy(
    model: BaseAlgorithm,
    path: str | Path,
    integrator: Integrator = "if",
    channels: Sequence[str] | None = None,
    info: Mapping[str, str] | None = None,
) -> nir.NIRGraph:
    """Write ``model``'s acting network to ``path`` as NIR (:func:`policy_graph`) and return the graph.

    Supports NIR-exact spiking policies (``spikegym train --nir-exact``) of PPO, A2C and DQN (Discrete
    actions) and the actors of SAC and TD3 (population heads included), with an affine head
    (``net_arch=[]`` / ``pi=[]``); anything else is an :class:`ExportError` naming what NIR cannot carry.
    An existing file is never overwritten.
    """
    target = Path(path)
    if target.exists():
        raise FileExistsError(f"{target} exists; choose another path or delete it first")
    graph = policy_graph(model, integrator, channels, info)
    target.parent.mkdir(parents=True, exist_ok=True)
    nir.write(target, graph)
    return graph


def _array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().double().numpy()
