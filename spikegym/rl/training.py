"""Training spiking (and baseline MLP) agents with stable-baselines3, into run directories."""

from __future__ import annotations

import datetime
import logging
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.common.vec_env import VecEnv

from spikegym._version import __version__
from spikegym.encoders import encoder_class
from spikegym.envs.bounds import resolve_bounds
from spikegym.envs.configs import EncoderConfig, is_config_path, load_config
from spikegym.envs.layout import ObservationLayout
from spikegym.envs.wrappers import ScaledObservationWrapper, SpikeObservationWrapper
from spikegym.rl.extractors import SpikingExtractor
from spikegym.rl.policies import PopulationSACPolicy, PopulationTD3Policy, SpikingSACPolicy, SpikingTD3Policy
from spikegym.rl.recipes import CRITICS, Recipe, load_recipe
from spikegym.rl.runs import MODEL_FILE, Run, RunError, RunInfo, new_run_dir, write_run

logger = logging.getLogger(__name__)

ALGORITHMS: dict[str, type[BaseAlgorithm]] = {"a2c": A2C, "dqn": DQN, "ppo": PPO, "sac": SAC, "td3": TD3}
LEARNABLE = "learnable_population"
"""``--encoder`` value for scaled raw observations and a learnable population encoder inside the policy."""


def resolve_encoder(env_id: str, encoder: str | None) -> EncoderConfig:
    """The encoder config to train with: ``env_id``'s config (default), a ``.yaml`` config, or an
    encoder name with default parameters and the bounds the wrapper resolves for the env."""
    if encoder is None or encoder in (env_id, LEARNABLE):
        return load_config(env_id)
    if is_config_path(encoder):
        return load_config(encoder)
    layout = ObservationLayout.of(gym.make(env_id).observation_space)
    low, high = resolve_bounds(layout, None, env_id)
    return EncoderConfig(
        env_id, encoder_class(encoder).name, {}, low=low.tolist(), high=high.tolist(), features=list(layout.names)
    )


def make_env(env_id: str, n_envs: int, seed: int, config: EncoderConfig | None, learnable: bool = False) -> VecEnv:
    """SB3 vec env of ``env_id`` with spike observations from ``config``, scaled observations with its
    bounds (``learnable``), or raw observations (``config`` ``None``)."""
    if config is None:
        return make_vec_env(env_id, n_envs=n_envs, seed=seed)
    if learnable:
        return make_vec_env(
            env_id, n_envs=n_envs, seed=seed, wrapper_class=ScaledObservationWrapper, wrapper_kwargs={"config": config}
        )
    return make_vec_env(
        env_id, n_envs=n_envs, seed=seed, wrapper_class=SpikeObservationWrapper, wrapper_kwargs={"encoder": config}
    )


def policy_kwargs(recipe: Recipe, spiking: bool, action_space: gym.Space) -> dict[str, Any]:
    """SB3 ``policy_kwargs``: the spiking extractor and head of the recipe, or its MLP baseline.

    With a ``population_head``, the extractor gains an output layer of
    ``n_actions x population_head`` neurons read out as spike rates. The
    recipe's ``critic`` picks the networks that only train: for PPO/A2C a
    value head on the actor's features (``shared``) or a value net with its
    own spiking extractor (``spiking``); for SAC/TD3 spiking or MLP critics.
    """
    if not spiking:
        return {"net_arch": recipe.ann_net_arch}
    extractor = dict(recipe.spiking)
    if recipe.population_head is not None:
        n_actions = int(np.prod(action_space.shape))
        extractor["hidden"] = [*extractor.get("hidden", [64, 64]), n_actions * recipe.population_head]
        extractor["readout"] = "spike_count"
    kwargs = {"features_extractor_class": SpikingExtractor, "features_extractor_kwargs": extractor}
    if recipe.algo in CRITICS:
        critic = recipe.critic or CRITICS[recipe.algo][0]
        if recipe.algo in ("sac", "td3"):
            kwargs["critic"] = critic
        else:
            kwargs["share_features_extractor"] = critic == "shared"
    return {**kwargs, "net_arch": recipe.net_arch}


SPIKING_POLICIES: dict[tuple[str, bool], type[BasePolicy]] = {
    ("sac", False): SpikingSACPolicy,
    ("sac", True): PopulationSACPolicy,
    ("td3", False): SpikingTD3Policy,
    ("td3", True): PopulationTD3Policy,
}
"""Spiking SAC/TD3 policies (a choice of spiking or MLP critics) by ``(algo, population_head given)``."""


