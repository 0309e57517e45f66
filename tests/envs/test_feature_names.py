"""Display names of features: Gymnasium's documented names for the shipped envs, the layout's otherwise."""

from __future__ import annotations

import re

import gymnasium as gym
import pytest

from spikegym.envs.configs import load_config
from spikegym.envs.feature_names import DOCUMENTED_NAMES, channel_blocks, display_names, label_channel_blocks
from spikegym.envs.layout import ObservationLayout

SHIPPED = ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1", "LunarLander-v3"]

DOCSTRING_ROWS = {
    "CartPole-v1": ["Cart Position", "Cart Velocity", "Pole Angle", "Pole Angular Velocity"],
    "Acrobot-v1": [
        "Cosine of `theta1`",
        "Sine of `theta1`",
        "Cosine of `theta2`",
        "Sine of `theta2`",
        "Angular velocity of `theta1`",
        "Angular velocity of `theta2`",
    ],
    "MountainCar-v0": ["position of the car along the x-axis", "velocity of the car"],
    "MountainCarContinuous-v0": ["position of the car along the x-axis", "velocity of the car"],
    "Pendulum-v1": ["x = cos(theta)", "y = sin(theta)", "Angular Velocity"],
}
"""The "Observation" column of each env class's docstring table, row by row."""


def layout_names(env_id: str) -> tuple[str, ...]:
    env = gym.make(env_id)
    try:
        return ObservationLayout.of(env.observation_space).names
    finally:
        env.close()


def docstring_rows(env_id: str) -> list[str]:
    """The Observation column of the table under "Observation Space" in the env class's docstring."""
    doc = type(gym.make(env_id).unwrapped).__doc__
    section = doc[doc.index("Observation Space") :].split("##")[0]
    return [m.group(1).strip() for m in re.finditer(r"^\s*\|\s*\d+\s*\|([^|]+)\|", section, re.MULTILINE)]


@pytest.mark.parametrize("env_id", sorted(DOCSTRING_ROWS))
def test_the_table_follows_the_env_docstring_row_by_row(env_id: str) -> None:
    assert docstring_rows(env_id) == DOCSTRING_ROWS[env_id]
    assert len(DOCUMENTED_NAMES[env_id]) == len(DOCSTRING_ROWS[env_id])


@pytest.mark.parametrize(
    ("env_id", "index", "words"),
    [
        ("CartPole-v1", 3, ("pole", "angular", "velocity")),
        ("Acrobot-v1", 1, ("sin", "θ1")),
        ("Acrobot-v1", 5, ("angular velocity", "θ2")),
        ("MountainCar-v0", 0, ("position",)),
        ("Pendulum-v1", 0, ("cos",)),
        ("Pendulum-v1", 2, ("angular velocity",)),
    ],
)
def test_each_name_says_what_the_docstring_row_says(env_id: str, index: int, words: tuple[str, ...]) -> None:
    row = DOCSTRING_ROWS[env_id][index].lower()
    name = DOCUMENTED_NAMES[env_id][index]
    assert all(word in name for word in words)
    assert all(word.replace("θ", "theta") in row for word in words)


def test_lunar_lander_names_follow_its_docstring_and_its_leg_order() -> None:
    doc = " ".join(type(gym.make("LunarLander-v3").unwrapped).__doc__.split())
    assert (
        "the coordinates of the lander in `x` & `y`, its linear velocities in `x` & `y`, its angle, its angular "
        "velocity, and two booleans that represent whether each leg is in contact with the ground" in doc
    )
    env = gym.make("LunarLander-v3")
    env.reset(seed=0)
    lander, legs = env.unwrapped.lander, env.unwrapped.legs
    # observation index 6 is legs[0]'s contact, 7 is legs[1]'s (LunarLander.step)
    assert legs[0].position.x > lander.position.x > legs[1].position.x
    env.close()
    assert DOCUMENTED_NAMES["LunarLander-v3"][6:] == ("right leg contact", "left leg contact")


@pytest.mark.parametrize("env_id", SHIPPED)
def test_every_shipped_env_has_as_many_documented_names_as_features(env_id: str) -> None:
    names = layout_names(env_id)
    shown = display_names(env_id, names)
    assert shown == list(DOCUMENTED_NAMES[env_id]) and len(shown) == len(names)
    assert display_names(f"spikegym/{env_id}", names) == shown
    assert load_config(env_id).features == list(names), "configs keep the layout's names"


def test_unknown_envs_and_other_feature_counts_keep_the_layout_names() -> None:
    assert display_names("BipedalWalker-v3", ["x[0]", "x[1]"]) == ["x[0]", "x[1]"]
    assert display_names(None, ("x[0]",)) == ["x[0]"]
    assert display_names("CartPole-v1", ["x[0]", "x[1]"]) == ["x[0]", "x[1]"], "another observation: no guess"
    assert display_names("other/CartPole-v1", ["a", "b", "c", "d"]) == ["a", "b", "c", "d"]


def test_channel_blocks_split_channels_feature_by_feature_and_refuse_a_remainder() -> None:
    assert channel_blocks(["a", "b", "c"], 6) == [("a", 0, 2), ("b", 2, 4), ("c", 4, 6)]
    assert channel_blocks(["a"], 10) == [("a", 0, 10)]
    with pytest.raises(ValueError, match=r"n_channels must be a positive multiple of the 2 feature names.*got 5"):
        channel_blocks(["a", "b"], 5)
    with pytest.raises(ValueError, match="n_channels"):
        channel_blocks([], 4)


def test_label_channel_blocks_puts_each_name_mid_block_and_lines_between() -> None:
    from matplotlib.figure import Figure

    axis = Figure().subplots()
    label_channel_blocks(axis, ["cart position", "pole angle"], 8)
    assert list(axis.get_yticks()) == [2.0, 6.0]
    assert [tick.get_text() for tick in axis.get_yticklabels()] == ["cart position", "pole angle"]
    assert [line.get_ydata()[0] for line in axis.get_lines()] == [4.0]
    shifted = Figure().subplots()
    label_channel_blocks(shifted, ["a", "b", "c"], 3, row_start=-0.5)
    assert list(shifted.get_yticks()) == [0.0, 1.0, 2.0]
    assert [line.get_ydata()[0] for line in shifted.get_lines()] == [0.5, 1.5]
