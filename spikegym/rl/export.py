"""Export a trained spiking policy to the Neuromorphic Intermediate Representation (NIR), so that other tools run
it exactly as trained; read it back, and check it in other readers.

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
  ``v += dt r W x = v + W x`` (or, with ``integrator="lif"``, a :data:`LONG_TAU` LIF, for snntorch).

The metadata only adds what a graph cannot hold: the ``T`` sub-steps, ``dt``, the input layout (each
sub-step's channels of the spike block) and the action rule after the output node (argmax over the sum of
the ``T`` outputs; for SAC and TD3 the tanh squash of their mean, scaled to the action bounds).

>>> DT, LONG_TAU / DT == 2**30
(0.0001, True)
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import nir
import numpy as np
import torch
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from torch import nn

from spikegym.rl.extractors import NIR_EXACT, READOUTS, RESETS, SpikingExtractor
from spikegym.rl.policies import PopulationDecoder
from spikegym.rl.recipes import Recipe
from spikegym.rl.training import LEARNABLE

logger = logging.getLogger(__name__)

DT = 1e-4
"""The time step (s) of the exported graph: snntorch's NIR reader fixes it; pass it to norse's ``from_nir``."""
LONG_TAU = DT * 2**30
"""The time constant of a ``beta = 1`` layer written as a LIF (``integrator="lif"``): a leak of ``2**-30`` per
sub-step, below float32's resolution, so float32 readers run it as an integrate-and-fire neuron; the input
scale ``2**30`` is a power of two, exact in floating point."""
AGREEMENT = 0.99
"""The share of recorded observations on which a reader must give the trained model's actions."""
TOLERANCE = 1e-4
"""How far a continuous actor's pre-squash outputs in a reader may be from the trained model's."""
NIR_EXACT_OPTION = "spikegym train ENV_ID --nir-exact"
EXPORTABLE_ALGOS = ("a2c", "dqn", "ppo", "sac", "td3")
DISCRETE_RULE = "argmax over the sum of the outputs of the T sub-steps"
SQUASHED_RULE = (
    "tanh of the mean output over the T sub-steps, scaled from [-1, 1] to the action bounds [action_low, action_high]"
)
READERS = ("spikegym", "snntorch", "norse")
"""The readers :func:`check_readers` runs: spikegym's own (:func:`load_policy`), snntorch's and norse's."""
Integrator = Literal["if", "lif"]


class ExportError(ValueError):
    """A policy that NIR cannot carry as trained, or a graph spikegym cannot read."""


class ReaderMissing(ImportError):
    """A NIR reader (snntorch's needs nirtorch; norse) that is not installed."""


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
    """

    extractor: SpikingExtractor
    weight: np.ndarray
    bias: np.ndarray
    squashed: bool
    action_low: np.ndarray | None = None
    action_high: np.ndarray | None = None

    def scores(self, observations: np.ndarray) -> np.ndarray:
        """The trained outputs (logits, Q-values or pre-squash means) ``(N, n_out)`` for observations ``(N, T, C)``."""
        with torch.no_grad():
            features = self.extractor(torch.as_tensor(np.asarray(observations), dtype=torch.float32))
            head = torch.as_tensor(self.weight, dtype=torch.float32), torch.as_tensor(self.bias, dtype=torch.float32)
        return (features @ head[0].T + head[1]).numpy()


def actor_of(model: BaseAlgorithm) -> Actor:
    """The acting parts of ``model`` as NIR can carry them, or an :class:`ExportError` naming what it cannot."""
    extractor, layers, squash = _acting_modules(model)
    if not isinstance(extractor, SpikingExtractor):
        raise ExportError(f"NIR export needs a spiking policy (a SpikingExtractor); got {type(extractor).__name__}")
    if extractor.encoder is not None:
        raise _not_nir_exact(
            f"the policy encodes inside itself (the learnable population encoder, --encoder {LEARNABLE})"
        )
    _check_options(extractor.reset, extractor.readout)
    weight, bias = _compose(layers, extractor.features_dim)
    if not squash:
        return Actor(extractor, weight, bias, False)
    space = model.action_space
    return Actor(extractor, weight, bias, True, np.asarray(space.low, np.float64), np.asarray(space.high, np.float64))


def _acting_modules(model: BaseAlgorithm) -> tuple[nn.Module, list[nn.Module], bool]:
    """The extractor, the head's layers (empty containers dropped) and whether a tanh squash follows them."""
    policy = model.policy
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
    if np.all(betas == 1.0):
        if integrator == "if":
            return f"if{index}", nir.IF(r=np.full(size, 1.0 / DT), v_threshold=threshold, v_reset=zeros), 1.0
        tau = np.full(size, LONG_TAU)
        return (
            f"lif{index}",
            nir.LIF(tau=tau, r=np.ones(size), v_leak=zeros, v_threshold=threshold, v_reset=zeros),
            2.0**30,
        )
    if np.any(betas == 1.0) or np.unique(betas).size > 1:
        raise ExportError(f"NIR export needs one beta per spiking layer; layer {index} has betas {np.unique(betas)}")
    beta = float(betas[0])
    tau = np.full(size, DT / (1.0 - beta))
    lif = nir.LIF(tau=tau, r=np.ones(size), v_leak=zeros, v_threshold=threshold, v_reset=zeros)
    return f"lif{index}", lif, 1.0 / (1.0 - beta)


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
        "its row t (the C channels of sub-step t) to the input node at sub-step t, one sub-step per dt, starting "
        "every observation from zero state (reset the reader between observations)",
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


