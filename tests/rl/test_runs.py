"""Run directories: checksums of their files, and a clean RunError naming the file for each malformed one."""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from spikegym.rl.replay import replay
from spikegym.rl.runs import ENCODER_FILE, MODEL_FILE, RECIPE_FILE, RUN_FILE, RunError, load_run, sha256
from spikegym.rl.training import load_model


def _edit_yaml(path: Path, change: Callable[[dict], object]) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_run_yaml_records_the_checksum_of_every_run_file(trained: tuple[Path, object]) -> None:
    run_dir = trained[0]
    info = yaml.safe_load((run_dir / RUN_FILE).read_text())
    assert info["status"] == "complete" and info["steps"] >= 2048 and info["stop_signal"] is None
    assert info["checksums"] == {name: sha256(run_dir / name) for name in (MODEL_FILE, ENCODER_FILE, RECIPE_FILE)}
    assert load_run(run_dir).verified


def test_an_edited_encoder_parameter_of_the_same_shape_is_refused(run_copy: Path, caplog) -> None:
    def widen_sigma(data: dict) -> None:
        data["params"]["sigma"] = [2 * s for s in data["params"]["sigma"]]

    _edit_yaml(run_copy / ENCODER_FILE, widen_sigma)
    with pytest.raises(RunError, match=r"encoder\.yaml changed since the run was written.*--allow-edited"):
        load_run(run_copy)
    with caplog.at_level(logging.WARNING, logger="spikegym.rl.runs"):
        run = load_run(run_copy, allow_edited=True)
    assert run.edited == (ENCODER_FILE,) and "encoder.yaml changed since" in caplog.text
    assert run.config is not None and run.config.params["sigma"][0] > 0.1


def test_a_run_written_before_checksums_loads_with_a_warning(run_copy: Path, caplog) -> None:
    def as_before(data: dict) -> None:
        for key in ("status", "steps", "stop_signal", "continued_from", "checksums"):
            del data[key]

    _edit_yaml(run_copy / RUN_FILE, as_before)
    with caplog.at_level(logging.WARNING, logger="spikegym.rl.runs"):
        run = load_run(run_copy)
    assert not run.verified and run.info.status == "complete" and run.info.steps is None
    assert "before spikegym recorded checksums" in caplog.text
    assert len(replay(run, episodes=1).returns) == 1


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:300])


def _not_a_zip(path: Path) -> None:
    path.write_text("this is not a model")


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _zip_without_policy(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data", "{}")


def _zip_with_garbage_data(path: Path) -> None:
    with zipfile.ZipFile(path) as source:
        entries = {name: source.read(name) for name in source.namelist()}
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, b"{not json" if name == "data" else content)


def _yaml_text(text: str) -> Callable[[Path], None]:
    return lambda path: path.write_text(text)


def _yaml_change(change: Callable[[dict], object]) -> Callable[[Path], None]:
    return lambda path: _edit_yaml(path, change)


MALFORMED_RUN_YAML = {
    "syntax error": (_yaml_text("env_id: [CartPole-v1\nalgo: ppo\n"), "not valid YAML"),
    "not a mapping": (_yaml_text("- CartPole-v1\n- ppo\n"), "expected a mapping"),
    "missing key": (_yaml_change(lambda d: d.pop("algo")), r"missing key\(s\) \['algo'\]"),
    "unknown key": (_yaml_change(lambda d: d.update(colour="blue")), r"unknown key\(s\) \['colour'\]"),
    "seed of the wrong type": (_yaml_change(lambda d: d.update(seed="zero")), "'seed' must be an integer >= 0"),
    "bool as seed": (_yaml_change(lambda d: d.update(seed=True)), "'seed' must be an integer >= 0"),
    "unknown algo": (_yaml_change(lambda d: d.update(algo="trpo")), "'algo' must be one of"),
    "unknown status": (_yaml_change(lambda d: d.update(status="done")), "'status' must be one of"),
    "negative steps": (_yaml_change(lambda d: d.update(steps=-3)), "'steps' must be an integer >= 0"),
    "checksums not a mapping": (_yaml_change(lambda d: d.update(checksums="abc")), "'checksums' must be a mapping"),
    "no model checksum": (_yaml_change(lambda d: d["checksums"].pop(MODEL_FILE)), "records no checksum of model.zip"),
    "ann with an encoder": (_yaml_change(lambda d: d.update(policy="ann")), "an 'ann' run has no encoder"),
}
MALFORMED_RECIPE = {
    "syntax error": (_yaml_text("n_envs: {8\n"), "not valid YAML"),
    "not a mapping": (_yaml_text("just text\n"), "expected a mapping"),
    "missing n_envs": (_yaml_change(lambda d: d.pop("n_envs")), "missing the required key 'n_envs'"),
    "n_envs of the wrong type": (_yaml_change(lambda d: d.update(n_envs="eight")), "n_envs must be an integer"),
    "another env": (_yaml_change(lambda d: d.update(env_id="Pendulum-v1")), "'env_id' must be 'CartPole-v1'"),
}
MALFORMED_ENCODER = {
    "syntax error": (_yaml_text("encoder: population\nparams: {sigma: [0.1\n"), "not valid YAML"),
    "substeps of the wrong type": (_yaml_change(lambda d: d.update(substeps="eight")), "field 'substeps'"),
    "missing encoder": (_yaml_change(lambda d: d.pop("encoder")), "missing field 'encoder'"),
    "another env": (_yaml_change(lambda d: d.update(env_id="Pendulum-v1")), "not the run's 'CartPole-v1'"),
}
MALFORMED_MODEL = {
    "truncated": (_truncate, "not a readable model archive"),
    "not a zip": (_not_a_zip, "not a readable model archive"),
    "empty": (_empty, "not a readable model archive"),
    "zip without a policy": (_zip_without_policy, r"lacks \['policy.pth'\]"),
}
CASES = [
    pytest.param(file, corrupt, message, id=f"{file}: {name}")
    for file, table in (
        (RUN_FILE, MALFORMED_RUN_YAML),
        (RECIPE_FILE, MALFORMED_RECIPE),
        (ENCODER_FILE, MALFORMED_ENCODER),
        (MODEL_FILE, MALFORMED_MODEL),
    )
    for name, (corrupt, message) in table.items()
]


@pytest.mark.parametrize(("file", "corrupt", "message"), CASES)
def test_every_malformed_run_file_is_a_run_error_naming_it(
    run_copy: Path, file: str, corrupt: Callable[[Path], None], message: str
) -> None:
    corrupt(run_copy / file)
    with pytest.raises(RunError) as caught:
        load_run(run_copy, allow_edited=True)  # past the checksums, to the check of the content
    assert str(run_copy / file) in str(caught.value) and caught.match(message)
    if file != RUN_FILE:
        with pytest.raises(RunError, match=f"{file} changed since the run was written"):
            load_run(run_copy)


@pytest.mark.parametrize("file", [RUN_FILE, MODEL_FILE, RECIPE_FILE, ENCODER_FILE])
def test_a_missing_run_file_is_a_run_error_naming_it(run_copy: Path, file: str) -> None:
    (run_copy / file).unlink()
    with pytest.raises(RunError, match=f"{file} is missing"):
        load_run(run_copy)


def test_a_model_archive_sb3_cannot_read_is_a_run_error_naming_it(run_copy: Path) -> None:
    _zip_with_garbage_data(run_copy / MODEL_FILE)
    run = load_run(run_copy, allow_edited=True)
    with pytest.raises(RunError, match=r"model\.zip cannot be loaded as a ppo model"):
        load_model(run)