def build_model(recipe: Recipe, env: VecEnv, seed: int, spiking: bool, device: str = "cpu") -> BaseAlgorithm:
    """The SB3 algorithm of ``recipe`` on ``env``, seeded, on torch ``device``."""
    kwargs = dict(recipe.algo_kwargs)
    if recipe.action_noise is not None:
        n_actions = int(np.prod(env.action_space.shape))
        sigma = float(recipe.action_noise["sigma"])
        kwargs["action_noise"] = NormalActionNoise(np.zeros(n_actions), sigma * np.ones(n_actions))
    policy: str | type[BasePolicy] = "MlpPolicy"
    if spiking and recipe.algo in ("sac", "td3"):
        policy = SPIKING_POLICIES[recipe.algo, recipe.population_head is not None]
    return ALGORITHMS[recipe.algo](
        policy,
        env,
        policy_kwargs=policy_kwargs(recipe, spiking, env.action_space),
        seed=seed,
        device=device,
        verbose=0,
        **kwargs,
    )


def train(
    env_id: str,
    algo: str,
    *,
    timesteps: int | None = None,
    seed: int = 0,
    encoder: str | None = None,
    ann: bool = False,
    runs_dir: str | Path = "runs",
    progress: bool = True,
    eval_freq: int | None = None,
    n_eval_episodes: int = 5,
    command: str = "",
    device: str = "cpu",
) -> tuple[Path, BaseAlgorithm]:
    """Train ``algo`` on ``env_id`` with its recipe into a new run directory; returns it and the model.

    The spiking agent sees spike observations from the env's encoder config
    (or ``encoder``), or with ``encoder="learnable_population"`` observations
    scaled by the config's bounds, which a learnable population encoder in the
    policy turns into spikes; with ``ann`` an MLP with the recipe's ``ann_net_arch``
    sees the raw observations, the baseline in the same conditions. Evaluates
    every ``eval_freq`` env steps (default a tenth of the budget) on a
    separately seeded env and keeps ``progress.csv``, TensorBoard logs, the
    evaluations, the model, the encoder config, the recipe and ``run.yaml``.
    ``device`` is the torch device of the networks (``"cpu"``, ``"cuda"``,
    ``"auto"``); networks this small usually train fastest on the CPU.
    """
    recipe = load_recipe(algo, env_id)
    budget = recipe.n_timesteps if timesteps is None else timesteps
    if budget < 1:
        raise ValueError(f"timesteps must be >= 1, got {budget}")
    config = None if ann else resolve_encoder(env_id, encoder)
    learnable = encoder == LEARNABLE
    set_random_seed(seed)
    env = make_env(env_id, recipe.n_envs, seed, config, learnable)
    eval_env = make_env(env_id, 1, seed + 10_000, config, learnable)
    name = "mlp" if config is None else (LEARNABLE if learnable else config.encoder)
    run_dir = new_run_dir(runs_dir, env_id, algo, name, seed)
    created = datetime.datetime.now().isoformat(timespec="seconds")
    policy = "ann" if ann else "spiking"
    info = RunInfo(env_id, algo, policy, None if ann else name, seed, budget, __version__, created, command)
    write_run(run_dir, info, config, recipe)
    model = build_model(recipe, env, seed, spiking=not ann, device=device)
    model.set_logger(configure(str(run_dir), ["csv", "tensorboard"]))
    frequency = eval_freq if eval_freq is not None else max(budget // 10, 1)
    callback = EvalCallback(
        eval_env,
        eval_freq=max(frequency // recipe.n_envs, 1),
        n_eval_episodes=n_eval_episodes,
        log_path=str(run_dir / "eval"),
        best_model_save_path=None,
        deterministic=True,
        verbose=0,
    )
    model.learn(total_timesteps=budget, callback=callback, progress_bar=progress)
    model.save(run_dir / MODEL_FILE)
    env.close()
    eval_env.close()
    return run_dir, model


def load_model(run: Run, env: VecEnv | None = None) -> BaseAlgorithm:
    """The run's SB3 model; with ``env``, checked to have the observation space it was trained on."""
    model = ALGORITHMS[run.info.algo].load(run.path / MODEL_FILE, device="cpu")
    if env is not None and model.observation_space != env.observation_space:
        raise RunError(
            f"{run.path}: the model was trained on observations {model.observation_space}, but its saved "
            f"encoder config gives {env.observation_space}; the run directory does not match its model"
        )
    return model