class NIRPolicy(nn.Module):
    """spikegym's NIR reader: runs a chain graph ``Input -> (Affine | LIF | IF)* -> Output`` as NIR defines it
    (forward Euler at the metadata's ``dt``, in float64), and applies the metadata's action rule.

    :param graph: a graph written by :func:`export_policy` (any chain of those nodes runs; acting needs
        spikegym's metadata).
    """

    def __init__(self, graph: nir.NIRGraph) -> None:
        super().__init__()
        self.graph = graph
        meta = graph.metadata
        self.dt = float(meta.get("dt", DT))
        self.steps = int(meta["substeps"]) if "substeps" in meta else None
        self.squashed = str(meta.get("action", DISCRETE_RULE)) == SQUASHED_RULE
        self.chain = [graph.nodes[name] for name in _chain(graph)]

    def outputs(self, blocks: np.ndarray) -> np.ndarray:
        """The output node's value at every sub-step ``(N, T, n_out)`` for spike blocks ``(N, T, C)``."""
        x = np.asarray(blocks, np.float64)
        states: list[np.ndarray | None] = [None] * len(self.chain)
        outputs = []
        for t in range(x.shape[1]):
            value = x[:, t]
            for k, node in enumerate(self.chain):
                value, states[k] = _step(node, value, states[k], self.dt)
            outputs.append(value)
        return np.stack(outputs, axis=1)

    def forward(self, blocks: torch.Tensor) -> torch.Tensor:
        """The trained outputs (mean over the sub-steps) for spike blocks ``(B, T, C)``."""
        return torch.as_tensor(self.outputs(blocks.detach().cpu().numpy()).mean(axis=1))

    def act(self, blocks: np.ndarray) -> np.ndarray:
        """Actions by the metadata's rule for a batch of spike blocks ``(N, T, C)``."""
        return actions_from_outputs(self.graph, self.outputs(blocks))


def _chain(graph: nir.NIRGraph) -> list[str]:
    """The node names from input to output (excluded) of a graph that is a single chain."""
    following = dict(graph.edges)
    if len(following) != len(graph.edges) or len({b for _, b in graph.edges}) != len(graph.edges):
        raise ExportError("spikegym's NIR reader runs chains of nodes; this graph branches or merges")
    names, name = [], following.get("input")
    while name is not None and name != "output":
        if not isinstance(graph.nodes[name], nir.Affine | nir.LIF | nir.IF):
            raise ExportError(
                f"spikegym's NIR reader runs Affine, LIF and IF nodes; {name!r} is {type(graph.nodes[name]).__name__}"
            )
        names.append(name)
        name = following.get(name)
    if name != "output":
        raise ExportError("the NIR graph has no chain of edges from 'input' to 'output'")
    return names


