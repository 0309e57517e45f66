"""Display names of observation features, as Gymnasium documents them, for figures and tables.

The layout's names (``x[0]``, ``x[1]``, ...; :func:`spikegym.envs.layout.feature_names`)
stay what configs are checked against; these are only shown to people. The
table covers the shipped envs, in the order of each env class's
"Observation Space" docstring (gymnasium 1.x):

- CartPole-v1 (``CartPoleEnv``): cart position, cart velocity, pole angle, pole angular velocity;
- Acrobot-v1 (``AcrobotEnv``): cos and sin of both joint angles, then their angular velocities;
- MountainCar-v0, MountainCarContinuous-v0: the car's position along the x-axis and its velocity;
- Pendulum-v1 (``PendulumEnv``): x = cos(theta), y = sin(theta), angular velocity;
- LunarLander-v3 (``LunarLander``): position x, y, velocity x, y, angle, angular velocity and a
  contact flag per leg. The docstring says only "whether each leg is in contact"; the code
  fills index 6 from ``legs[0]``, the leg built at +x of the lander's centre (``initial_x -
  i * LEG_AWAY`` with ``i = -1``), which the rendering draws on the right.
"""

from __future__ import annotations

from collections.abc import Sequence

DOCUMENTED_NAMES: dict[str, tuple[str, ...]] = {
    "CartPole-v1": ("cart position", "cart velocity", "pole angle", "pole angular velocity"),
    "Acrobot-v1": ("cos θ1", "sin θ1", "cos θ2", "sin θ2", "angular velocity θ1", "angular velocity θ2"),
    "MountainCar-v0": ("car position", "car velocity"),
    "MountainCarContinuous-v0": ("car position", "car velocity"),
    "Pendulum-v1": ("cos θ", "sin θ", "angular velocity"),
    "LunarLander-v3": (
        "x",
        "y",
        "x velocity",
        "y velocity",
        "angle",
        "angular velocity",
        "right leg contact",
        "left leg contact",
    ),
}
"""Per env id, its observation features' names as its Gymnasium docstring gives them."""

NAMESPACE = "spikegym/"
"""The namespace of spikegym's registered ids: ``spikegym/CartPole-v1`` observes CartPole-v1's features."""


def display_names(env_id: str | None, layout_names: Sequence[str]) -> list[str]:
    """The names to show for an env's features: Gymnasium's documented ones where the table knows the env
    (with or without the ``spikegym/`` namespace) and they are as many as the layout's, else the layout's.

    >>> display_names("CartPole-v1", ["x[0]", "x[1]", "x[2]", "x[3]"])
    ['cart position', 'cart velocity', 'pole angle', 'pole angular velocity']
    >>> display_names("spikegym/Pendulum-v1", ["x[0]", "x[1]", "x[2]"])
    ['cos θ', 'sin θ', 'angular velocity']
    >>> display_names("MyEnv-v0", ["pos[0]", "mode=1"])
    ['pos[0]', 'mode=1']
    """
    names = list(layout_names)
    base = env_id.removeprefix(NAMESPACE) if env_id is not None else None
    documented = DOCUMENTED_NAMES.get(base) if base is not None else None
    if documented is None or len(documented) != len(names):
        return names
    return list(documented)


def channel_blocks(names: Sequence[str], n_channels: int) -> list[tuple[str, int, int]]:
    """``(name, first, stop)`` of each feature's block of spike channels, for ``n_channels`` channels laid
    out feature by feature (as :class:`~spikegym.envs.gym_encoder.GymnasiumEncoder` and the learnable
    population encoder lay them out: ``+``/``-`` or the bins of one feature side by side).

    >>> channel_blocks(["cart position", "pole angle"], 4)
    [('cart position', 0, 2), ('pole angle', 2, 4)]
    """
    if not names or n_channels % len(names):
        raise ValueError(
            f"n_channels must be a positive multiple of the {len(names)} feature names {list(names)}, got {n_channels}"
        )
    width = n_channels // len(names)
    return [(name, k * width, (k + 1) * width) for k, name in enumerate(names)]


def label_channel_blocks(axis: object, names: Sequence[str], n_channels: int, row_start: float = 0.0) -> None:
    """Label a raster's channel axis (y) of a matplotlib ``Axes`` by feature: a tick with the feature's
    name at the middle of its block of channels and a thin line between blocks. Channel ``c`` covers
    ``[row_start + c, row_start + c + 1)`` in data units: ``row_start=0`` for an ``imshow`` whose extent
    runs over rows 0 to ``n_channels``, ``-0.5`` for a scatter of channel ``c`` at ``y = c``.

    No matplotlib import here: the axis is any object with matplotlib's ``set_yticks`` and ``axhline``.
    """
    blocks = channel_blocks(names, n_channels)
    axis.set_yticks([row_start + (first + stop) / 2 for _, first, stop in blocks], [name for name, _, _ in blocks])
    for _, first, _ in blocks[1:]:
        axis.axhline(row_start + first, color="tab:blue", linewidth=0.6, alpha=0.7)
    axis.tick_params(axis="y", length=0)
