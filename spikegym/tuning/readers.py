"""Which encoders the target policy can read: tuning picks only among those.

The wrapper carries each encoder's state across env steps and hands the
policy one window of ``T`` steps per observation. A *stateless* policy (the
feed-forward spiking policies of ``spikegym train``: PPO, DQN, SAC) resets its
membranes at every observation, so it reads each window alone and can use
only encoders whose window alone carries the value
(:meth:`~spikegym.encoders.base.SpikeEncoder.window_shortfall`). A *stateful*
policy carries its membranes across env steps within an episode and can read
all six.

>>> considered, left_out = readable_encoders("stateless", ["rate", "step_forward"], substeps=8, n_features=4)
>>> considered, sorted(left_out)
(['rate'], ['step_forward'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from spikegym.encoders import encoder_class
from spikegym.encoders.base import check_choice
from spikegym.encoders.search import SignalStats
from spikegym.envs.configs import POLICY_KINDS

Policy = Literal["stateless", "stateful"]
POLICIES: tuple[str, ...] = POLICY_KINDS
READS: dict[str, str] = {
    "stateless": "resets its membranes at every observation and reads each T-step window alone",
    "stateful": "carries its membranes across env steps within an episode",
}
"""How each kind of policy reads the spike windows, in words."""


def stateless_shortfall(
    encoder: str, substeps: int, n_features: int, fixed: Mapping[str, Any] | None = None
) -> str | None:
    """Why a stateless policy could not read ``encoder`` as tuning would set it; ``None`` when it could.

    The encoder is built with its tuning defaults and ``fixed``; a parameter on
    which readability depends (:attr:`~spikegym.encoders.base.SpikeEncoder.window_parameters`)
    that tuning would search makes it unreadable too, since the tuned value is
    not known in advance (fix it to a readable value to tune the rest).

    >>> stateless_shortfall("bsa", 16, 2) is None
    True
    >>> stateless_shortfall("pwm", 8, 2)[:47]
    'tuning searches frequency over [0.0156, 0.5], a'
    """
    cls = encoder_class(encoder)
    params = {**cls.tuning_defaults(substeps), **(fixed or {})}
    shortfall = cls(n_features, **params).window_shortfall(substeps)
    ones = np.ones(n_features)
    space = cls.search_space(SignalStats(0.01 * ones, 0.1 * ones, substeps), **params)
    searched = [name for name in cls.window_parameters if name in space and name not in params]
    if not searched:
        return shortfall
    ranges = ", ".join(
        f"{name} over [{float(space[name].low.min()):.3g}, {float(space[name].high.max()):.3g}]" for name in searched
    )
    reason = f"tuning searches {ranges}, and only some of those values let a window alone carry the value"
    return reason if shortfall is None else f"{reason}; at the default, {shortfall}"


def readable_encoders(
    policy: Policy,
    encoders: Sequence[str],
    *,
    substeps: int,
    n_features: int,
    fixed: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The encoders a ``policy`` can read, in the given order, and those left out, each with the reason.

    :param policy: ``"stateless"`` or ``"stateful"`` (which reads every encoder).
    :param encoders: encoder names.
    :param substeps: encoder steps per observation, ``T``.
    :param n_features: features per observation.
    :param fixed: per encoder, the parameters held fixed while tuning.
    """
    check_choice("policy", policy, POLICIES)
    considered: list[str] = []
    left_out: dict[str, str] = {}
    for name in encoders:
        reason = None
        if policy == "stateless":
            reason = stateless_shortfall(name, substeps, n_features, (fixed or {}).get(name))
        if reason is None:
            considered.append(name)
        else:
            left_out[name] = reason
    return considered, left_out
