"""NIR export: a round trip gives the trained model's actions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spikegym.rl.replay import make_replay_env, recorded_actions
from spikegym.rl.runs import load_run


def test_nir_export_round_trip_gives_the_same_actions(trained: tuple[Path, object], tmp_path: Path) -> None:
    import nir

    from spikegym.cli.main import main
    from spikegym.rl.export import load_policy

    run_dir, model = trained
    target = tmp_path / "policy.nir"
    assert main(["export", str(run_dir), "--nir", str(target)]) == 0
    graph = nir.read(target)
    assert {"input", "fc0", "lif0", "fc1", "lif1", "head0", "output"} <= set(graph.nodes)
    policy = load_policy(target)
    env = make_replay_env(load_run(run_dir))
    observations = []
    observation, _ = env.reset(seed=5)
    for _ in range(100):
        observations.append(observation)
        observation, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            observation, _ = env.reset()
    batch = np.stack(observations)
    assert np.array_equal(policy.act(batch), recorded_actions(load_run(run_dir), batch, model))
    with pytest.raises(SystemExit):
        main(["export", str(run_dir), "--nir", str(target)])
