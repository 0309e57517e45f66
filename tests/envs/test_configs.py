"""Env configs: loading validates every field, saving never loses a file, the wrapper and spikegym.make use them."""

from __future__ import annotations

import logging
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml

import spikegym
from spikegym.envs.configs import SHIPPED_DIR, ConfigError, EncoderConfig, find_config, load_config
from spikegym.envs.gym_encoder import GymnasiumEncoder
from spikegym.envs.rollouts import record
from spikegym.envs.wrappers import SpikeObservationWrapper
from spikegym.tuning.objectives import stream_scores

CARTPOLE = SHIPPED_DIR / "CartPole-v1.yaml"


def valid() -> dict:
    return yaml.safe_load(CARTPOLE.read_text())


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "Some-v0.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


SHIPPED = sorted(path.stem for path in SHIPPED_DIR.glob("*.yaml") if "." not in path.stem)
"""The env ids with a shipped config."""
SHIPPED_FILES = sorted(path.name for path in SHIPPED_DIR.glob("*.yaml"))
"""Every shipped config: each env's own, and tuned configs of other encoders (``<env-id>.<encoder>.yaml``)."""


def test_configs_ship_for_the_classic_suite() -> None:
    expected = {"Acrobot-v1", "CartPole-v1", "LunarLander-v3", "MountainCar-v0", "MountainCarContinuous-v0"}
    assert expected | {"Pendulum-v1"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED_FILES)
def test_a_shipped_config_reproduces_its_held_out_score_through_the_wrapper(name: str) -> None:
    """Re-record the rollouts its provenance command tuned on and score the held-out episodes as the wrapper does."""
    from spikegym.cli.main import build_parser
    from spikegym.cli.tune import DEFAULT_STEPS

    config = load_config(SHIPPED_DIR / name)
    env_id = config.env_id
    assert config.provenance["method"] == "spikegym tune" and name.startswith(f"{env_id}.")
    assert name in (f"{env_id}.yaml", f"{env_id}.{config.encoder}.yaml")
    command = build_parser().parse_args(config.provenance["command"].split()[1:])
    assert command.command == "tune" and command.env_id == env_id
    rollouts = record(env_id, command.steps or DEFAULT_STEPS, seed=command.seed)
    _, held_out = rollouts.split(command.held_out, seed=command.seed)
    encoder = GymnasiumEncoder(gym.make(env_id).observation_space, config, env_id=env_id)
    scores = stream_scores(encoder, held_out)
    recorded = config.provenance["scores"]
    assert scores.nrmse == pytest.approx(recorded["held_out_nrmse"], abs=2e-6)
    assert scores.spike_rate == pytest.approx(recorded["held_out_spike_rate"], abs=2e-6)


def test_round_trip_through_yaml(tmp_path: Path) -> None:
    config = load_config(CARTPOLE)
    path = config.save(tmp_path / "copy.yaml")
    again = load_config(path)
    assert again == config and again.source == path


def test_save_never_overwrites_without_force_and_keeps_a_backup(tmp_path: Path) -> None:
    target = tmp_path / "CartPole-v1.yaml"
    first = EncoderConfig("CartPole-v1", "sf", {"threshold": 0.1})
    first.save(target)
    second = EncoderConfig("CartPole-v1", "lif", {"threshold": 0.2})
    with pytest.raises(FileExistsError, match="exists; pass force=True"):
        second.save(target)
    assert load_config(target).encoder == "step_forward" or load_config(target).encoder == "sf"
    second.save(target, force=True)
    assert load_config(target).encoder == "lif"
    assert yaml.safe_load((tmp_path / "CartPole-v1.yaml.1.bak").read_text())["encoder"] == "sf"


