"""Policies for spiking actors: SAC/TD3 critic choice, PPO/A2C value nets (shared, spiking, MLP), the population
head."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.env_util import make_vec_env

from spikegym.envs.wrappers import SpikeObservationWrapper
from spikegym.rl.extractors import SpikingExtractor
from spikegym.rl.replay import actor_parts
from spikegym.rl.training import build_model
from tests.rl.helpers import tiny_recipe


@pytest.mark.parametrize("algo", ["sac", "td3"])
@pytest.mark.parametrize("critic", ["spiking", "mlp"])
def test_off_policy_critics_are_spiking_or_mlps_and_the_choice_survives_saving(
    algo: str, critic: str, tmp_path: Path
) -> None:
    recipe = dataclasses.replace(
        tiny_recipe(algo, "Pendulum-v1", learning_starts=10, buffer_size=100, batch_size=8), critic=critic
    )
    env = make_vec_env(
        "Pendulum-v1", seed=0, wrapper_class=SpikeObservationWrapper, wrapper_kwargs={"encoder": "Pendulum-v1"}
    )
    model = build_model(recipe, env, seed=0, spiking=True)
    assert isinstance(model.policy.actor.features_extractor, SpikingExtractor)
    for critic_net in (model.policy.critic, model.policy.critic_target):
        spiking = any(isinstance(m, SpikingExtractor) for m in critic_net.modules())
        assert spiking == (critic == "spiking")
    critic_before = [p.detach().clone() for p in model.policy.critic.parameters()]
    model.learn(total_timesteps=40)
    assert any(not torch.equal(a, b) for a, b in zip(critic_before, model.policy.critic.parameters(), strict=True))
    model.save(tmp_path / "model.zip")
    loaded = type(model).load(tmp_path / "model.zip", device="cpu")
    assert loaded.policy.critic_network == critic
    for name, value in model.policy.critic.state_dict().items():
        torch.testing.assert_close(loaded.policy.critic.state_dict()[name], value)


def test_an_unknown_critic_is_refused() -> None:
    from spikegym.rl.policies import SpikingSACPolicy

    env = SpikeObservationWrapper(gym.make("Pendulum-v1"), encoder="Pendulum-v1")
    with pytest.raises(ValueError, match="critic must be 'spiking' or 'mlp', got 'ann'"):
        SpikingSACPolicy(env.observation_space, env.action_space, lambda _: 1e-3, critic="ann")


@pytest.mark.parametrize("algo", ["ppo", "a2c"])
@pytest.mark.parametrize("critic", [None, "shared", "spiking"])
def test_on_policy_value_nets_share_the_actors_spiking_features_or_have_their_own(
    algo: str, critic: str | None
) -> None:
    batch = {"batch_size": 16} if algo == "ppo" else {}
    recipe = dataclasses.replace(tiny_recipe(algo, "CartPole-v1", n_steps=16, **batch), critic=critic)
    env = make_vec_env(
        "CartPole-v1", seed=0, wrapper_class=SpikeObservationWrapper, wrapper_kwargs={"encoder": "CartPole-v1"}
    )
    policy = build_model(recipe, env, seed=0, spiking=True).policy
    assert isinstance(policy.pi_features_extractor, SpikingExtractor)
    assert isinstance(policy.vf_features_extractor, SpikingExtractor)
    assert (policy.vf_features_extractor is policy.pi_features_extractor) == (critic != "spiking")


@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_an_mlp_value_net_reads_the_flattened_spike_block_trains_and_survives_saving(algo: str, tmp_path: Path) -> None:
    batch = {"batch_size": 16} if algo == "ppo" else {}
    recipe = dataclasses.replace(tiny_recipe(algo, "CartPole-v1", n_steps=16, **batch), critic="mlp")
    env = make_vec_env(
        "CartPole-v1", seed=0, wrapper_class=SpikeObservationWrapper, wrapper_kwargs={"encoder": "CartPole-v1"}
    )
    model = build_model(recipe, env, seed=0, spiking=True)
    policy = model.policy
    assert isinstance(policy.pi_features_extractor, SpikingExtractor)
    assert not any(isinstance(m, SpikingExtractor) for m in policy.vf_features_extractor.modules())
    value_layers = [m for m in policy.mlp_extractor.value_net if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in value_layers] == list(recipe.ann_net_arch)
    assert value_layers[0].in_features == int(np.prod(env.observation_space.shape))
    assert not any(p is q for p in policy.pi_features_extractor.parameters() for q in value_layers[0].parameters())
    actor_before = [p.detach().clone() for p in policy.pi_features_extractor.parameters()]
    value_before = [p.detach().clone() for p in policy.mlp_extractor.value_net.parameters()]
    model.learn(total_timesteps=32)
    trained = ((actor_before, policy.pi_features_extractor), (value_before, policy.mlp_extractor.value_net))
    for before, module in trained:
        assert any(not torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))
    model.save(tmp_path / "model.zip")
    loaded = type(model).load(tmp_path / "model.zip", device="cpu")
    assert loaded.policy.critic_network == "mlp"
    observations = torch.as_tensor(np.stack([env.observation_space.sample() for _ in range(5)]))
    with torch.no_grad():
        torch.testing.assert_close(loaded.policy.predict_values(observations), policy.predict_values(observations))


def test_an_unknown_on_policy_critic_is_refused() -> None:
    from spikegym.rl.policies import SpikingActorCriticPolicy

    env = SpikeObservationWrapper(gym.make("CartPole-v1"), encoder="CartPole-v1")
    with pytest.raises(ValueError, match="critic must be 'spiking' or 'mlp', got 'shared'"):
        SpikingActorCriticPolicy(env.observation_space, env.action_space, lambda _: 1e-3, critic="shared")


@pytest.mark.parametrize("algo", ["sac", "td3"])
def test_the_population_action_head_decodes_each_action_from_its_own_group(algo: str) -> None:
    from spikegym.rl.policies import PopulationDecoder

    recipe = tiny_recipe(algo, "Pendulum-v1", population_head=5, learning_starts=10, buffer_size=100, batch_size=8)
    env = make_vec_env("Pendulum-v1", n_envs=1, seed=0, wrapper_class=SpikeObservationWrapper,
                       wrapper_kwargs={"encoder": "Pendulum-v1"})  # fmt: skip
    model = build_model(recipe, env, seed=0, spiking=True)
    extractor, head = actor_parts(model)
    assert extractor.layers[-1].out_features == 1 * 5 and extractor.readout == "spike_count"
    decoders = [m for part in head for m in part.modules() if isinstance(m, PopulationDecoder)]
    assert len(decoders) == 1 and decoders[0].weight.shape == (1, 5)
    before = decoders[0].weight.detach().clone()
    model.learn(total_timesteps=60)
    assert not torch.equal(before, decoders[0].weight), "the decoder is trained"
    rates = torch.zeros(1, 5)
    rates[0, 2] = 1.0
    assert torch.allclose(decoders[0](rates), decoders[0].weight[:, 2] + decoders[0].bias)
