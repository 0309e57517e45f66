"""A wheel built from the repository carries the shipped configs and recipes and works outside the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(path.relative_to(ROOT).as_posix() for path in (ROOT / "spikegym" / "data").rglob("*.yaml"))


def test_the_shipped_files_are_package_data() -> None:
    assert "spikegym/data/envs_configs/CartPole-v1.yaml" in SHIPPED
    assert "spikegym/data/agents/ppo.yaml" in SHIPPED
    assert not list((ROOT / "envs_configs").glob("*.yaml")), "./envs_configs is the users' folder, not the shipped one"
    assert not list((ROOT / "agents").glob("*.yaml")), "./agents is the users' folder, not the shipped one"


def test_a_wheel_ships_the_configs_and_recipes_and_runs_from_anywhere(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(ROOT / "spikegym", source / "spikegym", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    dist, site, elsewhere = tmp_path / "dist", tmp_path / "site", tmp_path / "elsewhere"
    pip = [sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", str(source), "--no-deps", "--no-build-isolation", "-w", str(dist)], check=True)
    (wheel,) = dist.glob("spikegym-*.whl")
    assert set(SHIPPED) <= set(zipfile.ZipFile(wheel).namelist())

    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True)
    elsewhere.mkdir()
    code = (
        "import spikegym\n"
        "from spikegym.rl.recipes import load_recipe\n"
        f"assert spikegym.__file__.startswith({str(site)!r}), spikegym.__file__\n"
        "env = spikegym.make('CartPole-v1')\n"
        "assert env.observation_space.shape == (8, 32)\n"
        "assert load_recipe('ppo', 'LunarLander-v3').n_envs > 0\n"
        "import gymnasium as gym\n"
        "assert gym.make('spikegym/Pendulum-v1').observation_space == spikegym.make('Pendulum-v1').observation_space\n"
    )
    variables = {k: v for k, v in os.environ.items() if k not in ("SPIKEGYM_CONFIG_DIR", "SPIKEGYM_AGENTS_DIR")}
    environment = {**variables, "PYTHONPATH": str(site)}
    command = [sys.executable, "-c", code]
    result = subprocess.run(command, cwd=elsewhere, env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
