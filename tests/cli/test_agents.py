"""``spikegym train``, ``replay`` and ``export`` refuse bad input with a clear error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import yaml


@pytest.fixture(scope="module")
def small_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Short runs of kinds the shared fixture is not: an MLP (``--ann``) PPO run and a spiking SAC run."""
    from spikegym.rl.training import train

    root = tmp_path_factory.mktemp("small_runs")
    quiet = {"runs_dir": root, "progress": False, "eval_freq": 10**6, "n_eval_episodes": 1}
    ann, _ = train("CartPole-v1", "ppo", timesteps=256, ann=True, **quiet)
    sac, _ = train("Pendulum-v1", "sac", timesteps=64, **quiet)
    nir_exact, _ = train("CartPole-v1", "ppo", timesteps=256, nir_exact=True, **quiet)
    return {"ann": ann, "sac": sac, "nir_exact": nir_exact}


def _refused(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    from spikegym.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(arguments)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["train", "Nowhere-v9"], "unknown env id 'Nowhere-v9'"),
        (
            ["train", "CartPole-v1", "--algo", "trpo"],
            "--algo must be one of ['a2c', 'dqn', 'ppo', 'recurrent_ppo', 'sac', 'td3'], got 'trpo'",
        ),
        (["train", "Pendulum-v1", "--algo", "dqn"], "--algo dqn: dqn acts in ['Discrete'] action spaces, not Box("),
        (["train", "CartPole-v1", "--algo", "sac"], "--algo sac: sac acts in ['Box'] action spaces, not Discrete(2)"),
        (["train", "CartPole-v1", "--hyperparams", "learning_rate"], "--hyperparams takes key=value pairs"),
        (["train", "CartPole-v1", "--hyperparams", "lr=0.1"], "PPO takes no 'lr'; allowed: ['learning_rate', "),
        (["train", "CartPole-v1", "--hyperparams", "n_steps=big"], "--hyperparams n_steps must be an integer"),
        (["train", "CartPole-v1", "--hyperparams", "n_steps=1", "n_steps=2"], "gives 'n_steps' twice"),
        (["train", "CartPole-v1", "--hyperparams", "seed=3"], "--hyperparams seed: use --seed"),
        (["train", "CartPole-v1", "--hyperparams", "spiking.bta=0.9"], "SpikingExtractor takes no 'bta'"),
        (["train", "CartPole-v1", "--hyperparams", "spiking.beta=high"], "spiking.beta must be a number"),
        (["train", "CartPole-v1", "--n-envs", "0"], "--n-envs must be an integer in [1, 1024], got 0"),
        (["train", "CartPole-v1", "--env-kwargs", "gravity=1"], "--env-kwargs {'gravity': 1}: CartPole-v1 cannot"),
        (["train", "CartPole-v1", "-i", "/nonexistent/run"], "--continue: /nonexistent/run is not a dir"),
        (["train", "CartPole-v1", "--ann", "--encoder", "sf"], "--ann trains on raw observations"),
        (["replay", "/nonexistent/run"], "is not a directory"),
        (["train", "CartPole-v1", "--device", "gpu0"], "--device 'gpu0' is not a torch device"),
        (["train", "CartPole-v1", "--device", "meta"], "only cpu, cuda, cuda:N or auto"),
        pytest.param(
            ["train", "CartPole-v1", "--device", "cuda"],
            "torch sees no CUDA device",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is there"),
        ),
        (["train", "CartPole-v1", "--seed", "-1"], "--seed must be an integer in [0, "),
        (["train", "CartPole-v1", "--seed", str(2**32)], "--seed must be an integer in [0, "),
        (["train", "CartPole-v1", "--timesteps", "0"], "--timesteps must be an integer in [1, "),
        (["train", "CartPole-v1", "--timesteps", "-5"], "--timesteps must be an integer in [1, "),
        (["train", "CartPole-v1", "--timesteps", str(10**20)], "--timesteps must be an integer in [1, "),
        (["train", "CartPole-v1", "--eval-freq", "0"], "--eval-freq must be an integer >= 1, got 0"),
        (["train", "CartPole-v1", "--eval-episodes", "0"], "--eval-episodes must be an integer >= 1, got 0"),
        (["train", "CartPole-v1", "--save-freq", "0"], "--save-freq must be an integer >= 1, got 0"),
        (["train", "CartPole-v1", "--save-freq", "-512"], "--save-freq must be an integer >= 1, got -512"),
        (["train", "CartPole-v1", "--continue", "/nonexistent/run"], "--continue: /nonexistent/run is not a dir"),
        (["replay", "/nonexistent/run", "--episodes", "0"], "--episodes must be >= 1, got 0"),
        (["replay", "/nonexistent/run", "--seed", "-1"], "--seed must be an integer in [0, "),
        (["replay", "/nonexistent/run", "--e-ac", "-1"], "--e-ac must be a finite energy >= 0 (pJ), got -1.0"),
        (["replay", "/nonexistent/run", "--e-mac", "nan"], "--e-mac must be a finite energy >= 0 (pJ), got nan"),
        (
            ["replay", "/nonexistent/run", "--energy-model", "truenorth"],
            "--energy-model: energy model 'truenorth' is neither a preset (one of ['horowitz-45nm-fp16', ",
        ),
        (
            ["replay", "/nonexistent/run", "--energy-model", "loihi", "--e-ac", "1"],
            "--e-ac set the energies of a model of ACs and MACs only; --energy-model loihi brings its own",
        ),
        (
            ["replay", "/nonexistent/run", "--memory"],
            "--memory adds a preset's memory-access term: give --energy-model",
        ),
        (
            ["replay", "/nonexistent/run", "--energy-model", "/nonexistent/chip.yaml"],
            "--energy-model: energy model file '/nonexistent/chip.yaml' does not exist",
        ),
    ],
)
def test_the_commands_refuse_bad_input(arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert message in _refused(arguments, capsys)


def test_train_refuses_a_runs_dir_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    runs.write_text("a file the user keeps")
    err = _refused(["train", "CartPole-v1", "--runs-dir", str(runs)], capsys)
    assert f"--runs-dir '{runs}' exists and is not a directory" in err
    assert runs.read_text() == "a file the user keeps"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["train", "Pendulum-v1", "--algo", "sac"],
            "it is a CartPole-v1 ppo run; it cannot continue training Pendulum",
        ),
        (
            ["train", "CartPole-v1", "--algo", "a2c"],
            "it is a CartPole-v1 ppo run; it cannot continue training CartPole",
        ),
        (["train", "CartPole-v1", "--encoder", "sf"], "--continue keeps the encoder and policy"),
        (["train", "CartPole-v1", "--ann"], "--continue keeps the encoder and policy"),
        (["train", "CartPole-v1"], "the run trained its whole budget (2048 steps); give --timesteps N"),
    ],
)
def test_continue_refuses_a_run_it_cannot_continue(
    trained: tuple[Path, object], arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert message in _refused([*arguments, "--continue", str(trained[0])], capsys)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--video", "out.avi"], "--video must be a .gif or .mp4 path, got "),
        (["--video", "out"], "--video must be a .gif or .mp4 path, got "),
        (["--raster", "raster.xyz"], "--raster must be an image path ending in one of"),
        (["--video", "EXISTING"], "exists; choose another path or delete it first"),
        (["--raster", "EXISTING"], "exists; choose another path or delete it first"),
    ],
)
def test_replay_refuses_outputs_it_cannot_write_before_any_work(
    trained: tuple[Path, object],
    tmp_path: Path,
    options: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import spikegym.rl.replay

    monkeypatch.setattr(spikegym.rl.replay, "make_replay_env", _no_work)
    existing = tmp_path / "kept.gif"
    existing.write_text("kept")
    flag, name = options
    path = existing if name == "EXISTING" else tmp_path / name
    assert message in _refused(["replay", str(trained[0]), flag, str(path)], capsys)
    assert existing.read_text() == "kept"


def _no_work(*args: object, **kwargs: object) -> None:
    raise AssertionError("replay started work before checking its arguments")


def test_replay_refuses_a_raster_of_an_ann_run(
    small_runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import spikegym.rl.replay

    monkeypatch.setattr(spikegym.rl.replay, "make_replay_env", _no_work)
    err = _refused(["replay", str(small_runs["ann"]), "--raster", str(tmp_path / "r.png")], capsys)
    assert "is an ANN run on raw observations; it has no spikes to plot" in err
    assert not (tmp_path / "r.png").exists()


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("ann", "NIR export needs a spiking policy; this is an ANN (MLP) run"),
        ("sac", "which no NIR node expresses, so other tools would run it as something else; train with "
         "`spikegym train ENV_ID --nir-exact`"),
    ],
)  # fmt: skip
def test_export_refuses_what_nir_cannot_hold(
    small_runs: dict[str, Path],
    tmp_path: Path,
    kind: str,
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import spikegym.rl.training

    monkeypatch.setattr(spikegym.rl.training, "load_model", _no_work)
    assert message in _refused(["export", str(small_runs[kind]), "--nir", str(tmp_path / "p.nir")], capsys)
    assert not (tmp_path / "p.nir").exists()


def test_replay_refuses_an_edited_run_and_warns_loudly_when_allowed(
    trained: tuple[Path, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from spikegym.cli.main import main

    copy = tmp_path / "edited"
    shutil.copytree(trained[0], copy)
    config = yaml.safe_load((copy / "encoder.yaml").read_text())
    config["params"]["sigma"] = [0.2] * len(config["params"]["sigma"])
    (copy / "encoder.yaml").write_text(yaml.safe_dump(config))
    err = _refused(["replay", str(copy), "--episodes", "1"], capsys)
    assert f"{copy / 'encoder.yaml'} changed since the run was written" in err and "--allow-edited" in err
    assert main(["replay", str(copy), "--episodes", "1", "--allow-edited"]) == 0
    assert f"WARNING: {copy / 'encoder.yaml'} changed since the run was written" in capsys.readouterr().err


def test_export_check_prints_the_agreement_of_each_reader(
    small_runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from spikegym.cli.main import main

    target = tmp_path / "p.nir"
    assert main(["export", str(small_runs["nir_exact"]), "--nir", str(target), "--check", "--check-steps", "50"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {target}: 7 NIR nodes (input, fc0, lif0, fc1, lif1, head, output)" in out
    assert "action: argmax over the sum of the outputs of the T sub-steps" in out
    for reader in ("spikegym", "snntorch", "norse"):
        assert f"  {reader}: 50/50 actions as trained (100.0%)" in out or f"  {reader}: not installed" in out
    assert "  spikegym: 50/50 actions as trained (100.0%)" in out


def test_export_check_says_when_a_reader_is_not_installed(
    small_runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from spikegym.cli.main import main

    monkeypatch.setitem(sys.modules, "norse", None)
    arguments = ["export", str(small_runs["nir_exact"]), "--nir", str(tmp_path / "p.nir"), "--check-steps", "20"]
    assert main([*arguments, "--check"]) == 0
    assert (
        "  norse: not installed: norse is not installed: pip install --no-deps norse==1.1.0" in capsys.readouterr().out
    )


def test_export_check_fails_when_a_reader_disagrees(
    small_runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import spikegym.rl.nir_readers
    from spikegym.cli.main import main

    def backwards(graph: object) -> object:
        run = spikegym.rl.nir_readers._load_spikegym(graph)
        return lambda blocks: -run(blocks)

    monkeypatch.setitem(spikegym.rl.nir_readers.LOADERS, "spikegym", backwards)
    arguments = ["export", str(small_runs["nir_exact"]), "--nir", str(tmp_path / "p.nir"), "--check-steps", "20"]
    assert main([*arguments, "--check"]) == 1
    out = capsys.readouterr().out
    assert "check failed: spikegym did not run the graph as trained (needed: 99% of actions)" in out
    assert (tmp_path / "p.nir").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [(["--check-steps", "0"], "--check-steps must be an integer >= 1, got 0"), (["--seed", "-1"], "--seed must be")],
)
def test_export_refuses_bad_check_options(
    small_runs: dict[str, Path], tmp_path: Path, options: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["export", str(small_runs["nir_exact"]), "--nir", str(tmp_path / "p.nir"), "--check", *options]
    assert message in _refused(arguments, capsys)
    assert not (tmp_path / "p.nir").exists()


def test_train_without_a_recipe_uses_the_default_one_and_records_every_override(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from spikegym.cli.main import main
    from spikegym.rl.runs import load_run
    from spikegym.rl.training import load_model

    arguments = ["train", "Acrobot-v1", "--algo", "dqn", "--timesteps", "64", "--runs-dir", str(tmp_path),
                 "--no-progress", "--n-envs", "2", "--hyperparams", "learning_rate=0.0005", "learning_starts=16",
                 "spiking.hidden=[32]", "--env-kwargs", "render_mode=rgb_array", "--eval-freq", "1000"]  # fmt: skip
    assert main(arguments) == 0
    assert "dqn.yaml has no recipe for Acrobot-v1: training with the default recipe" in caplog.text
    (run_dir,) = tmp_path.iterdir()
    run = load_run(run_dir)
    assert run.info.overrides == {
        "recipe": "default",
        "hyperparams": {"learning_rate": 0.0005, "learning_starts": 16, "spiking.hidden": [32]},
        "n_envs": 2,
    }
    assert run.info.env_kwargs == {"render_mode": "rgb_array"}
    assert run.recipe.algo_kwargs == {"learning_rate": 0.0005, "learning_starts": 16} and run.recipe.n_envs == 2
    model = load_model(run)
    assert model.learning_rate == 0.0005 and model.policy.q_net.features_extractor.layers[-1].out_features == 32


def test_a_continued_run_takes_no_overrides(small_runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    arguments = ["train", "CartPole-v1", "-i", str(small_runs["nir_exact"]), "--hyperparams", "n_epochs=2"]
    assert "--continue trains the run on with its own recipe and env" in _refused(arguments, capsys)


def test_replay_makes_the_env_with_the_runs_env_kwargs(tmp_path: Path) -> None:
    from spikegym.rl.replay import make_replay_env
    from spikegym.rl.training import train

    run_dir, _ = train("CartPole-v1", "ppo", timesteps=64, runs_dir=tmp_path, progress=False, eval_freq=10**6,
                       n_eval_episodes=1, overrides=_env_kwargs(sutton_barto_reward=True))  # fmt: skip
    from spikegym.rl.runs import load_run

    env = make_replay_env(load_run(run_dir), render_mode="rgb_array")
    assert env.unwrapped._sutton_barto_reward is True and env.unwrapped.render_mode == "rgb_array"
    env.reset(seed=0)
    assert env.step(0)[1] == 0.0  # Sutton and Barto's reward: 0 per step until the pole falls


def _env_kwargs(**kwargs: object) -> object:
    from spikegym.rl.training import Overrides

    return Overrides(env_kwargs=kwargs)


def test_replay_prints_the_cost_next_to_the_same_size_ann_and_the_mlp_baseline(
    small_runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from spikegym.cli.main import main

    assert main(["replay", str(small_runs["nir_exact"]), "--episodes", "1", "--deterministic"]) == 0
    out = capsys.readouterr().out
    rows = {
        line.split("  ")[0]: line.split() for line in out.splitlines() if line.startswith(("spiking ", "same", "MLP"))
    }
    assert set(rows) >= {"spiking", "same-size ANN", "MLP 64-64"}
    assert rows["MLP 64-64"][-2] == str(4 * 64 + 64 * 64 + 64 * 2)  # MACs of the recipe's ann_net_arch
    assert "spiking / same-size ANN energy: " in out and "spiking / ppo ANN baseline energy: " in out


def test_replay_refuses_a_malformed_energy_model_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "chip.yaml"
    model.write_text("name: chip\ne_ac_pj: -2\ne_mac_pj: 1\n")
    err = _refused(["replay", "/nonexistent/run", "--energy-model", str(model)], capsys)
    assert f"--energy-model: energy model file '{model}': e_ac_pj must be a finite energy >= 0 (pJ), got -2" in err
    err = _refused(["replay", "/nonexistent/run", "--energy-model", str(model), "--memory"], capsys)
    assert "--memory adds a preset's memory-access term; a YAML model sets its own e_memory_pj" in err


def test_replay_with_an_energy_model_prints_it_its_source_what_it_leaves_out_and_neurobenchs_counts(
    small_runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    from spikegym.cli.main import main
    from spikegym.rl.neurobench_metrics import NEUROBENCH_INSTALL, neurobench_installed

    if not neurobench_installed():
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"NeuroBench is not installed: {NEUROBENCH_INSTALL}")
    run = str(small_runs["nir_exact"])
    assert main(["replay", run, "--episodes", "1", "--deterministic", "--energy-model", "loihi"]) == 0
    out = capsys.readouterr().out
    assert "energy model loihi: 23.6 pJ per synaptic op (AC), 4.6 pJ per MAC, 81 pJ per neuron update" in out
    assert "  source: M. Davies et al., 'Loihi: A Neuromorphic Manycore Processor" in out
    assert "  leaves out: the encoder that turns observations into spikes" in out
    rows = {
        line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith(("NeuroBench ", "spikegym "))
    }
    assert set(rows) == {"NeuroBench", "spikegym"}
    assert float(rows["NeuroBench"][0]) == pytest.approx(float(rows["spikegym"][0]), rel=1e-3)  # effective ACs
    spiking = next(line.split() for line in out.splitlines() if line.startswith("spiking "))
    assert int(spiking[2]) > 0  # neuron updates per decision
    assert main(["replay", run, "--episodes", "1", "--no-neurobench", "--energy-model", "horowitz-45nm-int8"]) == 0
    out = capsys.readouterr().out
    assert "NeuroBench counts: skipped (--no-neurobench)" in out and "energy model horowitz-45nm-int8: " in out
    assert main(["replay", run, "--episodes", "1", "--no-neurobench", "--energy-model", "spinnaker2"]) == 0
    out = capsys.readouterr().out
    assert "energy model spinnaker2: 10 pJ per synaptic op (AC), 4.6 pJ per MAC" in out
    assert "  leaves out: neuron updates: no per-update figure of SpiNNaker 2" in out
