"""``spikegym --version``, ``demo`` and ``score``."""

from __future__ import annotations

import gymnasium as gym
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


def test_score_prints_the_wrappers_scores_of_the_shipped_config(capsys: pytest.CaptureFixture[str]) -> None:
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


class NeedsSimulator(gym.Env):
    def __init__(self) -> None:
        raise gym.error.DependencyNotInstalled('sim is not installed, run `pip install "sim"`')


gym.register("NeedsSimulator-v0", entry_point=NeedsSimulator)
gym.register("NeedsModule-v0", entry_point="no_such_simulator.envs:Env")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["score", "FrozenLake-v1"], "no config for env 'FrozenLake-v1': looked for FrozenLake-v1.yaml in "),
        (["score", "FrozenLake-v1"], "; tune one with: spikegym tune FrozenLake-v1"),
        (["score", "Nowhere-v9"], "unknown env id 'Nowhere-v9'"),
        (["score", "CartPole-v1", "--config", "/no/such.yaml"], "config file /no/such.yaml does not exist"),
        (["score", "CartPole-v1", "--config", "PENDULUM"], "is for env 'Pendulum-v1', but the env is 'CartPole-v1'"),
        (["score", "CartPole-v1", "--steps", "0"], "--steps must be >= 1, got 0"),
        (["demo", "--env", "Nowhere-v9"], "unknown env id 'Nowhere-v9'"),
        (["demo", "--env", "NeedsSimulator-v0"], "env 'NeedsSimulator-v0' needs a package that is not installed: sim"),
        (["demo", "--env", "NeedsModule-v0"], "env 'NeedsModule-v0' needs a package that is not installed: No module"),
        (["demo", "--substeps", "0"], "--substeps must be >= 1, got 0"),
    ],
)
def test_demo_and_score_refuse_bad_input_with_a_clear_error(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from spikegym.data import shipped

    arguments = [str(shipped("envs_configs") / "Pendulum-v1.yaml") if a == "PENDULUM" else a for a in arguments]
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
