"""``spikegym --version``, ``demo`` and ``score``."""

from __future__ import annotations

import pytest

from spikegym import __version__
from spikegym.cli.main import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"spikegym {__version__}"


def test_demo_prints_a_row_per_encoder(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--steps", "60", "--substeps", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert sorted(rows) == ["bsa", "lif", "population", "pwm", "rate", "step_forward"]
    for spikes, nrmse, mae, _ms in rows.values():
        assert float(spikes) >= 0 and 0 <= float(nrmse) < 1 and float(mae) >= 0


def test_demo_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--steps", "0"])
    assert exit_info.value.code == 2
    assert "--steps must be >= 1, got 0" in capsys.readouterr().err


def test_score_prints_the_wrappers_scores_of_the_shipped_config(capsys: pytest.CaptureFixture[str]) -> None:
    import gymnasium as gym

    from spikegym.envs.configs import load_config
    from spikegym.envs.gym_encoder import GymnasiumEncoder
    from spikegym.envs.rollouts import record
    from spikegym.tuning.objectives import stream_scores

    assert main(["score", "CartPole-v1", "--steps", "500", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    encoder = GymnasiumEncoder(gym.make("CartPole-v1").observation_space, load_config("CartPole-v1"))
    expected = stream_scores(encoder, record("CartPole-v1", 500, seed=2))
    assert f"NRMSE {expected.nrmse:.4f}" in out and f"spikes/feature/step {expected.spike_rate:.3f}" in out
    assert "NRMSE per feature: x[0]" in out


def test_score_of_an_env_without_config_says_where_it_looked() -> None:
    with pytest.raises(FileNotFoundError, match="no config for env 'FrozenLake-v1'"):
        main(["score", "FrozenLake-v1"])
