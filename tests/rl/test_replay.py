"""Replay as trained, and the cost per decision."""

from __future__ import annotations

import os
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml

from spikegym.rl.energy import EnergyModel, dense_cost, spiking_cost
from spikegym.rl.energy_models import energy_model
from spikegym.rl.extractors import SpikingExtractor
from spikegym.rl.replay import make_replay_env, recorded_actions, replay
from spikegym.rl.runs import RunError, load_run
from spikegym.rl.training import load_model


def test_energy_of_a_hand_computed_tiny_network() -> None:
    extractor = SpikingExtractor(gym.spaces.MultiBinary((2, 3)), hidden=(2, 4), beta=0.9, threshold=1.0)
    with torch.no_grad():
        for layer in extractor.layers:
            layer.weight.fill_(2.0)
            layer.bias.zero_()
    extractor.record = True
    block = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])  # one input spike at the first sub-step
    extractor(block)
    # layer 1: current 2 at t=0 -> both neurons fire; t=1: 0.9 * 2 - 1 = 0.8 -> silent
    assert extractor.last_spikes[0].sum().item() == 2
    # layer 2: current 2 * 2 = 4 at t=0 -> all 4 fire; t=1: 0.9 * 4 - 1 = 2.6 -> all 4 fire again
    assert extractor.last_spikes[1].sum().item() == 8
    energy = EnergyModel(e_ac_pj=1.0, e_mac_pj=5.0)
    cost = spiking_cost(list(extractor.layers), [1, 2], head_macs=4 * 2, model=energy)
    assert cost.synaptic_ops == 1 * 2 + 2 * 4  # spikes in x fan-out, per layer
    assert cost.energy_pj == 10 * 1.0 + 8 * 5.0
    assert dense_cost([3, 2, 4, 2], energy).macs == 3 * 2 + 2 * 4 + 4 * 2


def test_save_then_replay_gives_the_in_memory_models_actions(trained: tuple[Path, object]) -> None:
    run_dir, model = trained
    run = load_run(run_dir)
    env = make_replay_env(run)
    observations = []
    observation, _ = env.reset(seed=3)
    for _ in range(50):
        observations.append(observation)
        observation, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            observation, _ = env.reset()
    batch = np.stack(observations)
    assert np.array_equal(recorded_actions(run, batch), recorded_actions(run, batch, model))


def test_replay_reports_returns_spikes_and_energy(trained: tuple[Path, object], tmp_path: Path) -> None:
    run = load_run(trained[0])
    report = replay(run, episodes=2, deterministic=True, raster=tmp_path / "raster.png", video=tmp_path / "a.mp4")
    assert (tmp_path / "a.mp4").stat().st_size > 1_000
    assert len(report.returns) == 2 and all(r > 0 for r in report.returns)
    assert report.input_spikes > 0 and len(report.hidden_rates) == 2
    assert report.spiking is not None and report.ann is not None
    first, second = run.recipe.spiking["hidden"]
    assert report.spiking.synaptic_ops > 0 and report.ann.macs == 4 * first + first * second + second * 2
    mlp_first, mlp_second = run.recipe.ann_net_arch
    assert report.baseline is not None
    assert report.baseline.macs == 4 * mlp_first + mlp_first * mlp_second + mlp_second * 2
    assert report.baseline.energy_pj == report.baseline.macs * report.energy.e_mac_pj
    assert (tmp_path / "raster.png").stat().st_size > 5_000


def test_replay_refuses_a_config_that_does_not_match_the_model(trained: tuple[Path, object], tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(trained[0], copy)
    data = yaml.safe_load((copy / "encoder.yaml").read_text())
    data["substeps"] = 4
    (copy / "encoder.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(RunError, match=r"encoder\.yaml changed since the run was written"):
        load_run(copy)
    with pytest.raises(RunError, match="does not match its model"):
        replay(load_run(copy, allow_edited=True), episodes=1)


def test_replay_counts_neuron_updates_and_neurobenchs_counts_match_its_own(trained: tuple[Path, object]) -> None:
    try:
        import neurobench  # noqa: F401
    except ImportError as error:
        message = f"NeuroBench is not installed ({error}): pip install --no-deps neurobench==2.3.0"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    run = load_run(trained[0])
    loihi = energy_model("loihi")
    report = replay(run, episodes=1, deterministic=True, energy=loihi, neurobench=True)
    spiking, counts = report.spiking, report.neurobench
    assert spiking is not None and counts is not None and counts.decisions == report.returns[0]  # CartPole: 1 a step
    steps, hidden = load_model(run).observation_space.shape[0], run.recipe.spiking["hidden"]
    assert spiking.neuron_updates == steps * sum(hidden)
    expected = spiking.synaptic_ops * 23.6 + spiking.macs * loihi.e_mac_pj + spiking.neuron_updates * 81.0
    assert spiking.energy_pj == pytest.approx(expected)
    # batched in NeuroBench, one decision at a time in replay: a last-bit rounding may flip a rare spike
    assert counts.effective_acs == pytest.approx(spiking.synaptic_ops, rel=1e-3)
    assert counts.effective_macs == pytest.approx(spiking.macs, rel=1e-3)
    assert counts.dense_ops == pytest.approx(report.dense_ops)
    assert counts.activation_sparsity == pytest.approx(report.activation_sparsity, abs=1e-4)
    assert 0 < counts.membrane_updates <= spiking.neuron_updates
    assert counts.cost(loihi).energy_pj == pytest.approx(spiking.energy_pj, rel=1e-2)


def test_replay_with_the_default_model_prices_acs_and_macs_only(trained: tuple[Path, object]) -> None:
    report = replay(load_run(trained[0]), episodes=1, deterministic=True)
    spiking = report.spiking
    assert spiking is not None and spiking.neuron_updates > 0 and report.neurobench is None
    assert spiking.energy_pj == pytest.approx(spiking.synaptic_ops * 0.9 + spiking.macs * 4.6)
