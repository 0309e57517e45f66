"""Spiking reinforcement learning with stable-baselines3: policies, training, replay, cost, NIR.

What is here: the spiking feature extractor and the learnable population
encoder (:mod:`~spikegym.rl.extractors`), SAC/TD3 policies for spiking
actors (:mod:`~spikegym.rl.policies`), recipes per algorithm and env
(:mod:`~spikegym.rl.recipes`), training into run directories that survive being
stopped (:mod:`~spikegym.rl.training`, :mod:`~spikegym.rl.interrupt`,
:mod:`~spikegym.rl.runs`), replay and the cost
per decision (:mod:`~spikegym.rl.replay`, :mod:`~spikegym.rl.energy`, energy models with their sources in
:mod:`~spikegym.rl.energy_models`, NeuroBench's counts in :mod:`~spikegym.rl.neurobench_metrics`), NIR
export and the readers that check it (:mod:`~spikegym.rl.export`,
:mod:`~spikegym.rl.nir_readers`) and rollouts recorded with a trained agent
(:mod:`~spikegym.rl.rollouts`).

May import: :mod:`spikegym.encoders`, :mod:`spikegym.envs`, stable-baselines3,
snntorch, nir, torch; never :mod:`spikegym.tuning` or :mod:`spikegym.cli`.

>>> from stable_baselines3 import PPO
>>> import spikegym
>>> from spikegym.rl import SpikingExtractor
>>> model = PPO("MlpPolicy", spikegym.make("CartPole-v1"), n_steps=64, batch_size=64,
...             policy_kwargs={"features_extractor_class": SpikingExtractor, "net_arch": []})
>>> type(model.policy.features_extractor).__name__
'SpikingExtractor'
"""

from spikegym.rl.extractors import LearnablePopulationEncoder, SpikingExtractor
from spikegym.rl.policies import PopulationSACPolicy, PopulationTD3Policy, SpikingSACPolicy, SpikingTD3Policy

__all__ = [
    "LearnablePopulationEncoder",
    "PopulationSACPolicy",
    "PopulationTD3Policy",
    "SpikingExtractor",
    "SpikingSACPolicy",
    "SpikingTD3Policy",
]