def test_every_forced_save_keeps_its_own_backup(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    target = tmp_path / "CartPole-v1.yaml"
    for threshold in (0.1, 0.2, 0.3):
        with caplog.at_level(logging.WARNING):
            EncoderConfig("CartPole-v1", "sf", {"threshold": threshold}).save(target, force=True)
    assert "the previous file is kept as" in caplog.text and str(tmp_path / "CartPole-v1.yaml.2.bak") in caplog.text
    kept = [yaml.safe_load((tmp_path / f"CartPole-v1.yaml.{n}.bak").read_text()) for n in (1, 2)]
    assert [data["params"]["threshold"] for data in kept] == [0.1, 0.2]
    assert load_config(target).params["threshold"] == 0.3


def test_numpy_values_are_saved_as_plain_yaml(tmp_path: Path) -> None:
    config = EncoderConfig("X-v0", "sf", {"threshold": np.array([0.1, 0.2])}, low=np.zeros(2), high=np.ones(2))
    path = config.save(tmp_path / "x.yaml")
    assert load_config(path).params["threshold"] == [0.1, 0.2]


def test_who_a_config_was_tuned_for_round_trips_field_by_field(tmp_path: Path) -> None:
    data = valid()
    data["provenance"].update(
        policy="stateless", considered=["population", "rate"], left_out={"step_forward": "it marks changes"},
        choice="rate: lowest held-out nrmse",
    )  # fmt: skip
    config = load_config(write(tmp_path, data))
    assert config.provenance["left_out"] == {"step_forward": "it marks changes"}
    again = tmp_path / "again.yaml"
    config.save(again)
    assert load_config(again).provenance == config.provenance


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("encoder"), r"missing field 'encoder'"),
        (lambda d: d.update(env_id=3), r"field 'env_id': expected a string, got 3"),
        (lambda d: d.update(encoder="morse"), r"field 'encoder': expected one of \['bsa', .*\], got 'morse'"),
        (lambda d: d.update(substeps=0), r"field 'substeps': expected an integer >= 1, got 0"),
        (lambda d: d.update(substeps="8"), r"field 'substeps': expected an integer >= 1, got '8'"),
        (lambda d: d.update(upsample="cubic"), r"field 'upsample': expected 'hold' or 'linear', got 'cubic'"),
        (lambda d: d.update(colour="red"), r"unknown field\(s\) \['colour'\]"),
        (lambda d: d["params"].update(gain=2), r"field 'params.gain': not a parameter of 'population'"),
        (lambda d: d["params"].update(max_rate=[0.5, "x"]), r"field 'params.max_rate': expected a finite number"),
        (lambda d: d["params"].update(max_rate=3.0), r"field 'params' of encoder 'population': max_rate must be"),
        (lambda d: d["bounds"].update(low=[0, 0, 0]), r"'low' has 3 values but 'high' has 4"),
        (lambda d: d["bounds"].update(low="wide"), r"field 'bounds.low': expected a non-empty list of finite numbers"),
        (lambda d: d["bounds"].update(high=[2.4, 2.0, -1.0, 2.5]), r"field 'bounds.high\[2\]': expected a value"),
        (lambda d: d["bounds"].update(features=["a"]), r"field 'bounds.features': expected a list of 4"),
        (lambda d: d.update(bounds=[1, 2]), r"field 'bounds': expected a mapping with 'low' and 'high'"),
        (lambda d: d["provenance"].update(trials="many"), r"field 'provenance.trials': expected a int, got 'many'"),
        (lambda d: d["provenance"].update(scores={"nrmse": "low"}), r"field 'provenance.scores': expected names"),
        (lambda d: d["provenance"].update(author="me"), r"field 'provenance.author': unknown"),
        (
            lambda d: d["provenance"].update(policy="recurrent"),
            r"field 'provenance.policy': expected one of \['stateless', 'stateful'\], got 'recurrent'",
        ),
        (lambda d: d["provenance"].update(considered="rate"), r"field 'provenance.considered': expected a list"),
        (lambda d: d["provenance"].update(considered=["rate", 3]), r"'provenance.considered': expected encoder names"),
        (lambda d: d["provenance"].update(left_out={"sf": 1}), r"'provenance.left_out': expected encoder names mapped"),
    ],
)
def test_every_field_is_validated_with_file_and_field_in_the_error(tmp_path: Path, edit, message: str) -> None:
    data = valid()
    edit(data)
    path = write(tmp_path, data)
    with pytest.raises(ConfigError, match=message) as raised:
        load_config(path)
    assert str(path) in str(raised.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"env_id: CartPole-v1\nencoder: sf\nencoder: lif\n", r"key 'encoder' appears twice \(line 3\)"),
        (b"env_id: CartPole-v1\nencoder: sf\nparams:\n  threshold: 0.1\n  threshold: 0.5\n", r"key 'threshold'"),
        (b"env_id: CartPole-v1\nencoder: sf  # caf\xe9\n", r"not UTF-8 text \(invalid continuation byte at byte"),
        (b"env_id: CartPole-v1\nencoder: rate\nparams:\n  exc_inh: 'false'\n", r"field 'params' of encoder 'rate'"),
        (b"env_id: CartPole-v1\nencoder: sf\nparams:\n  threshold: '0.05'\n", r"field 'params' of encoder 'sf'"),
    ],
)
def test_duplicate_keys_bad_encodings_and_strings_for_values_name_the_file(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as raised:
        load_config(path)
    assert str(path) in str(raised.value)


def test_malformed_yaml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "env_id: [CartPole-v1\nencoder: sf\n")
    with pytest.raises(ConfigError, match=rf"{path}: not valid YAML"):
        load_config(path)
    path = write(tmp_path, "just a string")
    with pytest.raises(ConfigError, match="expected a mapping of fields"):
        load_config(path)


