"""``spikegym train``, ``replay`` and ``export`` refuse bad input with a clear error."""

from __future__ import annotations

import pytest
import torch


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["train", "Nowhere-v9"], "unknown env id 'Nowhere-v9'"),
        (["train", "CartPole-v1", "--algo", "trpo"], "unknown algo 'trpo'"),
        (["train", "Pendulum-v1", "--algo", "dqn"], "has no recipe for 'Pendulum-v1'"),
        (["train", "CartPole-v1", "--ann", "--encoder", "sf"], "--ann trains on raw observations"),
        (["replay", "/nonexistent/run"], "is not a directory"),
        (["train", "CartPole-v1", "--device", "gpu0"], "--device 'gpu0' is not a torch device"),
        (["train", "CartPole-v1", "--device", "meta"], "only cpu, cuda, cuda:N or auto"),
        pytest.param(
            ["train", "CartPole-v1", "--device", "cuda"],
            "torch sees no CUDA device",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is there"),
        ),
    ],
)
def test_the_commands_refuse_bad_input(arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    from spikegym.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(arguments)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
