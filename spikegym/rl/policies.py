"""SB3 policies for spiking actors: PPO/A2C, SAC and TD3 with a choice of critics, and PopSAN's population
action head.

The actor runs a :class:`~spikegym.rl.extractors.SpikingExtractor`; the
critics only train it and are never deployed, so they may be spiking (SB3's
default: each with its own extractor) or MLPs over the flattened spike block
(``critic="mlp"``, PopSAN's split).
"""

from __future__ import annotations

from typing import Literal

import torch
from stable_baselines3.common.policies import ActorCriticPolicy, BasePolicy, ContinuousCritic
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor, MlpExtractor
from stable_baselines3.sac.policies import SACPolicy
from stable_baselines3.td3.policies import TD3Policy
from torch import nn


class PopulationDecoder(nn.Module):
    """PopSAN's action decoder: each action dimension is a learnable weighted sum of its own group's
    firing rates, ``a_i = w_i . r_i + b_i``, for rates ``(B, n_actions * population)``.

    >>> PopulationDecoder(n_actions=2, population=3)(torch.ones(4, 6)).shape
    torch.Size([4, 2])
    """

    def __init__(self, n_actions: int, population: int) -> None:
        super().__init__()
        self.n_actions, self.population = n_actions, population
        self.weight = nn.Parameter(torch.randn(n_actions, population) / population**0.5)
        self.bias = nn.Parameter(torch.zeros(n_actions))

    def forward(self, rates: torch.Tensor) -> torch.Tensor:
        grouped = rates.view(rates.shape[0], self.n_actions, self.population)
        return (grouped * self.weight).sum(dim=-1) + self.bias