def test_missing_configs_say_where_they_were_looked_for(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no config for env 'Nowhere-v0': looked for Nowhere-v0.yaml in"):
        load_config("Nowhere-v0")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_the_config_dir_variable_and_the_working_directory_come_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = EncoderConfig("CartPole-v1", "lif", low=[-2.4, -1, -0.2, -1], high=[2.4, 1, 0.2, 1])
    own.save(tmp_path / "mine" / "CartPole-v1.yaml")
    monkeypatch.setenv("SPIKEGYM_CONFIG_DIR", str(tmp_path / "mine"))
    assert find_config("CartPole-v1") == tmp_path / "mine" / "CartPole-v1.yaml"
    monkeypatch.delenv("SPIKEGYM_CONFIG_DIR")
    monkeypatch.chdir(tmp_path)
    own.save()
    assert find_config("CartPole-v1") == Path.cwd() / "envs_configs" / "CartPole-v1.yaml"
    assert load_config("CartPole-v1").encoder == "lif"


def test_the_wrapper_takes_a_config_by_env_id_path_or_object() -> None:
    config = load_config("CartPole-v1")
    for spec in ("CartPole-v1", CARTPOLE, str(CARTPOLE), config):
        env = SpikeObservationWrapper(gym.make("CartPole-v1"), spec)
        assert env.gym_encoder.config == config
        assert env.observation_space.shape == (8, 32)
        low, high = env.gym_encoder.bounds
        assert low.tolist() == pytest.approx(config.low) and high.tolist() == pytest.approx(config.high)


def test_arguments_override_the_config() -> None:
    config = load_config("CartPole-v1")
    env = SpikeObservationWrapper(gym.make("CartPole-v1"), "CartPole-v1", substeps=4, n_bins=5)
    assert env.observation_space.shape == (4, 20)
    assert env.gym_encoder.encoder.max_rate.tolist() == pytest.approx(config.params["max_rate"])


def test_a_config_for_another_env_is_refused() -> None:
    with pytest.raises(ValueError, match=r"is for env 'CartPole-v1', but the env is 'Acrobot-v1'"):
        SpikeObservationWrapper(gym.make("Acrobot-v1"), "CartPole-v1")
    foreign = EncoderConfig("Other-v0", "sf", low=[0.0] * 3, high=[1.0] * 3)
    with pytest.raises(ConfigError, match=r"field 'bounds' has 3 features, but the observation space has 4"):
        GymnasiumEncoder(gym.make("CartPole-v1").observation_space, foreign)


def test_unknown_encoder_strings_list_the_options() -> None:
    with pytest.raises(ValueError, match=r"encoder 'morse' is neither an encoder \(\['bsa'.*no config for env 'morse'"):
        SpikeObservationWrapper(gym.make("CartPole-v1"), "morse")


def test_spikegym_make_and_make_vec_use_the_shipped_config() -> None:
    env = spikegym.make("CartPole-v1")
    observation, info = env.reset(seed=0)
    assert observation.shape == (8, 32) and info["spikes"]["count"] == int(observation.sum())
    envs = spikegym.make_vec("CartPole-v1", 2, vectorization_mode="sync")
    batch, _ = envs.reset(seed=0)
    assert np.array_equal(batch[0], observation)
