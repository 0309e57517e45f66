"""Checks every command runs before any work, each a parser error (exit status 2) that says what to do."""

from __future__ import annotations

import argparse

import gymnasium as gym


def env_observation_space(env_id: str, parser: argparse.ArgumentParser) -> gym.Space:
    """The observation space of a fresh ``env_id``; a parser error if the id is unknown or the env
    cannot be made (a package it needs is missing, say).

    >>> env_observation_space("CartPole-v1", argparse.ArgumentParser()).shape
    (4,)
    """
    try:
        env = gym.make(env_id)
    except (gym.error.DependencyNotInstalled, ImportError) as error:
        parser.error(f"env {env_id!r} needs a package that is not installed: {error}")
    except gym.error.Error as error:
        parser.error(f"unknown env id {env_id!r}: {error}")
    space = env.observation_space
    env.close()
    return space