def _population_decoder(policy: BasePolicy, features_dim: int, latent_dim: int) -> PopulationDecoder:
    n_actions = get_action_dim(policy.action_space)
    if latent_dim != features_dim or features_dim % n_actions:
        raise ValueError(
            f"a population action head needs net_arch pi=[] and a last spiking layer of n_actions x population "
            f"neurons; got {features_dim} features and a latent of {latent_dim} for {n_actions} action dimensions"
        )
    return PopulationDecoder(n_actions, features_dim // n_actions)


class _CriticChoice:
    """Builds the critics of an off-policy actor-critic: spiking (the SB3 default, each critic with its own
    features extractor) or MLPs over the flattened observation (``critic="mlp"``, PopSAN's split)."""

    def __init__(self, *args: object, critic: Literal["spiking", "mlp"] = "spiking", **kwargs: object) -> None:
        if critic not in ("spiking", "mlp"):
            raise ValueError(f"critic must be 'spiking' or 'mlp', got {critic!r}")
        self.critic_network = critic
        super().__init__(*args, **kwargs)

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> ContinuousCritic:
        if self.critic_network == "spiking":
            return super().make_critic(features_extractor)
        kwargs = self._update_features_extractor(self.critic_kwargs, FlattenExtractor(self.observation_space))
        return ContinuousCritic(**kwargs).to(self.device)

    def _get_constructor_parameters(self) -> dict[str, object]:
        return {**super()._get_constructor_parameters(), "critic": self.critic_network}


class SpikingSACPolicy(_CriticChoice, SACPolicy):
    """SAC for a spiking actor, with spiking critics or, with ``critic="mlp"``, MLP critics (PopSAN's split).

    The actor runs ``features_extractor_class`` (a :class:`SpikingExtractor`).
    The critics and their targets only train the actor and are never
    deployed; as MLPs (``net_arch["qf"]``) over the flattened observation
    they cost less per update than two more spiking networks (a 64-64 actor
    on MountainCarContinuous-v0 trained 1.9x faster with MLP critics).

    >>> from stable_baselines3 import SAC
    >>> import spikegym
    >>> from spikegym.rl import SpikingExtractor
    >>> env = spikegym.make("Pendulum-v1")
    >>> kwargs = {"features_extractor_class": SpikingExtractor, "net_arch": {"pi": [], "qf": [64]}, "critic": "mlp"}
    >>> model = SAC(SpikingSACPolicy, env, policy_kwargs=kwargs)
    >>> type(model.policy.critic.features_extractor).__name__
    'FlattenExtractor'
    """


class SpikingTD3Policy(_CriticChoice, TD3Policy):
    """TD3 for a spiking actor, with spiking or (``critic="mlp"``) MLP critics, as :class:`SpikingSACPolicy`."""


class PopulationSACPolicy(SpikingSACPolicy):
    """:class:`SpikingSACPolicy` whose actor mean is decoded from groups of spiking neurons (PopSAN); use
    with a :class:`SpikingExtractor` whose last layer has ``n_actions x population`` neurons and
    ``readout="spike_count"``, and ``net_arch={"pi": [], "qf": [...]}``."""

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> nn.Module:
        actor = super().make_actor(features_extractor)
        latent = actor.features_dim if len(actor.latent_pi) == 0 else -1
        actor.mu = _population_decoder(self, actor.features_dim, latent)
        return actor


class PopulationTD3Policy(SpikingTD3Policy):
    """:class:`SpikingTD3Policy` whose deterministic action is decoded from groups of spiking neurons
    (PopSAN, then tanh)."""

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> nn.Module:
        actor = super().make_actor(features_extractor)
        hidden = [m for m in actor.mu if isinstance(m, nn.Linear)]
        latent = hidden[-1].in_features if len(hidden) == 1 else -1
        actor.mu = nn.Sequential(_population_decoder(self, actor.features_dim, latent), nn.Tanh())
        return actor


class SplitMlpExtractor(nn.Module):
    """SB3's ``MlpExtractor`` interface over two inputs of different widths: the actor's features and the
    critic's flattened observation."""

    def __init__(self, actor: MlpExtractor, critic: MlpExtractor) -> None:
        super().__init__()
        self.policy_net, self.value_net = actor.policy_net, critic.value_net
        self.latent_dim_pi, self.latent_dim_vf = actor.latent_dim_pi, critic.latent_dim_vf

    def forward(self, features: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_actor(features[0]), self.forward_critic(features[1])

    def forward_actor(self, features: torch.Tensor) -> torch.Tensor:
        return self.policy_net(features)

    def forward_critic(self, features: torch.Tensor) -> torch.Tensor:
        return self.value_net(features)


class SpikingActorCriticPolicy(ActorCriticPolicy):
    """PPO/A2C's policy for a spiking actor whose value net is an MLP over the flattened spike block
    (``critic="mlp"``): the value net only trains the actor and is never deployed or exported, so it may be
    any network, and an MLP fits returns that a spike-count read-out reaches only slowly.

    ``net_arch`` takes SB3's form: ``{"pi": [...], "vf": [...]}`` (``pi`` after the spiking extractor,
    ``vf`` the MLP's hidden layers); ``critic="spiking"`` is SB3's own policy with separate extractors.

    >>> from stable_baselines3 import PPO
    >>> from spikegym.rl.extractors import SpikingExtractor
    >>> kwargs = {"features_extractor_class": SpikingExtractor, "net_arch": {"pi": [], "vf": [64]}, "critic": "mlp"}
    >>> model = PPO(SpikingActorCriticPolicy, "CartPole-v1", policy_kwargs=kwargs)  # doctest: +SKIP
    """

    def __init__(self, *args: object, critic: Literal["spiking", "mlp"] = "mlp", **kwargs: object) -> None:
        if critic not in ("spiking", "mlp"):
            raise ValueError(f"critic must be 'spiking' or 'mlp', got {critic!r}")
        self.critic_network = critic
        super().__init__(*args, **{**kwargs, "share_features_extractor": False})

    def _build_mlp_extractor(self) -> None:
        if self.critic_network == "spiking":
            super()._build_mlp_extractor()
            return
        arch = self.net_arch if isinstance(self.net_arch, dict) else {"pi": self.net_arch, "vf": self.net_arch}
        self.vf_features_extractor = FlattenExtractor(self.observation_space)
        actor = MlpExtractor(self.features_dim, {"pi": arch.get("pi", []), "vf": []}, self.activation_fn)
        critic = MlpExtractor(self.vf_features_extractor.features_dim, {"pi": [], "vf": arch.get("vf", [])},
                              self.activation_fn)  # fmt: skip
        self.mlp_extractor = SplitMlpExtractor(actor, critic).to(self.device)

    def _get_constructor_parameters(self) -> dict[str, object]:
        return {**super()._get_constructor_parameters(), "critic": self.critic_network}
