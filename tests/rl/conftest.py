"""Fixtures of the rl tests: a private copy of the shared trained run that a test may edit."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def run_copy(trained: tuple[Path, object], tmp_path: Path) -> Path:
    """A copy of the session's trained run directory, for tests that edit or break its files."""
    copy = tmp_path / "run"
    shutil.copytree(trained[0], copy)
    return copy
