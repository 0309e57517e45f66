"""The encoding rules as torch operations: the path of GPU tensors, which stay on their device.

Each function loops over time (the rules are sequential) and runs one step
over the whole batch as a few tensor operations, with the arithmetic of the
compiled kernels in :mod:`~spikegym.encoders._kernels` operation for
operation: every operation is an IEEE add, subtract, multiply, divide,
compare, floor or select in the signal's dtype, which round the same on any
device, so the spikes equal the CPU's bit for bit. Signals are scaled
``(T, *batch, F)`` tensors; states are tensors on the same device.
"""

from __future__ import annotations

import torch

_MASK64 = (1 << 64) - 1


def _signed(value: int) -> int:
    """A 64-bit pattern as the int64 that holds it (torch computes modulo 2**64 in int64)."""
    return value - (1 << 64) if value >= 1 << 63 else value


_GOLDEN = _signed(0x9E3779B97F4A7C15)
_MIX1 = _signed(0xBF58476D1CE4E5B9)
_MIX2 = _signed(0x94D049BB133111EB)
_STEP_STRIDE = 0xD6E8FEB86659FD93
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53


def _constant(value: float, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(value, dtype=like.dtype, device=like.device)


def _shift_right(z: torch.Tensor, bits: int) -> torch.Tensor:
    """Logical right shift of int64 ``z`` seen as uint64."""
    return (z >> bits) & ((1 << (64 - bits)) - 1)


def uniform(z: torch.Tensor) -> torch.Tensor:
    """The kernels' counter-based uniform in [0, 1) (float64): the splitmix64 finaliser of the int64 ``z``."""
    z = (z ^ _shift_right(z, 30)) * _MIX1
    z = (z ^ _shift_right(z, 27)) * _MIX2
    z = z ^ _shift_right(z, 31)
    return _shift_right(z, 11).to(torch.float64) * _TO_UNIT


def counters(key: torch.Tensor, step: torch.Tensor, stream_columns: torch.Tensor) -> torch.Tensor:
    """Each channel's Poisson counter at the start of a call, ``key + step * stride + column * golden`` modulo
    2**64, shaped ``(*batch, *channels)``; it advances by ``stride`` per step."""
    extra = stream_columns.dim()
    key = key.reshape(*key.shape, *([1] * extra))
    step = step.reshape(*step.shape, *([1] * extra))
    return key + step * _signed(_STEP_STRIDE) + stream_columns * _GOLDEN


def rate_spikes(
    q: torch.Tensor, accumulator: torch.Tensor, poisson: bool, start: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spikes ``sign(q)`` with probability ``|q|`` (``q`` is ``(T, *batch, *channels)``): Bernoulli draws from the
    counters ``start`` (Poisson) or an accumulator per channel that fires on reaching 1."""
    spikes = torch.empty(q.shape, dtype=torch.int8, device=q.device)
    one = _constant(1.0, q)
    accumulator = accumulator.clone()
    for t in range(q.shape[0]):
        a = q[t].abs()
        if poisson:
            fire = uniform(start + _signed(t * _STEP_STRIDE & _MASK64)) < a.to(torch.float64)
        else:
            accumulator = accumulator + a
            fire = accumulator >= one
            accumulator = torch.where(fire, accumulator - one, accumulator)
        sign = torch.where(q[t] > 0, 1, -1).to(torch.int8)
        spikes[t] = torch.where(fire, sign, 0)
    return spikes, accumulator


def exp_negative(y: torch.Tensor, constants: torch.Tensor, powers: torch.Tensor) -> torch.Tensor:
    """``exp(y)`` for ``y <= 0`` by the kernels' exp rule (:func:`~spikegym.encoders._kernels.exp_constants`)."""
    y = torch.maximum(y, constants[0])
    k = torch.floor(y * constants[1] + constants[2])
    r = (y - k * constants[3]) - k * constants[4]
    p = constants[5].expand_as(r)
    for d in range(6, constants.shape[0]):
        p = p * r + constants[d]
    return p * powers[k.long() + (powers.shape[0] - 1)]


def leaky_encode(
    u: torch.Tensor, value: torch.Tensor, beta: torch.Tensor, threshold: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Step-forward / LIF spikes and the final reconstruction (``_kernels.leaky_encode``)."""
    spikes = torch.empty(u.shape, dtype=torch.int8, device=u.device)
    half, one = _constant(0.5, u), _constant(1.0, u)
    leak = one - beta
    for t in range(u.shape[0]):
        b = value - leak * (value - half)
        d = u[t] - b
        up, down = d > threshold, d < -threshold
        value = torch.where(up, b + threshold, torch.where(down, b - threshold, b))
        spikes[t] = up.to(torch.int8) - down.to(torch.int8)
    return spikes, value


def pwm_encode(
    u: torch.Tensor,
    phase: torch.Tensor,
    fired: torch.Tensor,
    value: torch.Tensor,
    frequency: torch.Tensor,
    bipolar: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """PWM spikes and the final ``(phase, fired, value)`` (``_kernels.pwm_encode``)."""
    spikes = torch.empty(u.shape, dtype=torch.int8, device=u.device)
    half, one = _constant(0.5, u), _constant(1.0, u)
    for t in range(u.shape[0]):
        c = phase + frequency
        wrapped = c >= one
        unfired_end = wrapped & ~fired
        value = torch.where(unfired_end, half if bipolar else half * (one - phase), value)
        c = torch.where(wrapped, c - one, c)
        fired = fired & ~wrapped
        phase = c
        carrier = one - c
        m = ((one + one) * u[t] - one).abs() if bipolar else u[t]
        fire = ~fired & (m >= carrier)
        negative = u[t] < half if bipolar else torch.zeros_like(fire)
        s = torch.where(fire, torch.where(negative, -1, 1), 0).to(torch.int8)
        fired = fired | fire
        m_hat = half * (carrier + torch.minimum(carrier + frequency, one))
        spiked = m_hat if not bipolar else half + torch.where(negative, -half, half) * m_hat
        value = torch.where(fire, spiked, value)
        spikes[t] = s
    return spikes, phase, fired, value


def bsa_encode(
    u: torch.Tensor, pending: torch.Tensor, taps: torch.Tensor, threshold: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """BSA spikes and the final pending tails ``(*batch, F, L)`` (``_kernels.bsa_encode``): the errors are summed
    over the taps in order, one tensor operation per tap."""
    spikes = torch.empty(u.shape, dtype=torch.int8, device=u.device)
    zero = _constant(0.0, u)
    n_taps = taps.shape[1]
    later = torch.zeros_like(taps)
    for k in range(1, n_taps):
        later[:, k] = later[:, k - 1] + taps[:, k - 1]
    pending = pending.clone()
    for t in range(u.shape[0]):
        x = u[t][..., None]
        d = (x - pending) - x * later
        distance_silent, distance_spike = d.abs(), (d - taps).abs()
        err_silent, err_spike = zero.expand_as(u[t]), zero.expand_as(u[t])
        for k in range(n_taps):
            err_silent = err_silent + distance_silent[..., k]
            err_spike = err_spike + distance_spike[..., k]
        fire = err_spike <= err_silent - threshold
        pending = torch.where(fire[..., None], pending + taps, pending)
        pending = torch.cat([pending[..., 1:], torch.zeros_like(pending[..., :1])], dim=-1)
        spikes[t] = fire.to(torch.int8)
    return spikes, pending