def _step(node: nir.NIRNode, value: np.ndarray, state: np.ndarray | None, dt: float) -> tuple[np.ndarray, Any]:
    if isinstance(node, nir.Affine):
        return value @ np.asarray(node.weight, np.float64).T + np.asarray(node.bias, np.float64), None
    membrane = np.zeros_like(value) if state is None else state
    if isinstance(node, nir.LIF):
        tau, r, leak = (np.asarray(a, np.float64) for a in (node.tau, node.r, node.v_leak))
        membrane = membrane + dt / tau * ((leak - membrane) + r * value)
    else:
        membrane = membrane + dt * np.asarray(node.r, np.float64) * value
    spikes = membrane > np.asarray(node.v_threshold, np.float64)
    return spikes.astype(np.float64), np.where(spikes, np.asarray(node.v_reset, np.float64), membrane)


def load_policy(path: str | Path) -> NIRPolicy:
    """Read a NIR file written by :func:`export_policy` into spikegym's reader (:class:`NIRPolicy`)."""
    return NIRPolicy(nir.read(Path(path)))


def actions_from_outputs(graph: nir.NIRGraph, outputs: np.ndarray) -> np.ndarray:
    """Actions from a reader's per-sub-step outputs ``(N, T, n_out)`` by the graph's action rule."""
    meta = graph.metadata
    if str(meta.get("action")) == SQUASHED_RULE:
        low, high = np.asarray(meta["action_low"]), np.asarray(meta["action_high"])
        return low + 0.5 * (np.tanh(outputs.mean(axis=1)) + 1.0) * (high - low)
    return outputs.sum(axis=1).argmax(axis=1)


Runner = Callable[[np.ndarray], np.ndarray]
"""A loaded reader: spike blocks ``(N, T, C)`` to the output node's value at every sub-step ``(N, T, n_out)``."""


def _load_snntorch(graph: nir.NIRGraph) -> Runner:
    try:
        import snntorch as snn
        from snntorch.import_nir import import_from_nir
    except ImportError as error:
        raise ReaderMissing(f"snntorch's NIR reader needs nirtorch: pip install nirtorch ({error})") from None
    with contextlib.redirect_stdout(io.StringIO()) as chatter:  # the reader prints its warnings
        network = import_from_nir(copy.deepcopy(graph))
    logger.debug("snntorch import_from_nir said: %s", chatter.getvalue())
    neurons = [module for module in network.modules() if isinstance(module, snn.Leaky)]

    def run(blocks: np.ndarray) -> np.ndarray:
        for neuron in neurons:  # every observation starts from zero membranes
            neuron.reset_mem()
        x = torch.as_tensor(np.asarray(blocks), dtype=torch.float32)
        with torch.no_grad():
            return torch.stack([network(x[:, t])[0] for t in range(x.shape[1])], dim=1).numpy()

    return run


