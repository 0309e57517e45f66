"""The configs and recipes shipped with spikegym, as package data.

``envs_configs/<env-id>.yaml`` holds the tuned encoder per env and
``agents/<algo>.yaml`` the training recipes per env. They are read with
:mod:`importlib.resources`, so an installed wheel finds them; users' own
files (``./envs_configs``, ``./agents``) are looked up first.

>>> sorted(path.name for path in shipped("agents").iterdir())
['a2c.yaml', 'dqn.yaml', 'ppo.yaml', 'recurrent_ppo.yaml', 'sac.yaml', 'td3.yaml']
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path
from typing import Literal

Folder = Literal["envs_configs", "agents"]


def shipped(folder: Folder) -> Path:
    """The shipped folder ``folder`` inside the installed package."""
    return Path(str(files(__name__) / folder))


def search_path(folder: Folder, variable: str) -> list[Path]:
    """Where files of ``folder`` are looked up, in order: ``$variable`` (if set), ``./folder``, the shipped one.

    >>> search_path("agents", "SPIKEGYM_AGENTS_DIR")[-1] == shipped("agents")
    True
    """
    dirs = [Path(os.environ[variable])] if os.environ.get(variable) else []
    dirs += [Path.cwd() / folder, shipped(folder)]
    unique: list[Path] = []
    for directory in dirs:
        if directory.resolve() not in [d.resolve() for d in unique]:
            unique.append(directory)
    return unique
