"""NIR readers of exported policies: spikegym's own, snntorch's and norse's, and their agreement with the model.

spikegym's reader (:class:`NIRPolicy`) runs a graph written by
:func:`~spikegym.rl.export.export_policy` as NIR defines it (forward Euler at
the metadata's ``dt``, in float64); :func:`load_reader` loads the same graph
in snntorch (``import_from_nir``, needs nirtorch) or norse (``from_nir``), and
:func:`compare` runs recorded observations through a reader and the trained
model (``spikegym export --check``).

>>> READERS
('spikegym', 'snntorch', 'norse')
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import nir
import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from torch import nn

from spikegym.rl.acting import Agent
from spikegym.rl.export import DISCRETE_RULE, DT, SQUASHED_RULE, Actor, ExportError

logger = logging.getLogger(__name__)

AGREEMENT = 0.99
"""The share of recorded observations on which a reader must give the trained model's actions."""
TOLERANCE = 1e-4
"""How far a continuous actor's pre-squash outputs in a reader may be from the trained model's."""
READERS = ("spikegym", "snntorch", "norse")
"""The readers :func:`compare` runs: spikegym's own (:func:`load_policy`), snntorch's and norse's."""


class ReaderMissing(ImportError):
    """A NIR reader (snntorch's needs nirtorch; norse) that is not installed."""


class NIRPolicy(nn.Module):
    """spikegym's NIR reader: runs a chain graph ``Input -> (Affine | LIF | IF | CubaLIF)* -> Output`` as NIR defines it
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
        if not isinstance(graph.nodes[name], nir.Affine | nir.LIF | nir.IF | nir.CubaLIF):
            raise ExportError(
                f"spikegym's NIR reader runs Affine, LIF, IF and CubaLIF nodes; {name!r} is "
                f"{type(graph.nodes[name]).__name__}"
            )
        names.append(name)
        name = following.get(name)
    if name != "output":
        raise ExportError("the NIR graph has no chain of edges from 'input' to 'output'")
    return names


def _step(node: nir.NIRNode, value: np.ndarray, state: np.ndarray | None, dt: float) -> tuple[np.ndarray, Any]:
    if isinstance(node, nir.Affine):
        return value @ np.asarray(node.weight, np.float64).T + np.asarray(node.bias, np.float64), None
    if isinstance(node, nir.CubaLIF):
        return _cuba_lif_step(node, value, state, dt)
    membrane = np.zeros_like(value) if state is None else state
    if isinstance(node, nir.LIF):
        tau, r, leak = (np.asarray(a, np.float64) for a in (node.tau, node.r, node.v_leak))
        membrane = membrane + dt / tau * ((leak - membrane) + r * value)
    else:
        membrane = membrane + dt * np.asarray(node.r, np.float64) * value
    spikes = membrane > np.asarray(node.v_threshold, np.float64)
    return spikes.astype(np.float64), np.where(spikes, np.asarray(node.v_reset, np.float64), membrane)


def _cuba_lif_step(
    node: nir.CubaLIF, value: np.ndarray, state: tuple[np.ndarray, np.ndarray] | None, dt: float
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    current, membrane = (np.zeros_like(value), np.zeros_like(value)) if state is None else state
    tau_syn, tau_mem, r, leak, w_in = (
        np.asarray(a, np.float64) for a in (node.tau_syn, node.tau_mem, node.r, node.v_leak, node.w_in)
    )
    current = current + dt / tau_syn * (-current + w_in * value)
    membrane = membrane + dt / tau_mem * ((leak - membrane) + r * current)
    spikes = membrane > np.asarray(node.v_threshold, np.float64)
    return spikes.astype(np.float64), (current, np.where(spikes, np.asarray(node.v_reset, np.float64), membrane))


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
    neurons = [module for module in network.modules() if isinstance(module, snn.Leaky | snn.Synaptic)]

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


def record_episodes(model: BaseAlgorithm, env: gym.Env, n_steps: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n_steps`` observations ``(n_steps, T, C)`` of ``env`` (the run's spike observations) as ``model`` acts
    on them deterministically (a stateful model carrying its state, restarted at each episode's start), and
    whether each starts an episode ``(n_steps,)``; episodes restart as they end, the first reset seeded with
    ``seed``."""
    observations, starts = [], []
    agent = Agent(model)
    observation, _ = env.reset(seed=seed)
    for _ in range(n_steps):
        observations.append(observation)
        starts.append(agent.starting)
        observation, _, terminated, truncated, _ = env.step(agent(observation))
        if terminated or truncated:
            observation, _ = env.reset()
            agent.episode_started()
    return np.stack(observations), np.array(starts)


def record_observations(model: BaseAlgorithm, env: gym.Env, n_steps: int, seed: int = 0) -> np.ndarray:
    """The observations of :func:`record_episodes`."""
    return record_episodes(model, env, n_steps, seed)[0]


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
    actor: Actor,
    graph: nir.NIRGraph,
    observations: np.ndarray,
    readers: Sequence[str] = READERS,
    starts: np.ndarray | None = None,
) -> list[Agreement]:
    """Run ``observations`` (spike blocks ``(N, T, C)``) through each reader and through the trained model; a
    reader that is not installed or fails on the graph is reported as such (:attr:`Agreement.problem`).

    A stateful actor's observations are episodes, each starting where ``starts`` ``(N,)`` is set
    (:func:`record_episodes`); each reader runs each episode as one sequence of sub-steps from zero state.
    """
    blocks = np.asarray(observations)
    expected = actor.scores(blocks, starts)
    results = []
    for reader in readers:
        try:
            runner = load_reader(reader, graph)
            outputs = _run_episodes(runner, blocks, starts) if actor.stateful else runner(blocks)
        except ReaderMissing as error:
            results.append(Agreement(reader, len(blocks), problem=f"not installed: {error}"))
            continue
        except Exception as error:  # a reader that cannot run the graph: report it, do not stop the others
            results.append(Agreement(reader, len(blocks), problem=f"failed: {type(error).__name__}: {error}"))
            continue
        results.append(_agreement(reader, actor, expected, outputs))
    return results


def _run_episodes(runner: Runner, blocks: np.ndarray, starts: np.ndarray | None) -> np.ndarray:
    """The reader's outputs ``(N, T, n_out)`` with each episode of ``blocks`` ``(N, T, C)`` run as one sequence."""
    if starts is None:
        raise ValueError("a stateful actor's observations need their episode starts (record_episodes)")
    firsts = np.flatnonzero(np.asarray(starts, bool)[1:]) + 1
    outputs = []
    for episode in np.split(blocks, firsts):
        sequence = episode.reshape(1, -1, episode.shape[-1])
        outputs.append(runner(sequence).reshape(len(episode), episode.shape[1], -1))
    return np.concatenate(outputs)


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
