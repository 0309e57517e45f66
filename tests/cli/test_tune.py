"""``spikegym tune``: bad input refused before any work, the table, the config, --force, plots."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest
from gymnasium import spaces

from spikegym.cli import tune as tune_command
from tests.helpers import ENCODER_NAMES


class TextObservations(gym.Env):
    observation_space = spaces.Text(5)
    action_space = spaces.Discrete(2)


class BoxObservations(gym.Env):
    """An env no config is shipped for."""

    observation_space = spaces.Box(-1.0, 1.0, (2,))
    action_space = spaces.Discrete(2)


gym.register("TextObservations-v0", entry_point=TextObservations)
gym.register("BoxObservations-v0", entry_point=BoxObservations)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """In ``tmp_path``: rollouts of Acrobot-v1, a file that is no rollouts, a directory, a plain file."""
    from spikegym.envs.rollouts import record

    record("Acrobot-v1", 20, seed=0).save(tmp_path / "acrobot.npz")
    (tmp_path / "text.npz").write_text("not rollouts")
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("a file")
    return tmp_path


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["Nowhere-v9"], "unknown env id 'Nowhere-v9'"),
        (["CartPole-v1", "--encoder", "morse"], "--encoder must be one of"),
        (["CartPole-v1", "--trials", "0"], "--trials must be >= 1, got 0"),
        (["TextObservations-v0"], "TextObservations-v0: observation_space is Text"),
        (["CartPole-v1", "--storage", "sqlite:////no/such/dir/tune.db"], "cannot be opened"),
        (["CartPole-v1", "--param", "n_bins"], "--param must look like NAME=VALUE"),
        (["CartPole-v1", "--encoder", "sf", "--param", "n_bins=6"], "['n_bins']: not a parameter of ['step_forward']"),
        (["CartPole-v1", "--agent", "/no/such/run"], "--agent: /no/such/run is not a directory"),
        (["CartPole-v1", "--rollouts", "missing.npz"], "--rollouts 'missing.npz' is not a file"),
        (["CartPole-v1", "--encoder", "population", "--param", "n_bins=-3"], "--param n_bins=-3: population"),
        (["CartPole-v1", "--encoder", "sf", "--param", "threshold=abc"], "--param threshold=abc: step_forward"),
        (["CartPole-v1", "--param", "threshold=-1"], "--param threshold=-1: "),
        (["CartPole-v1", "--held-out", "0"], "--held-out must be a fraction in (0, 1), got 0.0"),
        (["CartPole-v1", "--held-out", "1"], "--held-out must be a fraction in (0, 1), got 1.0"),
        (["CartPole-v1", "--held-out", "nan"], "--held-out must be a fraction in (0, 1), got nan"),
        (["CartPole-v1", "--steps", "0"], "--steps must be >= 2, got 0"),
        (["CartPole-v1", "--episodes", "0"], "--episodes must be >= 2"),
        (["CartPole-v1", "--substeps", "0"], "--substeps must be >= 1, got 0"),
        (["CartPole-v1", "--spike-weight", "-1"], "--spike-weight must be a number >= 0, got -1.0"),
        (["CartPole-v1", "--spike-weight", "nan"], "--spike-weight must be a number >= 0, got nan"),
        (["CartPole-v1", "--max-spike-rate", "0"], "--max-spike-rate must be a number > 0, got 0.0"),
        (["CartPole-v1", "--max-spike-rate", "-2"], "--max-spike-rate must be a number > 0, got -2.0"),
        (["CartPole-v1", "--max-spike-rate", "inf"], "--max-spike-rate must be a number > 0, got inf"),
        (["CartPole-v1", "--heartbeat", "0"], "--heartbeat must be a number of seconds > 0, got 0.0"),
        (["CartPole-v1", "--output", "adir"], "--output adir is a directory"),
        (["CartPole-v1", "--output", "afile/c.yaml"], "--output afile/c.yaml: afile is not a directory"),
        (["CartPole-v1", "--plot", "tune.xyz"], "--plot tune.xyz: format 'xyz' is not supported"),
        (["CartPole-v1", "--plot", "tune"], "--plot tune: give a file name ending in one of"),
        (["CartPole-v1", "--plot", "adir"], "--plot adir is a directory"),
        (["CartPole-v1", "--plot", "afile/t.png"], "--plot afile/t.png: afile is not a directory"),
        (["CartPole-v1", "--plot", "afile.png"], "--plot afile.png exists; pass --force"),
        (["CartPole-v1", "--rollouts", "acrobot.npz"], "--rollouts acrobot.npz holds rollouts of Acrobot-v1"),
        (["CartPole-v1", "--rollouts", "text.npz"], "--rollouts text.npz cannot be read"),
        (["CartPole-v1", "--rollouts", "acrobot.npz", "--episodes", "5"], "--episodes: the rollouts come from"),
        (["CartPole-v1", "--rollouts", "acrobot.npz", "--agent", "run"], "give one of --rollouts and --agent"),
        (["CartPole-v1", "--study-name", "s"], "--study-name needs --storage"),
        (["CartPole-v1", "--storage", "no-scheme.db"], "storage 'no-scheme.db' is not a storage URL"),
        (["BoxObservations-v0", "--bounds", "config"], "--bounds config: no config for BoxObservations-v0"),
        (["CartPole-v1", "--encoder", "sf"], "--encoder sf with --policy stateless: a stateless policy cannot read"),
        (["CartPole-v1", "--encoder", "bsa"], "its filter spans order + 1 = 16 steps, more than the T=8 window"),
        (["CartPole-v1", "--encoder", "pwm", "--policy", "stateless"], "Choose one of ['population', 'rate']"),
        (["CartPole-v1", "--policy", "recurrent"], "argument --policy: invalid choice: 'recurrent'"),
    ],
)
def test_the_tune_command_refuses_bad_input_before_any_work(
    arguments: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    files: Path,
) -> None:
    from spikegym.cli.main import main

    monkeypatch.chdir(files)
    monkeypatch.setenv("SPIKEGYM_CONFIG_DIR", str(files))
    (files / "afile.png").write_bytes(b"a plot the user keeps")
    for work in ("tune_encoder", "record", "record_agent"):
        monkeypatch.setattr(tune_command, work, lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(SystemExit) as exit_info:
        main(["tune", *arguments, "--no-progress"])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_tune_all_prints_a_row_per_encoder_and_writes_the_best(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from spikegym.cli.main import main
    from spikegym.envs.configs import load_config

    monkeypatch.chdir(tmp_path)
    argv = ["tune", "CartPole-v1", "--trials", "12", "--steps", "600", "--no-progress", "--bounds", "data"]
    argv += ["--policy", "stateful"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    rows = {
        line.split()[0]: line.split()
        for line in out.splitlines()
        if line.split()[:1] and line.split()[0] in ENCODER_NAMES
    }
    assert sorted(rows) == ENCODER_NAMES
    best = [name for name, row in rows.items() if row[-1] == "*"]
    assert len(best) == 1
    config = load_config(tmp_path / "envs_configs" / "CartPole-v1.yaml")
    assert config.encoder == best[0]
    assert config.provenance["command"] == "spikegym " + " ".join(argv)
    assert config.provenance["trials"] == 12 and config.provenance["seed"] == 0
    assert {"held_out_nrmse", "held_out_spike_rate"} <= set(config.provenance["scores"])
    record = config.provenance
    assert record["policy"] == "stateful" and record["considered"] == ENCODER_NAMES
    assert record["left_out"] == {} and "left out" not in out
    assert record["choice"].startswith(f"{best[0]}: lowest held-out nrmse")


def test_tune_all_for_a_stateless_policy_leaves_out_the_temporal_encoders_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from spikegym.cli.main import main
    from spikegym.envs.configs import load_config

    argv = ["tune", "CartPole-v1", "--trials", "4", "--steps", "300", "--no-progress", "--output", str(tmp_path / "c")]
    assert main(argv) == 0  # --policy stateless is the default
    out = capsys.readouterr().out
    left_out = sorted(line.split()[2].rstrip(":") for line in out.splitlines() if line.startswith("left out "))
    assert left_out == ["bsa", "lif", "pwm", "step_forward"]
    assert "left out step_forward: a stateless policy cannot read it: its spikes mark changes" in out
    rows = [line.split()[0] for line in out.splitlines() if line.split()[:1] and line.split()[0] in ENCODER_NAMES]
    assert sorted(rows) == ["population", "rate"]
    config = load_config(tmp_path / "c")
    assert config.encoder in ("population", "rate")
    record = config.provenance
    assert record["notes"] == "4 trials per feature in memory"
    assert record["policy"] == "stateless" and record["considered"] == ["population", "rate"]
    reasons = record["left_out"]
    assert sorted(reasons) == left_out
    assert "beta**T=0.66" in reasons["lif"] and "tuning searches frequency" in reasons["pwm"]
    runner_up = ({"population", "rate"} - {config.encoder}).pop()
    assert record["choice"].startswith(f"{config.encoder}: lowest held-out nrmse + 0.002 x spike rate")
    assert f"of 2 tuned (next: {runner_up}, " in record["choice"]


def test_a_longer_window_or_a_readable_fixed_parameter_lets_a_stateless_policy_read_more(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from spikegym.cli.main import main
    from spikegym.envs.configs import load_config

    argv = ["tune", "CartPole-v1", "--trials", "2", "--steps", "200", "--no-progress", "--force"]
    assert main([*argv, "--substeps", "16", "--output", str(tmp_path / "c")]) == 0
    assert "left out bsa" not in capsys.readouterr().out
    assert load_config(tmp_path / "c").provenance["considered"] == ["bsa", "population", "rate"]
    assert main([*argv, "--encoder", "lif", "--param", "beta=0.6", "--output", str(tmp_path / "d")]) == 0
    assert load_config(tmp_path / "d").encoder == "lif"
    assert load_config(tmp_path / "d").provenance["choice"].startswith("lif: the only encoder tuned")


def test_max_spike_rate_restricts_the_choice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from spikegym.cli.main import main
    from spikegym.envs.configs import load_config

    out_path = tmp_path / "c.yaml"
    argv = ["tune", "CartPole-v1", "--trials", "12", "--steps", "600", "--no-progress", "--output", str(out_path)]
    argv += ["--policy", "stateful"]  # the codes a stateless policy reads spend more than a spike per step
    assert main([*argv, "--max-spike-rate", "1.0"]) == 0
    out = capsys.readouterr().out
    chosen = load_config(out_path)
    best_row = next(line.split() for line in out.splitlines() if line.endswith(" *"))
    assert best_row[0] == chosen.encoder and float(best_row[2]) <= 1.0
    with pytest.raises(SystemExit):
        main([*argv, "--force", "--max-spike-rate", "0.0001"])
    assert "no encoder reaches --max-spike-rate" in capsys.readouterr().err


def test_force_keeps_the_previous_config_as_a_numbered_backup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from spikegym.cli.main import main
    from spikegym.envs.configs import load_config

    out_path = tmp_path / "c.yaml"
    argv = ["tune", "CartPole-v1", "--trials", "8", "--steps", "400", "--no-progress", "--output", str(out_path)]
    argv += ["--policy", "stateful"]
    assert main([*argv, "--encoder", "sf"]) == 0
    with pytest.raises(SystemExit):
        main([*argv, "--encoder", "lif"])
    assert "exists; pass --force" in capsys.readouterr().err
    assert load_config(out_path).encoder == "step_forward"
    assert main([*argv, "--encoder", "lif", "--force"]) == 0
    assert load_config(out_path).encoder == "lif"
    assert load_config(tmp_path / "c.yaml.1.bak").encoder == "step_forward"
    assert f"the previous one is kept as {tmp_path / 'c.yaml.1.bak'}" in capsys.readouterr().out


def test_pareto_tuning_with_a_plot(tmp_path: Path) -> None:
    from spikegym.cli.main import main

    plot = tmp_path / "tune.png"
    plot.write_bytes(b"the user's old plot")
    argv = ["tune", "CartPole-v1", "--encoder", "sf", "--trials", "16", "--steps", "400", "--pareto", "--force"]
    argv += ["--policy", "stateful"]
    assert main([*argv, "--no-progress", "--output", str(tmp_path / "c.yaml"), "--plot", str(plot)]) == 0
    assert plot.stat().st_size > 10_000 and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "tune.png.1.bak").read_bytes() == b"the user's old plot"


def test_tuning_refuses_an_agent_of_another_env(
    trained: tuple[Path, object], capsys: pytest.CaptureFixture[str]
) -> None:
    from spikegym.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(["tune", "Acrobot-v1", "--agent", str(trained[0]), "--no-progress"])
    assert exit_info.value.code == 2
    assert f"--agent {trained[0]} was trained on CartPole-v1, not Acrobot-v1" in capsys.readouterr().err


def test_a_study_name_reused_with_other_settings_is_refused_naming_the_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from spikegym.cli.main import main
    from spikegym.envs.rollouts import record

    rollouts = record("CartPole-v1", 400, seed=0).save(tmp_path / "c.npz")
    storage = f"sqlite:///{tmp_path / 'tune.db'}"
    argv = ["tune", "CartPole-v1", "--encoder", "sf", "--trials", "8", "--rollouts", str(rollouts), "--no-progress"]
    argv += ["--policy", "stateful"]
    argv += ["--storage", storage, "--study-name", "s", "--output", str(tmp_path / "c.yaml")]
    assert main(argv) == 0
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--force", "--objective", "mse"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"study 's/step_forward/x[0]' in storage '{storage}'" in err
    assert "objective (study: 'nrmse', this run: 'mse')" in err and "pass another study name (--study-name)" in err


def test_provenance_states_the_trials_run_and_the_study(tmp_path: Path) -> None:
    from spikegym.cli.main import main
    from spikegym.envs.configs import load_config

    storage = f"sqlite:///{tmp_path / 'tune.db'}"
    argv = ["tune", "CartPole-v1", "--encoder", "sf", "--steps", "400", "--no-progress", "--storage", storage]
    argv += ["--policy", "stateful"]
    argv += ["--study-name", "p", "--output", str(tmp_path / "c.yaml")]
    assert main([*argv, "--trials", "8"]) == 0
    first = load_config(tmp_path / "c.yaml").provenance
    assert first["trials"] == 8 and "new study 'p'" in first["notes"] and "resumed" not in first["notes"]
    assert main([*argv, "--trials", "12", "--force"]) == 0
    second = load_config(tmp_path / "c.yaml").provenance
    assert second["trials"] == 12
    assert "resumed study 'p'" in second["notes"]
    assert "8 of 12 trials per feature were finished before this run" in second["notes"]
