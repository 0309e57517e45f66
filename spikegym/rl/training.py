"""Training spiking (and baseline MLP) agents with stable-baselines3, into run directories."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import inspect
import logging
import signal
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize

from spikegym._progress import on_terminal
from spikegym._version import __version__
from spikegym.encoders import encoder_class
from spikegym.envs.bounds import resolve_bounds
from spikegym.envs.configs import EncoderConfig, find_config, is_config_path, load_config
from spikegym.envs.layout import ObservationLayout
from spikegym.envs.wrappers import ScaledObservationWrapper, SpikeObservationWrapper
from spikegym.rl.algorithms import ALGORITHMS, STATEFUL
from spikegym.rl.extractors import NIR_EXACT, SpikingExtractor
from spikegym.rl.interrupt import StopOnSignal, WholeCheckpoints, save_whole, stop_on_signals
from spikegym.rl.overrides import SPIKING_PREFIX, apply_overrides, check_hyperparams
from spikegym.rl.policies import (
    PopulationSACPolicy,
    PopulationTD3Policy,
    SpikingActorCriticPolicy,
    SpikingSACPolicy,
    SpikingTD3Policy,
)
from spikegym.rl.progress import ProgressLinesCallback
from spikegym.rl.recipes import (
    ANN_NORMALIZE,
    CRITICS,
    NORMALIZE_REWARD,
    Recipe,
    find_recipe,
    normalize_options,
    with_schedules,
)
from spikegym.rl.recurrent import SpikingRecurrentPolicy
from spikegym.rl.runs import (
    CHECKPOINT_DIR,
    MODEL_FILE,
    VECNORMALIZE_FILE,
    Run,
    RunError,
    RunInfo,
    finish_run,
    load_run,
    new_run_dir,
    write_run,
)

logger = logging.getLogger(__name__)

LEARNABLE = "learnable_population"
"""``--encoder`` value for scaled raw observations and a learnable population encoder inside the policy."""


DEFAULT_ENCODER = "population"
"""The encoder of an env without a config (the one every shipped config uses)."""


def resolve_encoder(env_id: str, encoder: str | None, env_kwargs: Mapping[str, Any] | None = None) -> EncoderConfig:
    """The encoder config to train with: ``env_id``'s config (default; for an env without one,
    :data:`DEFAULT_ENCODER`, with a warning), a ``.yaml`` config, or an encoder name: its tuned config for the
    env (``<env-id>.<encoder>.yaml`` in the config folders) if there is one, else its default parameters
    with the bounds the wrapper resolves for the env (made with ``env_kwargs``)."""
    if encoder is None and find_config(env_id) is None:
        logger.warning("%s has no encoder config: a %s code with bounds from its observation space or estimated "
                       "from a random rollout; `spikegym tune %s` writes a tuned one", env_id, DEFAULT_ENCODER,
                       env_id)  # fmt: skip
        encoder = DEFAULT_ENCODER
    if encoder is None or encoder in (env_id, LEARNABLE):
        return load_config(env_id)
    if is_config_path(encoder):
        return load_config(encoder)
    tuned = find_config(env_id, encoder_class(encoder).name)
    if tuned is not None:
        return load_config(tuned)
    layout = ObservationLayout.of(gym.make(env_id, **(env_kwargs or {})).observation_space)
    low, high = resolve_bounds(layout, None, env_id)
    return EncoderConfig(
        env_id, encoder_class(encoder).name, {}, low=low.tolist(), high=high.tolist(), features=list(layout.names)
    )


def make_env(
    env_id: str,
    n_envs: int,
    seed: int,
    config: EncoderConfig | None,
    learnable: bool = False,
    env_kwargs: Mapping[str, Any] | None = None,
) -> VecEnv:
    """SB3 vec env of ``env_id`` (made with ``env_kwargs``) with spike observations from ``config``, scaled
    observations with its bounds (``learnable``), or raw observations (``config`` ``None``)."""
    made = {"n_envs": n_envs, "seed": seed, "env_kwargs": dict(env_kwargs or {})}
    if config is None:
        return make_vec_env(env_id, **made)
    if learnable:
        return make_vec_env(env_id, **made, wrapper_class=ScaledObservationWrapper, wrapper_kwargs={"config": config})
    return make_vec_env(env_id, **made, wrapper_class=SpikeObservationWrapper, wrapper_kwargs={"encoder": config})


def policy_kwargs(recipe: Recipe, spiking: bool, action_space: gym.Space) -> dict[str, Any]:
    """SB3 ``policy_kwargs``: the spiking extractor and head of the recipe, or its MLP baseline.

    With a ``population_head``, the extractor gains an output layer of
    ``n_actions x population_head`` neurons read out as spike rates. The
    recipe's ``critic`` picks the networks that only train: for PPO/A2C a
    value head on the actor's features (``shared``), a value net with its
    own spiking extractor (``spiking``) or an MLP over the flattened spike block
    (``mlp``: ``net_arch["vf"]``, or the recipe's ``ann_net_arch``); for SAC/TD3 spiking or MLP critics.
    A stateful algorithm (recurrent PPO) gets :class:`~spikegym.rl.recurrent.SpikingRecurrentPolicy`'s options;
    its baseline's ``ann_net_arch`` is the LSTM's size, then the MLP's layers.
    """
    if not spiking and recipe.algo in STATEFUL:  # sb3-contrib's MlpLstmPolicy: an LSTM, then the MLP
        return {"lstm_hidden_size": recipe.ann_net_arch[0], "net_arch": recipe.ann_net_arch[1:]}
    if not spiking:
        return {"net_arch": recipe.ann_net_arch}
    if recipe.algo in STATEFUL:
        critic = recipe.critic or CRITICS[recipe.algo][0]
        return {"spiking_kwargs": dict(recipe.spiking), "critic": critic, "net_arch": recipe.net_arch}
    extractor = dict(recipe.spiking)
    if recipe.population_head is not None:
        n_actions = int(np.prod(action_space.shape))
        extractor["hidden"] = [*extractor.get("hidden", [64, 64]), n_actions * recipe.population_head]
        extractor["readout"] = "spike_count"
    kwargs = {"features_extractor_class": SpikingExtractor, "features_extractor_kwargs": extractor}
    net_arch = recipe.net_arch
    if recipe.algo in CRITICS:
        critic = recipe.critic or CRITICS[recipe.algo][0]
        if recipe.algo in ("sac", "td3") or critic == "mlp":
            kwargs["critic"] = critic
        else:
            kwargs["share_features_extractor"] = critic == "shared"
        if recipe.algo in ("ppo", "a2c") and critic == "mlp" and not isinstance(net_arch, dict):
            net_arch = {"pi": list(net_arch), "vf": list(recipe.ann_net_arch)}
    return {**kwargs, "net_arch": net_arch}


SPIKING_POLICIES: dict[tuple[str, bool], type[BasePolicy]] = {
    ("sac", False): SpikingSACPolicy,
    ("sac", True): PopulationSACPolicy,
    ("td3", False): SpikingTD3Policy,
    ("td3", True): PopulationTD3Policy,
}
"""Spiking SAC/TD3 policies (a choice of spiking or MLP critics) by ``(algo, population_head given)``."""


def build_model(recipe: Recipe, env: VecEnv, seed: int, spiking: bool, device: str = "cpu") -> BaseAlgorithm:
    """The SB3 algorithm of ``recipe`` on ``env``, seeded, on torch ``device``."""
    kwargs = with_schedules(recipe.algo_kwargs)
    if recipe.action_noise is not None:
        n_actions = int(np.prod(env.action_space.shape))
        sigma = float(recipe.action_noise["sigma"])
        kwargs["action_noise"] = NormalActionNoise(np.zeros(n_actions), sigma * np.ones(n_actions))
    policy: str | type[BasePolicy] = "MlpLstmPolicy" if recipe.algo in STATEFUL else "MlpPolicy"
    if spiking and recipe.algo in STATEFUL:
        policy = SpikingRecurrentPolicy
    elif spiking and recipe.algo in ("sac", "td3"):
        policy = SPIKING_POLICIES[recipe.algo, recipe.population_head is not None]
    elif spiking and recipe.critic == "mlp":
        policy = SpikingActorCriticPolicy
    return ALGORITHMS[recipe.algo](
        policy,
        env,
        policy_kwargs=policy_kwargs(recipe, spiking, env.action_space),
        seed=seed,
        device=device,
        verbose=0,
        **kwargs,
    )


TORCH_THREADS = 1
"""torch threads while training on the CPU: networks this small gain nothing from more, and on a busy 2-core
machine two threads ran PPO CartPole-v1 and DQN MountainCar-v0 6-10x slower than one."""


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run with ``count`` torch threads (``None``: as set), then restore the previous number.

    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


MAX_TIMESTEPS = 10**12
"""The largest training budget accepted (beyond it a typo is likelier than a plan)."""
EVAL_SEED_OFFSET = 10_000
"""The evaluation env is seeded ``seed + EVAL_SEED_OFFSET``."""
MAX_SEED = 2**32 - 1 - EVAL_SEED_OFFSET
"""Seeds go to numpy, which takes ``0 <= seed < 2**32``, after the evaluation env's offset."""


def check_train_arguments(
    timesteps: int | None = None,
    seed: int | None = None,
    eval_freq: int | None = None,
    n_eval_episodes: int = 5,
    save_freq: int | None = None,
    runs_dir: str | Path = "runs",
    names: Mapping[str, str] | None = None,
) -> None:
    """Raise a ``ValueError`` naming the first argument of :func:`train` out of its range (as ``names``
    calls it, e.g. command-line flags).

    >>> check_train_arguments(timesteps=0)
    Traceback (most recent call last):
    ...
    ValueError: timesteps must be an integer in [1, 1000000000000], got 0
    """
    ranges = {
        "timesteps": (timesteps, 1, MAX_TIMESTEPS),
        "seed": (seed, 0, MAX_SEED),
        "eval_freq": (eval_freq, 1, None),
        "n_eval_episodes": (n_eval_episodes, 1, None),
        "save_freq": (save_freq, 1, None),
    }
    for name, (value, low, high) in ranges.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            allowed = f"in [{low}, {high}]" if high is not None else f">= {low}"
            raise ValueError(f"{(names or {}).get(name, name)} must be an integer {allowed}, got {value!r}")
    root = Path(runs_dir)
    if root.exists() and not root.is_dir():
        label = (names or {}).get("runs_dir", "runs_dir")
        raise ValueError(f"{label} {str(root)!r} exists and is not a directory; run directories go in a directory")


@dataclass(frozen=True)
class _Setup:
    """What a training run starts from: a fresh model of the recipe, or a run's model to train on."""

    recipe: Recipe
    config: EncoderConfig | None
    learnable: bool
    seed: int
    previous: Run | None = None
    env_kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def ann(self) -> bool:
        return self.config is None

    @property
    def name(self) -> str:
        return "mlp" if self.config is None else (LEARNABLE if self.learnable else self.config.encoder)


@dataclass(frozen=True)
class Overrides:
    """What a training command changes in the recipe and the env (rl-zoo's ``--hyperparams``, ``--n-envs``,
    ``--env-kwargs``): algorithm keyword arguments and ``spiking.NAME`` options, parallel envs, and keyword
    arguments of ``gym.make``."""

    hyperparams: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    n_envs: int | None = None
    env_kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.hyperparams or self.env_kwargs) or self.n_envs is not None