def _load_norse(graph: nir.NIRGraph) -> Runner:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # norse uses torch.jit.script and nirtorch.load
        try:
            import norse.torch as norse
        except ImportError as error:
            raise ReaderMissing(f"norse is not installed: pip install --no-deps norse==1.1.0 ({error})") from None
        network = norse.from_nir(copy.deepcopy(graph), dt=float(graph.metadata.get("dt", DT)), ignore_warnings=True)

    def run(blocks: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(np.asarray(blocks), dtype=torch.float32)
        state, outputs = None, []  # a fresh state: every observation starts from zero membranes
        with torch.no_grad():
            for t in range(x.shape[1]):
                output, state = network(x[:, t], state)
                outputs.append(output)
        return torch.stack(outputs, dim=1).numpy()

    return run


def _load_spikegym(graph: nir.NIRGraph) -> Runner:
    return NIRPolicy(graph).outputs


LOADERS: dict[str, Callable[[nir.NIRGraph], Runner]] = {
    "spikegym": _load_spikegym,
    "snntorch": _load_snntorch,
    "norse": _load_norse,
}


def load_reader(reader: str, graph: nir.NIRGraph) -> Runner:
    """Load ``graph`` in ``reader`` (one of :data:`READERS`): a function that runs spike blocks ``(N, T, C)``,
    each from zero state, and returns the output node's value at every sub-step ``(N, T, n_out)``.

    snntorch's reader runs with its fixed ``dt = 1e-4``, norse's with the metadata's ``dt``. A reader that is
    not installed raises :class:`ReaderMissing`.

    >>> load_reader("brian2", nir.NIRGraph(nodes={}, edges=[]))
    Traceback (most recent call last):
    ...
    ValueError: reader must be one of ['spikegym', 'snntorch', 'norse'], got 'brian2'
    """
    if reader not in LOADERS:
        raise ValueError(f"reader must be one of {list(READERS)}, got {reader!r}")
    return LOADERS[reader](graph)


def record_observations(model: BaseAlgorithm, env: gym.Env, n_steps: int, seed: int = 0) -> np.ndarray:
    """``n_steps`` observations ``(n_steps, T, C)`` of ``env`` (the run's spike observations) as ``model`` acts
    on them deterministically; episodes restart as they end, the first reset seeded with ``seed``."""
    observations = []
    observation, _ = env.reset(seed=seed)
    for _ in range(n_steps):
        observations.append(observation)
        action, _ = model.predict(observation, deterministic=True)
        observation, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            observation, _ = env.reset()
    return np.stack(observations)


@dataclass(frozen=True)
class Agreement:
    """How a reader ran a graph on recorded observations, against the trained model.

    :param reader: the reader's name.
    :param n: observations compared.
    :param agree: observations with the model's action (continuous actors: pre-squash outputs within
        :data:`TOLERANCE` on every dimension).
    :param max_difference: the largest difference of a pre-squash output (continuous actors), else ``None``.
    :param problem: why the reader gave no result (not installed, or it failed on the graph), else ``None``.
    """

    reader: str
    n: int
    agree: int = 0
    max_difference: float | None = None
    problem: str | None = None

    @property
    def share(self) -> float:
        return self.agree / self.n if self.n else 0.0

    @property
    def ok(self) -> bool:
        """Whether the reader ran and gave the model's actions on at least :data:`AGREEMENT` of observations."""
        return self.problem is None and self.share >= AGREEMENT


def compare(
    actor: Actor, graph: nir.NIRGraph, observations: np.ndarray, readers: Sequence[str] = READERS
) -> list[Agreement]:
    """Run ``observations`` (spike blocks ``(N, T, C)``) through each reader and through the trained model; a
    reader that is not installed or fails on the graph is reported as such (:attr:`Agreement.problem`)."""
    blocks = np.asarray(observations)
    expected = actor.scores(blocks)
    results = []
    for reader in readers:
        try:
            outputs = load_reader(reader, graph)(blocks)
        except ReaderMissing as error:
            results.append(Agreement(reader, len(blocks), problem=f"not installed: {error}"))
            continue
        except Exception as error:  # a reader that cannot run the graph: report it, do not stop the others
            results.append(Agreement(reader, len(blocks), problem=f"failed: {type(error).__name__}: {error}"))
            continue
        results.append(_agreement(reader, actor, expected, outputs))
    return results


def _agreement(reader: str, actor: Actor, expected: np.ndarray, outputs: np.ndarray) -> Agreement:
    if actor.squashed:
        difference = np.abs(outputs.mean(axis=1) - expected).max(axis=1)
        return Agreement(reader, len(expected), int((difference <= TOLERANCE).sum()), float(difference.max()))
    agree = outputs.sum(axis=1).argmax(axis=1) == expected.argmax(axis=1)
    return Agreement(reader, len(expected), int(agree.sum()))


def describe(agreement: Agreement) -> str:
    """One line for a person: the reader and its agreement with the trained model (or why it has none).

    >>> describe(Agreement("norse", 300, 299))
    'norse: 299/300 actions as trained (99.7%)'
    """
    if agreement.problem is not None:
        return f"{agreement.reader}: {agreement.problem}"
    line = f"{agreement.reader}: {agreement.agree}/{agreement.n} actions as trained ({100 * agreement.share:.1f}%)"
    if agreement.max_difference is not None:
        line += f", pre-squash outputs within {TOLERANCE:g} (largest difference {agreement.max_difference:.2g})"
    return line


def _array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().double().numpy()
