"""Spike-tensor observations for any Gymnasium env: the single-env wrapper and its vector twin."""

from __future__ import annotations

from typing import Any, Literal, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper
from gymnasium.vector.utils import batch_space

from spikegym.envs.bounds import Bounds, check_config_features, resolve_bounds
from spikegym.envs.configs import EncoderConfig
from spikegym.envs.gym_encoder import EncoderSpec, GymnasiumEncoder, as_config
from spikegym.envs.layout import ObservationError, ObservationLayout


class SpikeObservationWrapper(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Replaces observations by spike blocks ``(substeps, C)`` of ``int8`` in ``{0, 1}``.

    ``reset`` and ``step`` go through the same :class:`~spikegym.envs.gym_encoder.GymnasiumEncoder`;
    ``reset`` starts a new encoder stream and, given a ``seed``, keys a
    stochastic encoder from the wrapper's own generator (never the env's).
    ``info["spikes"]`` holds the step's spike count, the number of clipped
    values and of replaced non-finite ones.

    :param env: the env to wrap.
    :param encoder: an encoder name, a :class:`~spikegym.encoders.SpikeEncoder`,
        or a config: an :class:`~spikegym.envs.configs.EncoderConfig`, a ``.yaml``
        path, or an env id whose config is in ``envs_configs/``.
    :param substeps: encoder steps per observation (default: the config's, else 8).
    :param upsample: ``"hold"`` or ``"linear"`` (default: the config's, else hold).
    :param bounds: per-feature ``(low, high)``; otherwise the space's where
        finite, then the env's config, then an estimate from a seeded rollout.
    :param nan_policy: ``"raise"`` or ``"zero"``.
    :param params: encoder parameters, with ``encoder`` given by name.

    >>> env = SpikeObservationWrapper(gym.make("CartPole-v1"), "rate", substeps=4)
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape, obs.dtype, env.observation_space
    ((4, 4), dtype('int8'), MultiBinary((4, 4)))
    """

    def __init__(
        self,
        env: gym.Env,
        encoder: EncoderSpec = "rate",
        *,
        substeps: int | None = None,
        upsample: Literal["hold", "linear"] | None = None,
        bounds: Bounds | None = None,
        nan_policy: Literal["raise", "zero"] = "raise",
        **params: Any,
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self, encoder=encoder, substeps=substeps, upsample=upsample, bounds=bounds, nan_policy=nan_policy, **params
        )
        gym.Wrapper.__init__(self, env)
        self.gym_encoder = GymnasiumEncoder(
            env.observation_space,
            encoder,
            substeps=substeps,
            upsample=upsample,
            bounds=bounds,
            env_id=env.spec.id if env.spec is not None else None,
            nan_policy=nan_policy,
            **params,
        )
        self.observation_space = spaces.MultiBinary((self.gym_encoder.substeps, self.gym_encoder.n_channels))
        self._spike_rng = np.random.default_rng()

    def _info(self, info: dict[str, Any]) -> dict[str, Any]:
        info["spikes"] = _spike_counts(self.gym_encoder)
        return info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        observation, info = self.env.reset(seed=seed, options=options)
        if seed is not None:
            self._spike_rng = np.random.default_rng(seed)
        spikes = self.gym_encoder.reset(observation, seed=_stream_seed(self._spike_rng))
        return spikes, self._info(info)

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        spikes = self.gym_encoder.step(observation)
        return spikes, reward, terminated, truncated, self._info(info)


class SpikeObservationVectorWrapper(VectorWrapper, gym.utils.RecordConstructorArgs):
    """The vector twin of :class:`SpikeObservationWrapper` for ``gymnasium.vector`` envs.

    Encodes the observations of all sub-envs in one batched call per step,
    one encoder stream per sub-env, and restarts exactly the streams of the
    sub-envs that reset: on the step after a termination or truncation
    (``AutoresetMode.NEXT_STEP``, gymnasium's default), on the same step
    (``SAME_STEP``; ``info["final_obs"]`` then holds the final observations'
    spike blocks), or on ``reset(options={"reset_mask": mask})``. Sub-env
    ``i`` gets the spikes a :class:`SpikeObservationWrapper` with the same
    arguments gives the same env seeded with ``seed + i``, step for step.
    ``info["spikes"]`` holds per-env arrays of spike, clipped and non-finite
    counts.

    Parameters are those of :class:`SpikeObservationWrapper`.

    >>> envs = SpikeObservationVectorWrapper(gym.make_vec("CartPole-v1", 3), "sf", substeps=4)
    >>> obs, info = envs.reset(seed=0)
    >>> obs.shape, envs.single_observation_space, info["spikes"]["count"].shape
    ((3, 4, 8), MultiBinary((4, 8)), (3,))
    """

    def __init__(
        self,
        env: VectorEnv,
        encoder: EncoderSpec = "rate",
        *,
        substeps: int | None = None,
        upsample: Literal["hold", "linear"] | None = None,
        bounds: Bounds | None = None,
        nan_policy: Literal["raise", "zero"] = "raise",
        **params: Any,
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self, encoder=encoder, substeps=substeps, upsample=upsample, bounds=bounds, nan_policy=nan_policy, **params
        )
        VectorWrapper.__init__(self, env)
        self.gym_encoder = GymnasiumEncoder(
            env.single_observation_space,
            encoder,
            substeps=substeps,
            upsample=upsample,
            bounds=bounds,
            env_id=env.spec.id if env.spec is not None else None,
            nan_policy=nan_policy,
            num_envs=env.num_envs,
            **params,
        )
        self.single_observation_space = spaces.MultiBinary((self.gym_encoder.substeps, self.gym_encoder.n_channels))
        self.observation_space = batch_space(self.single_observation_space, env.num_envs)
        self.autoreset_mode = AutoresetMode(env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP))
        self._spike_rngs = [np.random.default_rng() for _ in range(env.num_envs)]
        self._autoreset = np.zeros(env.num_envs, np.bool_)

    def _stream_seeds(self, rows: np.ndarray) -> np.ndarray | None:
        """The next stream seed of each env in ``rows`` from its own generator (``None``: not needed)."""
        if not self.gym_encoder.encoder.stochastic:
            return None
        seeds = np.zeros(self.num_envs, np.int64)
        for i in rows:
            seeds[i] = _stream_seed(self._spike_rngs[i])
        return seeds

    def _info(self, info: dict[str, Any], present: np.ndarray) -> dict[str, Any]:
        info["spikes"] = _spike_counts(self.gym_encoder)
        info["_spikes"] = present
        return info

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        mask = None if options is None else options.get("reset_mask")
        observations, info = self.env.reset(seed=seed, options=options)
        rows = np.arange(self.num_envs) if mask is None else np.flatnonzero(mask)
        env_seeds = [seed + i for i in range(self.num_envs)] if isinstance(seed, int) else seed
        for i in rows:
            if env_seeds is not None and env_seeds[i] is not None:
                self._spike_rngs[i] = np.random.default_rng(env_seeds[i])
        spikes = self.gym_encoder.reset(observations, seed=self._stream_seeds(rows), mask=mask)
        self._autoreset[rows] = False
        present = np.ones(self.num_envs, np.bool_) if mask is None else mask.copy()
        return spikes, self._info(info, present)

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        observations, rewards, terminations, truncations, info = self.env.step(actions)
        encoder = self.gym_encoder
        x = encoder.flatten(observations)
        done = np.logical_or(terminations, truncations)
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            restart = self._autoreset
            spikes = encoder.step_flat(x, restart, self._stream_seeds(np.flatnonzero(restart)))
            self._autoreset = done
        elif self.autoreset_mode == AutoresetMode.SAME_STEP and done.any():
            finished, final = np.flatnonzero(done), info["final_obs"]
            x_final = x.copy()
            for i in finished:
                x_final[i] = encoder.layout.flatten(final[i])
            final_spikes = encoder.step_flat(x_final)
            for i in finished:
                final[i] = final_spikes[i].copy()
            spikes = encoder.reset_flat(x, self._stream_seeds(finished), mask=done)
        else:
            spikes = encoder.step_flat(x)
        return spikes, rewards, terminations, truncations, self._info(info, np.ones(self.num_envs, np.bool_))


class ScaledObservationWrapper(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Observations flattened and scaled into ``[0, 1]`` by per-feature bounds: ``Box(0, 1, (F,))``.

    For policies that encode inside the network
    (:class:`~spikegym.rl.extractors.LearnablePopulationEncoder`), so that no
    stochastic spikes are frozen into replay buffers. Bounds resolve as in
    :class:`SpikeObservationWrapper`: ``bounds``, else ``config``'s, else the
    space's where finite, else the env's config, else a seeded rollout
    estimate. Values outside are clipped and counted in ``info["scaled"]["clipped"]``;
    NaN/inf raise a ``ValueError``.

    >>> env = ScaledObservationWrapper(gym.make("CartPole-v1"))
    >>> observation, info = env.reset(seed=0)
    >>> env.observation_space, bool(((observation >= 0) & (observation <= 1)).all()), info["scaled"]
    (Box(0.0, 1.0, (4,), float32), True, {'clipped': 0})
    """

    def __init__(self, env: gym.Env, bounds: Bounds | None = None, config: str | EncoderConfig | None = None) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, bounds=bounds, config=config)
        gym.ObservationWrapper.__init__(self, env)
        self.layout = ObservationLayout.of(env.observation_space)
        self.env_id = env.spec.id if env.spec is not None else None
        loaded = None if config is None else as_config(config)
        if loaded is not None:
            check_config_features(loaded, self.layout)
            if bounds is None and loaded.low is not None:
                bounds = (loaded.low, loaded.high)
        self.low, self.high = resolve_bounds(self.layout, bounds, self.env_id)
        self.observation_space = spaces.Box(0.0, 1.0, (self.layout.n_features,), np.float32)
        self.last_clipped = 0
        """Features of the last observation that lay outside the bounds and were clipped."""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        observation, info = super().reset(seed=seed, options=options)
        return observation, {**info, "scaled": {"clipped": self.last_clipped}}

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = super().step(action)
        return observation, reward, terminated, truncated, {**info, "scaled": {"clipped": self.last_clipped}}

    def observation(self, observation: Any) -> np.ndarray:
        try:
            x = self.layout.flatten(observation)
        except ObservationError as error:
            raise ObservationError(f"env {self.env_id} returned an observation outside its space: {error}") from None
        if x.size != self.layout.n_features:
            raise ValueError(f"observation has {x.size} values, but the space has {self.layout.n_features} features")
        bad = np.flatnonzero(~np.isfinite(x))
        if bad.size:
            feature = int(bad[0])
            raise ValueError(
                f"env {self.env_id} returned a non-finite observation: {self.layout.names[feature]} = {x[feature]}"
            )
        scaled = (x - self.low) / (self.high - self.low)
        self.last_clipped = int(np.count_nonzero((scaled < 0.0) | (scaled > 1.0)))
        return np.clip(scaled, 0.0, 1.0).astype(np.float32)


def _stream_seed(rng: np.random.Generator) -> int:
    """The next stream seed of a wrapper's own spike generator."""
    return int(rng.integers(2**62))


def _spike_counts(encoder: GymnasiumEncoder) -> dict[str, Any]:
    return {"count": encoder.last_spike_count, "clipped": encoder.last_clipped, "nonfinite": encoder.last_nonfinite}