def _fresh_setup(
    env_id: str, algo: str, seed: int | None, encoder: str | None, ann: bool, nir_exact: bool, overrides: Overrides
) -> _Setup:
    recipe, default = find_recipe(algo, env_id)
    if default:
        logger.warning("%s.yaml has no recipe for %s: training with the default recipe (SB3's defaults for %s, "
                       "spiking layers %s, %d steps); write one in ./agents/%s.yaml to tune it", algo, env_id, algo,
                       recipe.spiking["hidden"], recipe.n_timesteps, algo)  # fmt: skip
    if nir_exact:
        spiking = {key.removeprefix(SPIKING_PREFIX) for key in overrides.hyperparams if key.startswith(SPIKING_PREFIX)}
        fixed = sorted(set(NIR_EXACT) & spiking)
        if fixed:
            raise ValueError(f"nir_exact fixes the spiking {fixed} to {NIR_EXACT}; do not set them in hyperparams")
        recipe = recipe.with_nir_exact(NIR_EXACT)
    if ann:
        recipe = recipe.for_ann()
    hyperparams = check_hyperparams(algo, overrides.hyperparams)
    recipe = _override_normalization(recipe, hyperparams, ann)
    recipe = apply_overrides(recipe, hyperparams, overrides.n_envs)
    recorded: dict[str, Any] = {"recipe": "default"} if default else {}
    if overrides.hyperparams:
        recorded["hyperparams"] = dict(overrides.hyperparams)
    if overrides.n_envs is not None:
        recorded["n_envs"] = overrides.n_envs
    config = None if ann else resolve_encoder(env_id, encoder, overrides.env_kwargs)
    if config is not None and encoder != LEARNABLE and recipe.algo not in STATEFUL:
        _warn_if_unreadable(config, recipe.algo)
    chosen = 0 if seed is None else seed
    return _Setup(recipe, config, encoder == LEARNABLE, chosen, None, dict(overrides.env_kwargs), recorded)


