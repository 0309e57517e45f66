"""The scripts' figures explain themselves: bench_agents' learning curves (seeds named, bands within what
the seeds reached, legends off the curves), plot_encoders' overview (documented names, shared steps) and
bench_grid's panels (in the grid's env order)."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path
from types import ModuleType

import gymnasium as gym
import numpy as np
from matplotlib.collections import PolyCollection

from spikegym.envs.configs import load_config
from spikegym.envs.gym_encoder import GymnasiumEncoder
from spikegym.envs.rollouts import record
from tests.figure_checks import legend_labels, legends_off_the_axes

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_runs(tmp_path: Path, curves: dict[tuple[str, str], list[list[float]]]) -> Path:
    """A results CSV whose runs hold the given evaluation curves (one list per seed)."""
    bench = script("bench_agents")
    csv_path = tmp_path / "agents.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=bench.COLUMNS, restval="0")
        writer.writeheader()
        for (env_id, policy), seeds in curves.items():
            for seed, returns in enumerate(seeds):
                run_dir = tmp_path / f"{env_id}-{policy}-{seed}"
                (run_dir / "eval").mkdir(parents=True)
                results = np.repeat(np.asarray(returns)[:, None], 3, axis=1)
                np.savez(run_dir / "eval" / "evaluations.npz", timesteps=np.arange(1, len(returns) + 1) * 1000,
                         results=results)  # fmt: skip
                writer.writerow({"env": env_id, "algo": bench.ALGORITHM[env_id], "policy": policy, "seed": seed,
                                 "run_dir": str(run_dir), "recipe": ""})  # fmt: skip
    return csv_path


def test_learning_curves_name_the_seeds_and_keep_bands_within_the_seeds_returns(tmp_path: Path) -> None:
    cartpole = [[100, 500, 500, 500], [90, 500, 500, 500], [80, 120, 480, 500]]
    pendulum = [[-1400, -900, -300], [-1300, -200, -150]]
    csv_path = write_runs(
        tmp_path,
        {
            ("CartPole-v1", "spiking"): cartpole,
            ("CartPole-v1", "mlp"): cartpole[:2],
            ("Pendulum-v1", "spiking"): pendulum,
            ("Pendulum-v1", "mlp"): pendulum[:1],
        },
    )
    figure = script("bench_agents").learning_curves(csv_path, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 10_000
    assert legend_labels(figure) == [
        "spiking: mean ± std over 3 seeds",
        "mlp: mean ± std over 2 seeds",
        "spiking: mean ± std over 2 seeds",
        "mlp: mean ± std over 1 seed",
    ]
    assert [axis.get_legend().get_title().get_text() for axis in figure.axes[:2]] == [
        "CartPole-v1 (ppo)",
        "Pendulum-v1 (sac)",
    ]
    assert legends_off_the_axes(figure) == []
    assert all(line.get_marker() == "o" for axis in figure.axes for line in axis.lines), "one evaluation shows"
    for axis, seeds in zip(figure.axes[:2], (cartpole, pendulum), strict=True):
        bands = [c for c in axis.collections if isinstance(c, PolyCollection)]
        assert len(bands) == 2
        spiking = bands[0].get_paths()[0].vertices[:, 1]
        assert spiking.max() <= np.max(seeds) and spiking.min() >= np.min(seeds)
    cartpole_band = figure.axes[0].collections[0].get_paths()[0].vertices[:, 1]
    assert np.isclose(cartpole_band.max(), 500), "the band reaches the best seed's return, not past it"


def test_the_encoder_overview_names_features_and_aligns_rasters_with_the_traces(tmp_path: Path) -> None:
    plot_encoders = script("plot_encoders")
    space = gym.make("CartPole-v1").observation_space
    episode = record("CartPole-v1", 40, seed=3).episodes[0]
    scores = type("Scores", (), {"nrmse": 0.01, "spike_rate": 1.5})()
    panels = [
        ("population", GymnasiumEncoder(space, load_config("CartPole-v1")), scores),
        ("step_forward", GymnasiumEncoder(space, "sf", env_id="CartPole-v1"), scores),
    ]
    figure = plot_encoders.overview(panels, episode, tmp_path / "overview.png")
    assert (tmp_path / "overview.png").stat().st_size > 10_000
    traces, rasters = figure.axes[0::2], figure.axes[1::2]
    names = ["cart position", "cart velocity", "pole angle", "pole angular velocity"]
    for raster in rasters:
        assert [tick.get_text() for tick in raster.get_yticklabels()] == names
        assert raster.get_xlim() == (0, len(episode))
    assert all(axis.get_xlim() == (0, len(episode)) for axis in traces)
    assert legend_labels(figure) == ["pole angle", "decoded"]
    assert legends_off_the_axes(figure) == []


def test_learning_curves_keep_a_figure_rather_than_redraw_it_without_missing_runs(tmp_path: Path) -> None:
    csv_path = tmp_path / "agents.csv"
    csv_path.write_text(
        "env,algo,policy,seed,steps,final_return,final_return_std,wall_s,steps_per_s,input_spike_rate,"
        "synaptic_ops,macs,energy_nj,run_dir\n"
        f"CartPole-v1,ppo,spiking,0,100,1,0,1,1,0.1,1,1,1,{tmp_path / 'gone'}\n"
    )
    figure_path = tmp_path / "curves.png"
    figure_path.write_bytes(b"the full benchmark's figure")
    assert script("bench_agents").learning_curves(csv_path, figure_path) is None
    assert figure_path.read_bytes() == b"the full benchmark's figure"


def test_the_grid_figure_draws_its_envs_in_the_grids_order_whatever_the_rows_order(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(SCRIPTS))  # bench_grid imports bench_agents beside it
    grid = script("bench_grid")
    rows = [
        {"env": env, "encoder": "rate", "policy": policy, "algo": "ppo", "seed": 0, "final_return": -1.0,
         "energy_nj": 1.0}
        for env in ("Pendulum-v1", "Acrobot-v1", "CartPole-v1") for policy in ("stateless", "stateful")
    ]  # fmt: skip
    figure = grid.figure(rows, tmp_path / "grid.png")
    assert [axis.get_title() for axis in figure.axes[:3]] == ["CartPole-v1", "Acrobot-v1", "Pendulum-v1"]
