"""Every encoder parameter is type-checked: ``bool("false")`` is ``True`` and ``np.asarray("0.05")`` is a
number, so strings (from YAML, a command line, a form) and booleans must be refused where they do not belong,
with an error that names the parameter, the value and what is allowed."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
import torch

from spikegym.encoders import make, names, parameters

N_FEATURES = 4

KINDS = {
    "mode": "choice",
    "max_rate": "number",
    "exc_inh": "bool",
    "inverted": "bool",
    "window": "int",
    "seed": "seed",
    "n_bins": "int",
    "sigma": "number",
    "threshold": "number",
    "initial": "first_or_number",
    "beta": "number",
    "order": "int",
    "cutoff": "number",
    "frequency": "number",
    "bipolar": "bool",
    "phase": "number",
    "low": "number",
    "high": "number",
}
"""What each parameter of any encoder takes (``low`` and ``high`` are every encoder's bounds)."""

NUMERIC_STRINGS = ["0.05", "1", " 0.5 "]
BOOL_LIKES = [True, False, np.bool_(True), np.bool_(False)]
BAD_VALUES: dict[str, list[Any]] = {
    "bool": ["false", "true", "False", "0", "", 0, 1, 0.0, 1.0, None, [True], np.array(True), torch.tensor(True)],
    "number": [
        *NUMERIC_STRINGS,
        *BOOL_LIKES,
        "0.05 0.05 0.05 0.05",
        ["0.05"] * N_FEATURES,
        [0.05, 0.05, "0.05", 0.05],
        [0.05, True, 0.05, 0.05],
        [0.05, np.bool_(False), 0.05, 0.05],
        np.array(["0.05"] * N_FEATURES),
        np.array([True] * N_FEATURES),
        np.array([0.05, "0.05", 0.05, 0.05], dtype=object),
        torch.tensor([True] * N_FEATURES),
        torch.tensor(True),
        b"0.05",
        {"value": 0.05},
        0.05 + 0j,
        np.array([0.05 + 0j] * N_FEATURES),
    ],
    "int": ["8", "16", *BOOL_LIKES, 8.5, "8.0", b"8", [True] * N_FEATURES, np.array(["8"] * N_FEATURES)],
    "choice": ["Poisson", "bernoulli", "", 1, True, None, ["poisson"], np.array(["poisson"])],
    "first_or_number": ["last", "0.5", "First", *BOOL_LIKES, ["0.5"] * N_FEATURES, [True] * N_FEATURES],
    "seed": ["7", "", *BOOL_LIKES, 7.0, 7.5, -1, [7], b"7"],
}

ALL_PARAMETERS = sorted({(name, p) for name in names() for p in [*parameters(name), "low", "high"]})


def test_every_parameter_of_every_encoder_has_a_kind() -> None:
    """A new parameter must be added to ``KINDS`` so that the checks below cover it."""
    missing = [(name, p) for name, p in ALL_PARAMETERS if p not in KINDS]
    assert missing == []
    assert len(ALL_PARAMETERS) >= 20


def bad_cases() -> list[Any]:
    cases = []
    for name, parameter in ALL_PARAMETERS:
        for i, value in enumerate(BAD_VALUES[KINDS[parameter]]):
            cases.append(pytest.param(name, parameter, value, id=f"{name}-{parameter}-{i}"))
    return cases


def mentions(message: str, value: Any) -> bool:
    """Whether an error message shows ``value``: its repr, or each line of a multi-line repr."""
    return all(line.strip() in message for line in repr(value).splitlines())


@pytest.mark.parametrize(("name", "parameter", "value"), bad_cases())
def test_a_string_bool_or_other_wrong_type_is_refused_with_a_clear_error(name: str, parameter: str, value: Any) -> None:
    with pytest.raises((TypeError, ValueError)) as caught:
        make(name, N_FEATURES, **{parameter: value})
    message = str(caught.value)
    assert re.search(rf"\b{parameter}\b must be ", message), message
    assert mentions(message, value), message


@pytest.mark.parametrize("value", ["false", "true", "0", 0, 1])
def test_inverted_false_as_a_string_is_not_read_as_true(value: Any) -> None:
    """Issue 12: ``make("rate", 2, inverted="false")`` gave an inverted rate code."""
    with pytest.raises(TypeError, match=rf"inverted must be a bool \(True or False\), got {re.escape(repr(value))}"):
        make("rate", 2, inverted=value)


def test_a_numeric_string_threshold_is_refused() -> None:
    """Issue 12: ``threshold='0.05'`` was converted by ``np.asarray`` and accepted."""
    with pytest.raises(TypeError, match=r"threshold must be a number or a sequence of numbers, got '0\.05' \(str\)"):
        make("sf", 2, threshold="0.05")


@pytest.mark.parametrize("flag", [True, False, np.bool_(True), np.bool_(False)])
def test_real_and_numpy_booleans_are_accepted_and_stored_as_bool(flag: Any) -> None:
    for name, parameter in [("rate", "inverted"), ("rate", "exc_inh"), ("pwm", "bipolar")]:
        value = getattr(make(name, 2, **{parameter: flag}), parameter)
        assert type(value) is bool
        assert value == bool(flag)


@pytest.mark.parametrize(
    "value",
    [
        0.1,
        1,
        np.float32(0.1),
        np.int64(1),
        np.float64(0.1),
        [0.1, 1],
        (0.1, np.float32(0.2)),
        np.array([0.1, 0.2]),
        np.array([0.1, 0.2], dtype=object),
    ],
)
def test_real_numbers_in_any_form_are_accepted(value: Any) -> None:
    for name, parameter in [("sf", "threshold"), ("rate", "max_rate"), ("population", "sigma"), ("lif", "beta")]:
        enc = make(name, 2, **{parameter: value})
        expected = np.broadcast_to(np.asarray(value, np.float64), (2,)).astype(np.float32)
        assert np.array_equal(getattr(enc, parameter).numpy(), expected)
    assert torch.equal(make("sf", 2, threshold=torch.tensor([0.1, 0.2])).threshold, torch.tensor([0.1, 0.2]))
    assert torch.equal(make("sf", 2, low=torch.tensor([0, -1]), high=3).low, torch.tensor([0.0, -1.0]))


def test_integers_accept_numpy_integers_and_windows_integral_floats() -> None:
    assert make("population", 2, n_bins=np.int64(5)).n_bins == 5
    assert make("bsa", 2, order=np.int32(7)).order == 7
    assert make("rate", 2, window=np.array([4.0, 8.0])).window.tolist() == [4, 8]
    assert make("rate", 2, window=[np.int64(4), 8]).window.tolist() == [4, 8]


@pytest.mark.parametrize(
    ("parameter", "value", "message"),
    [
        ("window", [4, 8, 8], r"window must be an integer or one per feature \(n_features=2\), got \[4, 8, 8\]"),
        ("window", "16", r"window must be an integer or one per feature \(n_features=2\), got '16' \(str\)"),
        ("window", [4.5, 8], r"window must be an integer, got 4\.5"),
        ("max_rate", [0.5, 0.5, 0.5], r"max_rate must be a scalar or hold one value per feature \(n_features=2\)"),
        ("max_rate", [[0.5, 0.5]], r"max_rate must be a scalar or hold one value per feature \(n_features=2\)"),
        ("max_rate", [], r"max_rate must be a scalar or hold one value per feature \(n_features=2\)"),
    ],
)
def test_parameters_with_the_wrong_length_name_the_feature_count(parameter: str, value: Any, message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        make("rate", 2, **{parameter: value})


def test_seed_of_the_wrong_type_is_a_type_error_and_a_negative_one_a_value_error() -> None:
    with pytest.raises(TypeError, match=r"seed must be a non-negative integer, a torch\.Generator or None, got '7'"):
        make("rate", 2, mode="poisson", seed="7")
    with pytest.raises(ValueError, match=r"seed must be a non-negative integer, a torch\.Generator or None, got -1"):
        make("rate", 2, mode="poisson", seed=-1)


@pytest.mark.parametrize(
    ("name", "parameter", "value"),
    [("rate", "inverted", "false"), ("rate", "exc_inh", 1), ("pwm", "bipolar", "no"), ("rate", "mode", "Poisson")],
)
def test_flags_and_modes_set_after_construction_are_checked_too(name: str, parameter: str, value: Any) -> None:
    """``enc.inverted = "false"`` reached the kernel as a truthy string."""
    enc = make(name, 2)
    with pytest.raises((TypeError, ValueError), match=rf"{parameter} must be .*got {re.escape(repr(value))}"):
        setattr(enc, parameter, value)
    flag = getattr(enc, parameter)
    setattr(enc, parameter, np.bool_(not flag) if isinstance(flag, bool) else "poisson")
    assert getattr(enc, parameter) == (not flag if isinstance(flag, bool) else "poisson")