def _warn_if_unreadable(config: EncoderConfig, algo: str) -> None:
    """Warn when ``algo``'s stateless policy, which reads each observation's window alone, gets an encoder
    whose window alone misses the value (:meth:`~spikegym.encoders.SpikeEncoder.window_shortfall`): it trains,
    but on what each window holds; ``recurrent_ppo`` carries its membranes across observations."""
    if config.n_features is None:
        return
    encoder = encoder_class(config.encoder)(config.n_features, **config.params)
    shortfall = encoder.window_shortfall(config.substeps)
    if shortfall is not None:
        logger.warning("the %s spiking policy reads each observation's T=%d window alone, and a window of this %s "
                       "config misses the value: %s; --algo %s carries the state across observations",
                       algo, config.substeps, config.encoder, shortfall, STATEFUL[0])  # fmt: skip


def _override_normalization(recipe: Recipe, hyperparams: dict[str, Any], ann: bool) -> Recipe:
    """``recipe`` with ``--hyperparams ann_normalize=VALUE`` (ANN baseline only) and ``normalize_reward=VALUE``
    (spiking agent only), both checked (:func:`check_hyperparams`) and taken out of ``hyperparams``."""
    if ANN_NORMALIZE in hyperparams:
        value = hyperparams.pop(ANN_NORMALIZE)
        if not ann:
            raise ValueError(
                f"--hyperparams {ANN_NORMALIZE}={value!r}: it normalises the observations of the ANN baseline "
                f"(--ann); a spiking agent's encoder scales its observations ({NORMALIZE_REWARD} normalises its "
                "rewards)"
            )
        recipe = dataclasses.replace(recipe, ann_normalize=normalize_options(value))
    if NORMALIZE_REWARD in hyperparams:
        value = hyperparams.pop(NORMALIZE_REWARD)
        if ann:
            raise ValueError(
                f"--hyperparams {NORMALIZE_REWARD}={value!r}: it normalises the spiking agent's rewards; the ANN "
                f"baseline (--ann) normalises with {ANN_NORMALIZE}"
            )
        recipe = dataclasses.replace(recipe, normalize_reward=value)
    return recipe


