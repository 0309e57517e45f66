"""The observation layout: flattening order, feature names, unsupported spaces."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from spikegym.envs.layout import ObservationLayout


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
