"""Real clients of the ``spikegym/<env id>`` registrations: SB3's ``make_vec_env`` and rl-baselines3-zoo's ``train``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import yaml
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

import spikegym  # noqa: F401  (registers the spikegym/<env id> ids)
from spikegym.rl import SpikingExtractor

POLICY_KWARGS = (
    "dict(features_extractor_class=__import__('spikegym.rl', fromlist=['SpikingExtractor']).SpikingExtractor,"
    " features_extractor_kwargs=dict(hidden=(16,)), net_arch=[])"
)
"""rl-zoo evals ``policy_kwargs`` strings in its own module: ``__import__`` reaches spikegym's classes from there."""


def test_sb3_make_vec_env_builds_the_encoded_env_from_its_id() -> None:
    envs = make_vec_env("spikegym/CartPole-v1", n_envs=2, seed=0, env_kwargs={"encoder": "sf", "substeps": 4})
    observations = envs.reset()
    assert envs.observation_space == gym.spaces.MultiBinary((4, 8))
    assert observations.shape == (2, 4, 8) and set(np.unique(observations)) <= {0, 1}


def test_rl_zoo_trains_a_spiking_agent_on_a_spikegym_id_and_sb3_loads_it(tmp_path: Path) -> None:
    hyperparams = {
        "spikegym/CartPole-v1": {
            "n_timesteps": 256,
            "policy": "MlpPolicy",
            "n_envs": 2,
            "n_steps": 64,
            "batch_size": 64,
            "n_epochs": 1,
            "policy_kwargs": POLICY_KWARGS,
        }
    }
    (tmp_path / "ppo.yml").write_text(yaml.safe_dump(hyperparams))
    command = [
        sys.executable, "-m", "rl_zoo3.train",
        "--algo", "ppo", "--env", "spikegym/CartPole-v1", "--gym-packages", "spikegym",
        "--conf-file", "ppo.yml", "--log-folder", "logs", "--seed", "0", "--eval-freq", "-1", "--num-threads", "1",
        "--env-kwargs", "encoder:'rate'", "substeps:4",
    ]  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    (run,) = (tmp_path / "logs" / "ppo").iterdir()
    model = PPO.load(run / "spikegym-CartPole-v1.zip", device="cpu")
    assert isinstance(model.policy.features_extractor, SpikingExtractor)
    assert model.num_timesteps == 256
    assert model.observation_space == gym.spaces.MultiBinary((4, 4))
    saved = yaml.unsafe_load((run / "spikegym-CartPole-v1" / "args.yml").read_text())
    assert dict(saved)["env_kwargs"] == {"encoder": "rate", "substeps": 4}

    env = gym.make("spikegym/CartPole-v1", encoder="rate", substeps=4)
    observation, _ = env.reset(seed=0)
    steps = 0
    for _ in range(20):
        action, _ = model.predict(observation, deterministic=True)
        assert env.action_space.contains(int(action))
        observation, _, terminated, truncated, _ = env.step(int(action))
        steps += 1
        if terminated or truncated:
            break
    assert steps > 0 and observation.shape == (4, 4)