def _normalize(setup: _Setup, env: VecEnv, eval_env: VecEnv) -> tuple[VecEnv, VecEnv]:
    """The training and evaluation envs of a run whose recipe normalises (an ANN run's ``ann_normalize``, a
    spiking run's ``normalize_reward``: :meth:`~spikegym.rl.recipes.Recipe.normalization`), in ``VecNormalize``
    as rl-baselines3-zoo's ``_maybe_normalize`` wraps them: the training env updates the statistics (those of the
    run it continues, if any) with the return discounted by the algorithm's ``gamma``; the evaluation env takes
    them from it at every evaluation (SB3's ``EvalCallback``) and neither updates them nor scales rewards."""
    recipe = setup.recipe
    normalization = recipe.normalization(setup.ann)
    if normalization is None:
        return env, eval_env
    default = inspect.signature(ALGORITHMS[recipe.algo]).parameters["gamma"].default
    options = {"gamma": recipe.algo_kwargs.get("gamma", default), **normalization}
    if setup.previous is None:
        env = VecNormalize(env, **options)
    else:
        env = load_normalization(setup.previous, env)
        env.training = True
    return env, VecNormalize(eval_env, **{**options, "training": False, "norm_reward": False})


def _setup(
    env_id: str,
    algo: str,
    seed: int | None,
    encoder: str | None,
    ann: bool,
    nir_exact: bool,
    continue_from: Any,
    overrides: Overrides,
) -> _Setup:
    if nir_exact and (ann or encoder == LEARNABLE):
        raise ValueError("nir_exact trains spiking layers on spike observations; it takes no ann or learnable encoder")
    if continue_from is None:
        return _fresh_setup(env_id, algo, seed, encoder, ann, nir_exact, overrides)
    if encoder is not None or ann or nir_exact or overrides:
        raise ValueError(
            "a continued run keeps the encoder, policy, recipe and env of the run it continues; give no encoder, "
            "ann, nir_exact, hyperparams, n_envs or env_kwargs"
        )
    previous = load_run(continue_from)
    if (previous.info.env_id, previous.info.algo) != (env_id, algo):
        raise RunError(
            f"{previous.path} is a {previous.info.env_id} {previous.info.algo} run; "
            f"it cannot continue training {env_id} with {algo}"
        )
    learnable = previous.info.encoder == LEARNABLE
    chosen = previous.info.seed if seed is None else seed
    return _Setup(previous.recipe, previous.config, learnable, chosen, previous, previous.info.env_kwargs)


