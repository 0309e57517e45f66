"""Compiled kernels of the observation path: scale + upsample into a block, spikes into channels.

They keep the per-step cost of :class:`~spikegym.envs.gym_encoder.GymnasiumEncoder`
to a few calls, for one env or a batch of ``n`` envs alike. A block is
``(T, n * F)``: time first, env ``i``'s features in columns ``i * F ...``,
as the encoders' kernels expect.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def scale_block(x, low, high, previous, linear, hold, zero_nonfinite, block, clipped, nonfinite, steps):
    """Scale the observations ``x`` ``(n, F)`` into ``[0, 1]`` and write the ``(T, n * F)`` block.

    The scaled value is repeated on every sub-step, or, if ``linear`` and not
    ``hold[i]`` (env ``i``'s first observation), ramped from ``previous`` (the
    last scaled observation, updated here) to reach it on the last sub-step.
    Counts clipped values per env into ``clipped``.
    A NaN/inf value stops the kernel and returns its flat index unless
    ``zero_nonfinite``, which scales it as 0 and counts it into ``nonfinite``;
    returns -1 when all went through, after adding one to each env's count of
    observations ``steps`` (here, as a numpy add on a small array costs more
    than this whole kernel).
    """
    n_envs, n_features = x.shape
    n_time = block.shape[0]
    for i in range(n_envs):
        clipped[i] = 0
        nonfinite[i] = 0
        for j in range(n_features):
            v = x[i, j]
            if not np.isfinite(v):
                if not zero_nonfinite:
                    return i * n_features + j
                nonfinite[i] += 1
                v = 0.0
            u = (v - low[j]) / (high[j] - low[j])
            if u < 0.0 or u > 1.0:
                clipped[i] += 1
                u = min(max(u, 0.0), 1.0)
            col = i * n_features + j
            if linear and not hold[i]:
                start = previous[i, j]
                for t in range(n_time):
                    block[t, col] = start + (u - start) * ((t + 1) / n_time)
            else:
                for t in range(n_time):
                    block[t, col] = u
            previous[i, j] = u
    for i in range(n_envs):
        steps[i] += 1
    return -1


@njit(cache=True)
def spike_channels(spikes, signed, out, counts):
    """Lay the encoder's spikes ``(T, n * K)`` out as ``{0, 1}`` channels ``(n, T, C)``.

    Unsigned: ``C = K``. Signed: ``C = 2K``, the up spikes of value ``k`` in
    channel ``2k`` and its down spikes in ``2k + 1``. Counts spikes per env.
    """
    n_envs, n_time = out.shape[:2]
    width = spikes.shape[1] // n_envs
    for i in range(n_envs):
        total = 0
        for t in range(n_time):
            for k in range(width):
                s = spikes[t, i * width + k]
                if signed:
                    up = 1 if s > 0 else 0
                    down = 1 if s < 0 else 0
                    out[i, t, 2 * k] = up
                    out[i, t, 2 * k + 1] = down
                    total += up + down
                else:
                    out[i, t, k] = s
                    total += s
        counts[i] = total
