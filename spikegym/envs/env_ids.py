"""What Gymnasium calls to build a registered ``spikegym/<env id>``: the env id wrapped with its encoder config.

``import spikegym`` registers ``spikegym/<env id>`` for every env with a
shipped config (see :func:`spikegym.register_env_ids`); the registry's
entries point here, so ``gym.make``, ``gym.make_vec``, SB3's ``make_vec_env``
and rl-baselines3-zoo build spike-encoded envs from an id alone. Keyword
arguments of ``gym.make`` pick the encoding; all others go to the inner env:

- ``encoder``: an encoder name (``"lif"``), a ``.yaml`` config path, or an env
  id whose config is on the search path (default: the env's own config);
- ``substeps``, ``upsample``, ``bounds``, ``nan_policy``: as in
  :class:`~spikegym.envs.wrappers.SpikeObservationWrapper`;
- ``encoder_params``: a dict of encoder parameters, with ``encoder`` given by name.

>>> import gymnasium as gym
>>> import spikegym
>>> gym.make("spikegym/CartPole-v1").observation_space
MultiBinary((8, 32))
>>> gym.make("spikegym/CartPole-v1", encoder="sf", substeps=4).observation_space
MultiBinary((4, 8))
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from typing import Any, Literal

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator

from spikegym.envs.bounds import Bounds
from spikegym.envs.gym_encoder import EncoderSpec
from spikegym.envs.wrappers import SpikeObservationVectorWrapper, SpikeObservationWrapper

ENCODING_ARGUMENTS = ("encoder", "substeps", "upsample", "bounds", "nan_policy", "encoder_params")
"""The ``gym.make`` keyword arguments of a ``spikegym/`` id that choose the encoding; the others go to the inner env."""


def make_spike_env(
    env_id: str,
    encoder: EncoderSpec | None = None,
    *,
    substeps: int | None = None,
    upsample: Literal["hold", "linear"] | None = None,
    bounds: Bounds | None = None,
    nan_policy: Literal["raise", "zero"] = "raise",
    encoder_params: Mapping[str, Any] | None = None,
    **env_kwargs: Any,
) -> SpikeObservationWrapper:
    """The env ``env_id`` (without its time limit, which the ``spikegym/`` id carries) with spike observations.

    :param env_id: the inner env's registered Gymnasium id.
    :param encoder: an encoder name, a config (``.yaml`` path or env id); default: ``env_id``'s config.
    :param encoder_params: encoder parameters (with ``encoder`` given by name).
    :param env_kwargs: passed to the inner env (e.g. ``render_mode``).

    >>> make_spike_env("CartPole-v1", "rate", substeps=4).observation_space
    MultiBinary((4, 4))
    """
    inner = _inner_spec(env_id)
    _check_env_kwargs(inner, env_kwargs)
    bare = dataclasses.replace(inner, max_episode_steps=None, order_enforce=False, disable_env_checker=True)
    return SpikeObservationWrapper(
        gym.make(bare, **env_kwargs),
        env_id if encoder is None else encoder,
        substeps=substeps,
        upsample=upsample,
        bounds=bounds,
        nan_policy=nan_policy,
        **_encoder_params(encoder_params),
    )


def make_spike_vector_env(
    env_id: str,
    num_envs: int,
    encoder: EncoderSpec | None = None,
    *,
    substeps: int | None = None,
    upsample: Literal["hold", "linear"] | None = None,
    bounds: Bounds | None = None,
    nan_policy: Literal["raise", "zero"] = "raise",
    encoder_params: Mapping[str, Any] | None = None,
    **env_kwargs: Any,
) -> SpikeObservationVectorWrapper:
    """``num_envs`` copies of ``env_id`` in ``gym.make_vec``'s default mode, encoded in one batched call per step.

    Parameters are those of :func:`make_spike_env`; ``env_kwargs`` go to ``gym.make_vec``.

    >>> make_spike_vector_env("CartPole-v1", 3, "sf", substeps=4).observation_space.shape
    (3, 4, 8)
    """
    inner = _inner_spec(env_id)
    _check_env_kwargs(inner, {k: v for k, v in env_kwargs.items() if k != "max_episode_steps"})
    return SpikeObservationVectorWrapper(
        gym.make_vec(env_id, num_envs, **env_kwargs),
        env_id if encoder is None else encoder,
        substeps=substeps,
        upsample=upsample,
        bounds=bounds,
        nan_policy=nan_policy,
        **_encoder_params(encoder_params),
    )


def _inner_spec(env_id: object) -> gym.envs.registration.EnvSpec:
    """The registered spec of the env to encode."""
    if not isinstance(env_id, str):
        raise TypeError(f"env_id must be a registered Gymnasium id (a str), got {env_id!r}")
    return gym.spec(env_id)


def _encoder_params(encoder_params: object) -> dict[str, Any]:
    """``encoder_params`` as keyword arguments of the wrapper."""
    if encoder_params is None:
        return {}
    if not isinstance(encoder_params, Mapping) or not all(isinstance(key, str) for key in encoder_params):
        raise TypeError(
            f"encoder_params must be a dict of encoder parameters by name (e.g. {{'threshold': 0.1}}), "
            f"got {encoder_params!r}"
        )
    return dict(encoder_params)


def _check_env_kwargs(inner: gym.envs.registration.EnvSpec, env_kwargs: Mapping[str, Any]) -> None:
    """Refuse a keyword that neither the encoding nor the inner env's constructor takes, naming both lists."""
    creator = inner.entry_point if callable(inner.entry_point) else load_env_creator(str(inner.entry_point))
    try:
        parameters = inspect.signature(creator).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    accepted = [name for name, p in parameters.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    for key, value in env_kwargs.items():
        if key not in accepted:
            raise TypeError(
                f"spikegym/{inner.id}: keyword argument {key}={value!r} is neither an encoding argument "
                f"{list(ENCODING_ARGUMENTS)} nor one of {inner.id}'s {accepted}"
            )