def train(
    env_id: str,
    algo: str,
    *,
    timesteps: int | None = None,
    seed: int | None = None,
    encoder: str | None = None,
    ann: bool = False,
    runs_dir: str | Path = "runs",
    progress: bool = True,
    eval_freq: int | None = None,
    n_eval_episodes: int = 5,
    command: str = "",
    device: str = "cpu",
    save_freq: int | None = None,
    continue_from: str | Path | None = None,
    nir_exact: bool = False,
    overrides: Overrides | None = None,
) -> tuple[Path, BaseAlgorithm]:
    """Train ``algo`` on ``env_id`` with its recipe into a new run directory; returns it and the model.

    The spiking agent sees spike observations from the env's encoder config
    (or ``encoder``), or with ``encoder="learnable_population"`` observations
    scaled by the config's bounds, which a learnable population encoder in the
    policy turns into spikes; with ``ann`` an MLP with the recipe's ``ann_net_arch``
    sees the raw observations, the baseline in the same conditions, with the recipe's ``ann_algo_kwargs`` and
    ``ann_n_timesteps`` (:meth:`~spikegym.rl.recipes.Recipe.for_ann`) and, with ``ann_normalize``, normalised
    observations whose statistics are saved as ``vecnormalize.pkl`` with the model (:func:`_normalize`). Evaluates
    every ``eval_freq`` env steps (default a tenth of the budget) on a
    separately seeded env and keeps ``progress.csv``, TensorBoard logs, the
    evaluations, the model, the encoder config, the recipe and ``run.yaml``;
    with ``save_freq``, a checkpoint every ``save_freq`` env steps in
    ``checkpoints/``. ``device`` is the torch device of the networks
    (``"cpu"``, ``"cuda"``, ``"auto"``); networks this small usually train
    fastest on the CPU, with :data:`TORCH_THREADS` torch threads (restored afterwards). ``seed`` defaults
    to 0 (for a continued run, its seed).

    SIGINT (Ctrl-C) or SIGTERM stop training at the next step: the model is
    saved and ``run.yaml`` records ``status: interrupted``, the steps reached
    and the signal. ``continue_from`` (a run directory of the same env and
    algorithm) loads that run's model, encoder config and recipe and trains
    ``timesteps`` more steps (default: what is left of an interrupted run's
    budget) into a new run directory; the old one is only read. ``nir_exact``
    trains the spiking layers with :data:`~spikegym.rl.extractors.NIR_EXACT`
    (reset to zero, spike-count read-out), recorded in the run's recipe, so
    that the NIR export runs as trained in other NIR tools, with the recipe's ``nir_exact`` changes.
    A pair without a recipe trains with :func:`~spikegym.rl.recipes.default_recipe` (with a warning);
    ``overrides`` change the recipe and the env (:class:`Overrides`), recorded in ``run.yaml``.
    """
    check_train_arguments(timesteps, seed, eval_freq, n_eval_episodes, save_freq, runs_dir)
    stopper = StopOnSignal()
    with stop_on_signals(stopper), torch_threads(TORCH_THREADS if device == "cpu" else None):
        setup = _setup(env_id, algo, seed, encoder, ann, nir_exact, continue_from, overrides or Overrides())
        set_random_seed(setup.seed)
        env = make_env(env_id, setup.recipe.n_envs, setup.seed, setup.config, setup.learnable, setup.env_kwargs)
        eval_env = make_env(env_id, 1, setup.seed + EVAL_SEED_OFFSET, setup.config, setup.learnable, setup.env_kwargs)
        env, eval_env = _normalize(setup, env, eval_env)
        model = _model(setup, env, device)
        budget = _budget(setup, model, timesteps)
        run_dir = new_run_dir(runs_dir, env_id, algo, setup.name, setup.seed)
        created = datetime.datetime.now().isoformat(timespec="seconds")
        info = RunInfo(
            env_id,
            algo,
            "ann" if setup.ann else "spiking",
            None if setup.ann else setup.name,
            setup.seed,
            model.num_timesteps + budget,
            __version__,
            created,
            command,
            status="training",
            continued_from=None
            if setup.previous is None
            else str((setup.previous.checkpoint or setup.previous.path).resolve()),
            env_kwargs=dict(setup.env_kwargs),
            overrides=dict(setup.overrides),
        )
        info = write_run(run_dir, info, setup.config, setup.recipe)
        model.set_logger(configure(str(run_dir), ["csv", "tensorboard"]))
        frequency = eval_freq if eval_freq is not None else max(budget // 10, 1)
        evaluation = _evaluation(eval_env, frequency, n_eval_episodes, setup.recipe.n_envs, run_dir)
        callbacks: list[BaseCallback] = [stopper, evaluation]
        if progress and not on_terminal():
            callbacks.append(ProgressLinesCallback(budget, f"training {env_id} {algo}", evaluation))
        if save_freq is not None:
            callbacks.append(
                WholeCheckpoints(max(save_freq // setup.recipe.n_envs, 1), str(run_dir / CHECKPOINT_DIR), "model")
            )
        _learn_and_save(model, budget, callbacks, stopper, run_dir, info, progress)
    env.close()
    eval_env.close()
    return run_dir, model


def _learn_and_save(
    model: BaseAlgorithm,
    budget: int,
    callbacks: list[BaseCallback],
    stopper: StopOnSignal,
    run_dir: Path,
    info: RunInfo,
    progress: bool,
) -> None:
    """Train ``budget`` more steps (stopping early on a signal), save the model and record how training ended."""
    try:
        model.learn(
            budget,
            callback=callbacks,
            progress_bar=progress and on_terminal(),
            reset_num_timesteps=info.continued_from is None,
        )
    except KeyboardInterrupt:  # a second signal while the first waited for the step to end
        stopper.received = stopper.received or signal.SIGINT
    stopper.saving = True
    save_whole(model, run_dir / MODEL_FILE, run_dir / VECNORMALIZE_FILE)
    stopped = stopper.received is not None and model.num_timesteps < info.n_timesteps
    stop = stopper.received.name if stopped and stopper.received is not None else None
    finish_run(run_dir, info, "interrupted" if stopped else "complete", model.num_timesteps, stop)


def _model(setup: _Setup, env: VecEnv, device: str) -> BaseAlgorithm:
    if setup.previous is None:
        return build_model(setup.recipe, env, setup.seed, spiking=not setup.ann, device=device)
    model = load_model(setup.previous, env, device)
    if isinstance(model, OffPolicyAlgorithm):
        # The replay buffer is not saved: refill it as the recipe's learning_starts did before updating again.
        default = inspect.signature(type(model)).parameters["learning_starts"].default
        model.learning_starts = model.num_timesteps + setup.recipe.algo_kwargs.get("learning_starts", default)
    return model


def _budget(setup: _Setup, model: BaseAlgorithm, timesteps: int | None) -> int:
    if timesteps is not None:
        return timesteps
    if setup.previous is None:
        return setup.recipe.n_timesteps
    left = setup.previous.info.n_timesteps - model.num_timesteps
    if left < 1:
        raise RunError(
            f"{setup.previous.path} trained its whole budget ({model.num_timesteps} of "
            f"{setup.previous.info.n_timesteps} steps); give timesteps (--timesteps N) to train on"
        )
    return left


def _evaluation(eval_env: VecEnv, frequency: int, n_episodes: int, n_envs: int, run_dir: Path) -> EvalCallback:
    return EvalCallback(
        eval_env,
        eval_freq=max(frequency // n_envs, 1),
        n_eval_episodes=n_episodes,
        log_path=str(run_dir / "eval"),
        best_model_save_path=None,
        deterministic=True,
        verbose=0,
    )


def load_model(run: Run, env: VecEnv | None = None, device: str = "cpu") -> BaseAlgorithm:
    """The run's SB3 model on torch ``device``; with ``env``, checked to have the observation space it was
    trained on (and attached to it, to train on: a normalised run's ``env`` is normalised by the caller).

    Without ``env``, the model of an ANN run trained on normalised observations (``ann_normalize``) holds
    the run's statistics in a one-env ``VecNormalize`` that neither updates them nor scales rewards, so
    ``model.get_vec_normalize_env()`` gives them to whoever acts with it
    (:class:`~spikegym.rl.acting.Agent`, :func:`~spikegym.rl.replay.replay`), as rl-baselines3-zoo's ``enjoy``
    loads ``vecnormalize.pkl``. A ``model.zip`` (or statistics file) that cannot be read is a :class:`RunError`
    naming it. Both are pickles: load runs from trusted sources only.

    >>> import tempfile
    >>> run_dir, _ = train("CartPole-v1", "ppo", ann=True, timesteps=64, progress=False, runs_dir=tempfile.mkdtemp(),
    ...                    overrides=Overrides({"ann_normalize": True}))
    >>> model = load_model(load_run(run_dir))
    >>> model.get_vec_normalize_env().training
    False
    """
    path = run.model_path
    statistics = None
    if env is None and run.normalizes_observations:
        statistics = load_normalization(run, DummyVecEnv([lambda: gym.make(run.info.env_id, **run.info.env_kwargs)]))
        statistics.training, statistics.norm_reward = False, False
    try:
        model = ALGORITHMS[run.info.algo].load(path, env=statistics, device=device)
    except Exception as error:  # SB3 raises whatever unpickling or torch.load hit on a damaged file
        raise RunError(f"{path} cannot be loaded as a {run.info.algo} model: {type(error).__name__}: {error}") from None
    if env is not None:
        if model.observation_space != env.observation_space:
            raise RunError(
                f"{run.path}: the model was trained on observations {model.observation_space}, but its saved "
                f"encoder config gives {env.observation_space}; the run directory does not match its model"
            )
        model.set_env(env)
    return model


def load_normalization(run: Run, venv: VecEnv) -> VecNormalize:
    """The run's saved ``VecNormalize`` statistics (:attr:`~spikegym.rl.runs.Run.normalization_path`) around
    ``venv``, as saved (updating them while training); a file that cannot be read as such is a :class:`RunError`.
    """
    path = run.normalization_path
    if path is None:
        raise RunError(f"{run.path} does not normalise its observations or returns: it has no {VECNORMALIZE_FILE}")
    try:
        return VecNormalize.load(str(path), venv)
    except Exception as error:  # whatever unpickling a damaged file or one of other statistics raised
        raise RunError(f"{path} cannot be loaded as VecNormalize statistics of {venv.observation_space}: "
                       f"{type(error).__name__}: {error}") from None  # fmt: skip
