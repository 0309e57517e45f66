"""The observation layout: flattening order, feature names, unsupported spaces."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from spikegym.envs.layout import ObservationError, ObservationLayout, check_observation


def test_cartpole_layout_names_its_unbounded_features() -> None:
    layout = ObservationLayout.of(gym.make("CartPole-v1").observation_space)
    assert layout.names == ("x[0]", "x[1]", "x[2]", "x[3]")
    assert layout.unbounded == ["x[1]", "x[3]"]
    assert layout.low[0] == pytest.approx(-4.8) and layout.high[2] == pytest.approx(0.41887903)


def test_every_supported_space_flattens_in_gymnasium_order() -> None:
    space = spaces.Dict(
        {
            "image": spaces.Box(0, 255, (2, 2), dtype=np.uint8),
            "mode": spaces.Discrete(3, start=1),
            "keys": spaces.MultiBinary(2),
            "gear": spaces.Tuple([spaces.MultiDiscrete([2, 3])]),
        }
    )
    layout = ObservationLayout.of(space)
    sample = space.sample()
    flat = layout.flatten(sample)
    assert np.array_equal(flat, spaces.flatten(space, sample))
    assert layout.n_features == flat.size == 4 + 5 + 2 + 3
    assert layout.names[:4] == ("gear[0][0]=0", "gear[0][0]=1", "gear[0][1]=0", "gear[0][1]=1")
    assert "mode=3" in layout.names and "image[1,1]" in layout.names
    assert layout.unbounded == []


def test_box_of_any_shape_flattens_in_c_order() -> None:
    layout = ObservationLayout.of(spaces.Box(-1, 1, (2, 3)))
    observation = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert np.array_equal(layout.flatten(observation), np.arange(6))
    assert layout.names[1] == "x[0,1]"


@pytest.mark.parametrize("space", [spaces.Text(5), spaces.Sequence(spaces.Discrete(2))])
def test_unsupported_spaces_are_named(space: gym.Space) -> None:
    with pytest.raises(TypeError, match=r"observation_space is .* supported: Box, Discrete, MultiDiscrete"):
        ObservationLayout.of(space)


def test_an_unsupported_subspace_is_named_by_its_path() -> None:
    space = spaces.Dict({"ok": spaces.Discrete(2), "bad": spaces.Text(3)})
    with pytest.raises(TypeError, match=r"observation_space\['bad'\] is Text"):
        ObservationLayout.of(space)


NESTED = spaces.Dict({"a": spaces.Box(0, 1, (2,)), "b": spaces.Discrete(2), "c": spaces.Tuple([spaces.MultiBinary(2)])})


@pytest.mark.parametrize(
    ("space", "observation", "message"),
    [
        (spaces.Discrete(3), -1, "x = -1 is not in Discrete(3): allowed are the integers 0 to 2"),
        (spaces.Discrete(3), 3, "x = 3 is not in Discrete(3): allowed are the integers 0 to 2"),
        (spaces.Discrete(3, start=1), 0, "allowed are the integers 1 to 3"),
        (spaces.Discrete(3), 1.5, "x = 1.5 is not in Discrete(3)"),
        (spaces.Discrete(3), np.nan, "x = nan is not in Discrete(3)"),
        (spaces.Discrete(3), "1", "x must hold integers of shape () in Discrete(3), got array('1'"),
        (spaces.MultiDiscrete([2, 3]), np.array([0, 3]), "x[1] = 3 is not in MultiDiscrete([2 3])"),
        (spaces.MultiDiscrete([2, 3]), np.array([-1, 0]), "x[0] = -1 is not in MultiDiscrete([2 3])"),
        (spaces.MultiDiscrete([2, 3], start=[1, 5]), np.array([1, 4]), "x[1] = 4 is not in MultiDiscrete"),
        (spaces.MultiDiscrete([2, 3]), np.array([0]), "x must hold integers of shape (2,)"),
        (spaces.MultiBinary(3), np.array([0, 2, 1]), "x[1] = 2 is not in MultiBinary(3): allowed are"),
        (NESTED, {"a": np.zeros(2), "b": 1}, "x must be a dict with the keys ['a', 'b', 'c'], got ['a', 'b']"),
        (NESTED, {"a": np.zeros(2), "b": 2, "c": (np.zeros(2),)}, "b = 2 is not in Discrete(2)"),
        (NESTED, {"a": np.zeros(2), "b": 0, "c": (np.array([1, 3]),)}, "c[0][1] = 3 is not in MultiBinary(2)"),
        (NESTED, {"a": np.zeros(2), "b": 0, "c": ()}, "c must be a tuple of 1 parts"),
    ],
)
def test_observations_outside_their_discrete_space_are_named(
    space: gym.Space, observation: object, message: str
) -> None:
    with pytest.raises(ObservationError) as error:
        ObservationLayout.of(space).flatten(observation)
    assert message in str(error.value)


@pytest.mark.parametrize(
    "space",
    [
        spaces.Discrete(3, start=-1),
        spaces.MultiDiscrete([[2, 3], [4, 1]], start=[[1, 0], [-2, 7]]),
        spaces.MultiBinary(5),
        NESTED,
    ],
)
def test_every_element_of_a_space_passes_the_check(space: gym.Space) -> None:
    space.seed(0)
    for _ in range(200):
        check_observation(space, space.sample())


def test_multidiscrete_channels_are_named_by_value_from_start() -> None:
    layout = ObservationLayout.of(spaces.MultiDiscrete([2, 3], start=[1, 5]))
    assert layout.names == ("x[0]=1", "x[0]=2", "x[1]=5", "x[1]=6", "x[1]=7")
    assert layout.flatten(np.array([2, 5])).tolist() == [0.0, 1.0, 1.0, 0.0, 0.0]
