"""A stateful spiking policy: the spiking layers as the recurrent core of sb3-contrib's ``RecurrentPPO``.

A stateless policy (:class:`~spikegym.rl.extractors.SpikingExtractor` in
PPO, DQN, SAC) starts its membranes from zero at every observation, so it
reads each ``T``-sub-step window alone. :class:`SpikingRecurrentPolicy`
carries every layer's membranes (and the spikes of its last sub-step, which
a delayed reset still owes) from one env step to the next, restarting them
at episode start, so a temporal code (step-forward, LIF, BSA, PWM), which
carries changes, is integrated over the episode. sb3-contrib's
``RecurrentPPO`` keeps the state per env, stores it and the episode starts in
its rollout buffer, and cuts the rollout into sequences; the policy replaces
its LSTM by a :class:`SpikingRecurrentCore`, which runs a sequence of ``L``
env steps as one scan of ``L x T`` sub-steps (zeroing the state where an
episode starts), so training is backpropagation through time over the
sequence.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from stable_baselines3.common.torch_layers import MlpExtractor
from torch import nn

from spikegym.rl.extractors import DEFAULT_HIDDEN, LayerState, SpikingExtractor
from spikegym.rl.policies import SplitMlpExtractor

RecurrentState = tuple[torch.Tensor, torch.Tensor]
"""RecurrentPPO's state of one network: ``(h, c)``, each ``(1, n_envs, size)``; for a spiking core every layer's
membranes (``h``) and last spikes (``c``) side by side."""
CRITICS: tuple[str, ...] = ("lstm", "spiking")
"""The value networks of :class:`SpikingRecurrentPolicy`: an LSTM over the flattened spike blocks (sb3-contrib's
own) or a second spiking core."""


def sequence_features(
    extractor: SpikingExtractor,
    observations: torch.Tensor,
    starts: torch.Tensor,
    states: Sequence[LayerState] | None = None,
) -> tuple[torch.Tensor, list[LayerState]]:
    """The extractor's features ``(n_seq * L, N)``, one per observation, for ``n_seq`` sequences of ``L``
    observations ``(n_seq * L, T, C)`` (sequence-major) read as one run each, from ``states`` (``None``: zeros),
    zeroed before the observations ``starts`` ``(n_seq, L)`` marks; and each layer's state after the last.

    >>> extractor = SpikingExtractor(gym.spaces.MultiBinary((4, 6)), hidden=(8,))
    >>> blocks, starts = torch.ones(6, 4, 6), torch.tensor([[True, False, False], [True, False, True]])
    >>> features, _ = sequence_features(extractor, blocks, starts)
    >>> torch.equal(features[0], extractor(blocks[:1])[0]), torch.equal(features[1], extractor(blocks[1:2])[0])
    (True, False)
    """
    n_seq, length = starts.shape
    inputs = extractor.spike_inputs(observations)
    steps = inputs.shape[1]
    spikes, membranes, final = extractor.run_layers(inputs.reshape(n_seq, length * steps, -1), states, starts)
    per_step = (n_seq * length, steps, spikes.shape[-1])
    return extractor.read_out(spikes.reshape(per_step), membranes.reshape(per_step)), final


class SpikingRecurrentCore(nn.Module):
    """Spiking layers that carry their state across env steps, in the place of RecurrentPPO's ``nn.LSTM``.

    It has the LSTM's interface where RecurrentPPO reads it (``input_size``,
    ``hidden_size``, ``num_layers``), with every layer's membranes as the hidden
    state ``h`` and their last sub-step's spikes as ``c`` (``hidden_size`` is
    the sum of the layer sizes), and a first layer's synaptic current (``alpha``) after them in ``h``
    (zeros in ``c``). The layers are a
    :class:`~spikegym.rl.extractors.SpikingExtractor` (:attr:`extractor`),
    whose read-out of each env step's ``T`` sub-steps is the output.

    :param observation_space: the spike blocks ``MultiBinary((T, C))`` (or scaled values, as the extractor takes).
    :param extractor_kwargs: the :class:`~spikegym.rl.extractors.SpikingExtractor` options (``hidden``, ``beta``, ...).

    >>> core = SpikingRecurrentCore(gym.spaces.MultiBinary((4, 6)), hidden=(8, 3))
    >>> state = (torch.zeros(1, 2, 11), torch.zeros(1, 2, 11))
    >>> out, state = core(torch.ones(2, 24), state, torch.zeros(2))
    >>> tuple(out.shape), tuple(state[0].shape)
    ((2, 3), (1, 2, 11))
    """

    num_layers = 1

    def __init__(self, observation_space: gym.Space, **extractor_kwargs: Any) -> None:
        super().__init__()
        self.extractor = SpikingExtractor(observation_space, **extractor_kwargs)
        self.sizes = self.extractor.state_sizes
        self.observation_shape = tuple(observation_space.shape)
        self.input_size = int(np.prod(self.observation_shape))
        self.hidden_size = sum(self.sizes)

    def forward(
        self, features: torch.Tensor, state: RecurrentState, episode_starts: torch.Tensor
    ) -> tuple[torch.Tensor, RecurrentState]:
        """The last layer's read-outs ``(n_seq * L, N)`` for the flattened observations ``(n_seq * L, input_size)``
        of ``n_seq`` sequences of ``L`` env steps (sequence-major, as RecurrentPPO orders them), from ``state``
        ``(h, c)`` ``(1, n_seq, hidden_size)``, zeroed where ``episode_starts`` ``(n_seq * L,)`` is set; and the
        new state."""
        observations = features.reshape(features.shape[0], *self.observation_shape)
        starts = episode_starts.reshape(state[0].shape[1], -1).bool()
        out, final = sequence_features(self.extractor, observations, starts, self._layer_states(state))
        return out, self._pack(final)

    def _layer_states(self, state: RecurrentState) -> list[LayerState]:
        membranes, spikes = (part[0].split(self.sizes, dim=-1) for part in state)
        return list(zip(membranes, spikes, strict=True))

    @staticmethod
    def _pack(final: Sequence[LayerState]) -> RecurrentState:
        membranes, spikes = zip(*final, strict=True)
        return torch.cat(membranes, dim=-1).unsqueeze(0), torch.cat(spikes, dim=-1).unsqueeze(0)


class SpikingRecurrentPolicy(RecurrentActorCriticPolicy):
    """RecurrentPPO's policy with a spiking recurrent core (:class:`SpikingRecurrentCore`) as its actor.

    :param spiking_kwargs: the spiking layers' options (:class:`~spikegym.rl.extractors.SpikingExtractor`).
    :param critic: the value network, which only trains the actor and is never deployed or exported:
        ``lstm`` (sb3-contrib's LSTM over the flattened spike blocks, as large as the actor's state) or
        ``spiking`` (a second spiking core).

    ``net_arch`` takes SB3's form, ``{"pi": [...], "vf": [...]}``: ``pi`` after the spiking core (``[]``: a
    linear action head), ``vf`` the value MLP after the critic. The observations are flattened (SB3's
    ``FlattenExtractor``); the core restores the ``(T, C)`` blocks.

    >>> from sb3_contrib import RecurrentPPO
    >>> import spikegym
    >>> kwargs = {"spiking_kwargs": {"hidden": [16, 8]}, "net_arch": {"pi": [], "vf": [32]}}
    >>> model = RecurrentPPO(SpikingRecurrentPolicy, spikegym.make("CartPole-v1"), n_steps=32, policy_kwargs=kwargs)
    >>> type(model.policy.lstm_actor).__name__, model.policy.lstm_actor.hidden_size
    ('SpikingRecurrentCore', 24)
    """

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        lr_schedule: Any,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        *args: Any,
        spiking_kwargs: Mapping[str, Any] | None = None,
        critic: Literal["lstm", "spiking"] = "lstm",
        **kwargs: Any,
    ) -> None:
        if critic not in CRITICS:
            raise ValueError(f"critic must be one of {list(CRITICS)}, got {critic!r}")
        self.spiking_kwargs = dict(spiking_kwargs or {})
        self.critic_network = critic
        hidden = [int(size) for size in self.spiking_kwargs.get("hidden", DEFAULT_HIDDEN)]
        synapse = hidden[0] if self.spiking_kwargs.get("alpha") is not None else 0
        self.core_sizes = (sum(hidden) + synapse, hidden[-1])
        super().__init__(
            observation_space, action_space, lr_schedule, net_arch, *args,
            lstm_hidden_size=self.core_sizes[0], n_lstm_layers=1, shared_lstm=False,
            enable_critic_lstm=critic == "lstm", **kwargs,
        )  # fmt: skip
        self.lstm_actor = SpikingRecurrentCore(observation_space, **self.spiking_kwargs)
        if critic == "spiking":
            self.lstm_critic = SpikingRecurrentCore(observation_space, **self.spiking_kwargs)
        if self.ortho_init:  # the gain SB3 gives a features extractor, as the stateless spiking policy gets
            for core in (self.lstm_actor, self.lstm_critic):
                if isinstance(core, SpikingRecurrentCore):
                    core.apply(functools.partial(self.init_weights, gain=np.sqrt(2)))
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def _build_mlp_extractor(self) -> None:
        arch = self.net_arch if isinstance(self.net_arch, dict) else {"pi": self.net_arch, "vf": self.net_arch}
        state_size, readout = self.core_sizes
        critic_size = state_size if self.critic_network == "lstm" else readout
        actor = MlpExtractor(readout, {"pi": arch.get("pi", []), "vf": []}, self.activation_fn, self.device)
        critic = MlpExtractor(critic_size, {"pi": [], "vf": arch.get("vf", [])}, self.activation_fn, self.device)
        self.mlp_extractor = SplitMlpExtractor(actor, critic).to(self.device)

    @staticmethod
    def _process_sequence(
        features: torch.Tensor, lstm_states: RecurrentState, episode_starts: torch.Tensor, lstm: nn.Module
    ) -> tuple[torch.Tensor, RecurrentState]:
        if isinstance(lstm, SpikingRecurrentCore):
            return lstm(features, lstm_states, episode_starts)
        return RecurrentActorCriticPolicy._process_sequence(features, lstm_states, episode_starts, lstm)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        for fixed in ("lstm_hidden_size", "n_lstm_layers", "shared_lstm", "enable_critic_lstm"):
            data.pop(fixed)
        return {**data, "spiking_kwargs": self.spiking_kwargs, "critic": self.critic_network}
