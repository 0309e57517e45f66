"""Checks every command runs before any work, each a parser error (exit status 2) that says what to do."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import gymnasium as gym


def env_spaces(
    env_id: str, parser: argparse.ArgumentParser, env_kwargs: Mapping[str, Any] | None = None
) -> tuple[gym.Space, gym.Space]:
    """The observation and action spaces of a fresh ``env_id`` made with ``env_kwargs``; a parser error if
    the id is unknown, the env cannot be made (a package it needs is missing, say) or it takes no such
    arguments.

    >>> env_spaces("CartPole-v1", argparse.ArgumentParser())[1]
    Discrete(2)
    """
    try:
        env = gym.make(env_id, **(env_kwargs or {}))
    except (gym.error.DependencyNotInstalled, ImportError) as error:
        parser.error(f"env {env_id!r} needs a package that is not installed: {error}")
    except gym.error.Error as error:
        parser.error(f"unknown env id {env_id!r}: {error}")
    except (TypeError, ValueError) as error:
        parser.error(f"--env-kwargs {dict(env_kwargs or {})!r}: {env_id} cannot be made with them: {error}")
    spaces = env.observation_space, env.action_space
    env.close()
    return spaces


def env_observation_space(env_id: str, parser: argparse.ArgumentParser) -> gym.Space:
    """The observation space of a fresh ``env_id`` (:func:`env_spaces`).

    >>> env_observation_space("CartPole-v1", argparse.ArgumentParser()).shape
    (4,)
    """
    return env_spaces(env_id, parser)[0]
