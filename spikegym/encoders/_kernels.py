"""Compiled kernels: the one implementation of every encoding rule on the CPU.

Each kernel works on numpy arrays laid out as ``(T, N)``, where ``N`` is the
flattened batch and feature axes and ``n % F`` is the feature of column ``n``.
Per-feature parameters are ``(F,)`` arrays; a kernel spreads them over its
columns once per call, so no element looks up its feature by a modulo. State
arrays are updated in place; callers pass copies so nothing they own is
written.

Encoding kernels take the raw signal with the bounds ``low``/``high`` and
scale it as they go (``clip((x - low) / (high - low), 0, 1)``; bounds 0 and 1
leave an already scaled signal as it is, bit for bit). They return how many
columns hold a value that is not finite (0: all finite) and leave finding
the first one to the caller's error path. They write spikes only; the decoding kernels read spikes and write the
reconstruction with the same arithmetic, so a decoder is its encoder's own
reconstruction and cannot drift from it.

All arithmetic is in the dtype of the arrays (float32 or float64): the state
a stream carries between calls and the values computed within a call have one
precision, so any split into chunks gives the same result. Loops run over
time outside and columns inside, the memory layout's order, so the compiler
vectorises the inner loop; ``*_parallel`` kernels split the columns over
numba's threads (:func:`split`). ``error_model="numpy"`` lets a division by
zero give inf like numpy instead of a Python exception check per element.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_STEP_STRIDE = np.uint64(0xD6E8FEB86659FD93)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53

PARALLEL_CHUNK = 256
"""Columns per task of a parallel kernel."""
NARROW = 64
"""Below this many columns BSA runs column by column (:func:`_bsa_narrow`), cheaper for a wrapper's stream."""


@njit(cache=True)
def split(n_cols):
    """The number of column chunks of ``PARALLEL_CHUNK`` columns a parallel kernel runs as tasks."""
    return max(1, -(-n_cols // PARALLEL_CHUNK))


# ----------------------------------------------------------------- exp rule
#
# exp(y) for y <= 0 from IEEE basic operations only (multiply, add, floor, a
# power of two), so that numba, torch on the CPU and torch on CUDA compute the
# same bits: y = k ln2 + r with |r| <= ln2 / 2, exp(r) by a Taylor polynomial
# in Horner form, times 2**k (exact: from a table in torch, from its bits here).


def exp_constants(dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """``(constants, powers)`` of the exp rule in ``dtype``: ``[lowest y, log2(e), 0.5, ln2 high part, ln2 low part,
    Taylor coefficients from the highest degree down]`` and ``2**k`` for ``k`` from the lowest exponent to 0."""
    if np.dtype(dtype) == np.float32:
        lowest, ln2_high, ln2_low, degree = -87.0, 0.693359375, -2.12194440e-4, 7
    else:
        lowest, ln2_high, ln2_low, degree = -708.0, 6.93145751953125e-1, 1.42860682030941723212e-6, 13
    taylor = [1.0 / math.factorial(d) for d in range(degree, -1, -1)]
    constants = np.array([lowest, 1.4426950408889634, 0.5, ln2_high, ln2_low, *taylor], dtype)
    lowest_k = math.floor(lowest * 1.4426950408889634 + 0.5)
    powers = np.array([2.0**k for k in range(lowest_k, 1)], dtype)
    return constants, powers


@njit(cache=True, inline="always")
def _exp_negative(y, constants, bits, reduced, out):
    """``out[m] = exp(y[m])`` for ``y <= 0`` (below ``constants[0]`` taken as that) by the exp rule, in ``y``'s
    dtype; ``bits`` (int64) and ``reduced`` are work arrays of ``y``'s size. The first loop reduces and runs
    the first eight Taylor terms; ``2**k`` is built from its float64 bits (exact in float32 too, as the
    table of powers that the torch path reads), so no loop gathers from a table and each vectorises."""
    size = y.shape[0]
    c = constants
    powers = bits.view(np.float64)
    for m in range(size):
        v = max(y[m], c[0])
        k = np.floor(v * c[1] + c[2])
        r = (v - k * c[3]) - k * c[4]
        reduced[m] = r
        out[m] = ((((((c[5] * r + c[6]) * r + c[7]) * r + c[8]) * r + c[9]) * r + c[10]) * r + c[11]) * r + c[12]
        bits[m] = (np.int64(k) + 1023) << 52
    for d in range(13, c.shape[0]):  # float64's higher degree
        cd = c[d]
        for m in range(size):
            out[m] = out[m] * reduced[m] + cd
    dtype = out.dtype.type
    for m in range(size):
        out[m] = out[m] * dtype(powers[m])


# ------------------------------------------------------------------ helpers


@njit(cache=True)
def narrow(x, out):
    """Copy ``x`` into ``out`` of a narrower float dtype; a value beyond its range becomes +-inf, without the
    warning numpy's cast gives (the caller names such a value as not finite)."""
    for i in range(x.shape[0]):
        out[i] = x[i]


@njit(cache=True, error_model="numpy")
def normalize(x, low, high, out):
    """Write ``clip((x - low) / (high - low), 0, 1)`` into ``out``.

    Returns the flat index of the first NaN/inf value of ``x``, or ``-1`` if
    there is none (``out`` then holds NaN or a clipped inf at such values).
    """
    n_time, n_cols = x.shape
    dtype = out.dtype.type
    zero, one = dtype(0.0), dtype(1.0)
    lows, spans, unit = _scaling(low, high, 0, n_cols)
    poison = np.zeros(n_cols, dtype)
    for t in range(n_time):
        for n in range(n_cols):
            v = x[t, n]
            poison[n] += v - v
            out[t, n] = _scale(v, lows[n], spans[n], zero, one, unit)
    if _count_poisoned(poison) == 0:
        return -1
    for m in range(x.size):  # the error path: find the first value that is not finite
        if _not_finite(x.flat[m]):
            return m
    return -1


@njit(cache=True, inline="always")
def _spread(values, first, last, repeat):
    """Per-feature ``values`` spread over the columns ``first .. last - 1``, each column repeated ``repeat``
    times (the bins of a population code): column ``n`` gets feature ``n % F``. The first period is written
    element by element, the rest by doubling copies, so a wide batch costs a few memory copies."""
    n_features = values.shape[0]
    if first == 0 and last == n_features and repeat == 1:  # one stream: the values themselves, read only
        return values
    size = (last - first) * repeat
    out = np.empty(size, values.dtype)
    period = n_features * repeat
    offset = (first % n_features) * repeat
    for i in range(min(period, size)):
        out[i] = values[((offset + i) % period) // repeat]
    filled = period
    while filled < size:
        step = min(filled, size - filled)
        out[filled : filled + step] = out[:step]
        filled += step
    return out


@njit(cache=True, inline="always")
def _spans(low, high):
    return high - low


@njit(cache=True, inline="always", error_model="numpy")
def _scale(v, low, span, zero, one, unit):
    """``clip((v - low) / span, 0, 1)`` in ``v``'s dtype; ``clip(v, 0, 1)`` if ``unit`` (see :func:`_unit`)."""
    return min(max(v if unit else (v - low) / span, zero), one)


@njit(cache=True, inline="always")
def _scaling(low, high, first, last):
    """``(lows, spans, unit)`` of the columns ``first .. last - 1``: each column's lower bound and range, and
    whether every feature's bounds are 0 and 1 (:func:`_unit`), for :func:`_scale`."""
    return _spread(low, first, last, 1), _spread(_spans(low, high), first, last, 1), _unit(low, high)


@njit(cache=True, inline="always")
def _unit(low, high):
    """Whether every feature's bounds are 0 and 1, where scaling is the clip alone (``(v - 0) / 1 == v``
    exactly): a loop-invariant flag, so the loop runs without the subtraction and the division (the stream
    path of the wrappers, whose signal is already scaled)."""
    unit = True
    for j in range(low.shape[0]):
        unit = unit and low[j] == 0.0 and high[j] == 1.0
    return unit


@njit(cache=True, inline="always")
def _not_finite(v):
    """1 if ``v`` is NaN or inf, else 0 (branch-free, so the loop around it vectorises)."""
    return 1 if (v - v) != 0 else 0


@njit(cache=True, inline="always")
def _count_poisoned(poison):
    """How many columns met a value that is not finite, from each column's sum of ``v - v`` (0 while every ``v``
    is finite, NaN after the first that is not): a float sum per column vectorises where an integer count does
    not."""
    count = 0
    for i in range(poison.shape[0]):
        count += _not_finite(poison[i])
    return count


# --------------------------------------------------- step-forward and LIF


@njit(cache=True, inline="always", error_model="numpy")
def _leaky_columns(x, low, high, value, beta, threshold, spikes, first, last):
    dtype = x.dtype.type
    zero, half, one = dtype(0.0), dtype(0.5), dtype(1.0)
    lows, spans, unit = _scaling(low, high, first, last)
    leaks = _spread(one - beta, first, last, 1)
    thetas = _spread(threshold, first, last, 1)
    leaky = not (beta == one).all()  # loop invariant: without a leak (step-forward) the loop skips its arithmetic
    poison = np.zeros(last - first, dtype)
    for t in range(x.shape[0]):
        for i in range(last - first):
            n = first + i
            v = x[t, n]
            poison[i] += v - v
            u = _scale(v, lows[i], spans[i], zero, one, unit)
            r = value[n]
            b = r - leaks[i] * (r - half) if leaky else r
            d = u - b
            theta = thetas[i]
            up = d > theta
            down = d < -theta
            value[n] = b + theta if up else (b - theta if down else b)
            spikes[t, n] = 1 if up else (-1 if down else 0)
    return _count_poisoned(poison)


@njit(cache=True, error_model="numpy")
def leaky_encode(x, low, high, value, beta, threshold, spikes):
    """Step-forward (``beta = 1``) and leaky integrate-and-fire coding of the raw signal ``x``.

    ``value`` is the reconstruction, shared by encoder and decoder. Each step
    it first leaks towards the rest value 0.5, ``r - (1 - beta) * (r - 0.5)``
    (exactly ``r`` without a leak); then an up spike fires when the scaled
    input exceeds it by more than the threshold and a down spike when the
    input falls below it by more, moving it by one threshold.
    Returns the number of columns of ``x`` that hold a value that is not finite.
    """
    return _leaky_columns(x, low, high, value, beta, threshold, spikes, 0, x.shape[1])


@njit(cache=True, error_model="numpy", parallel=True)
def leaky_encode_parallel(x, low, high, value, beta, threshold, spikes):
    """:func:`leaky_encode` with the columns split over numba's threads."""
    n_cols = x.shape[1]
    n_chunks = split(n_cols)
    bad = np.zeros(n_chunks, np.int64)
    for c in prange(n_chunks):
        first = c * PARALLEL_CHUNK
        bad[c] = _leaky_columns(
            x, low, high, value, beta, threshold, spikes, first, min(first + PARALLEL_CHUNK, n_cols)
        )
    return bad.sum()


@njit(cache=True, error_model="numpy")
def leaky_decode(spikes, value, beta, threshold, recon):
    """The reconstruction of :func:`leaky_encode` from its spikes, written into ``recon``."""
    dtype = recon.dtype.type
    half, one = dtype(0.5), dtype(1.0)
    n_cols = spikes.shape[1]
    leaks = _spread(one - beta, 0, n_cols, 1)
    thetas = _spread(threshold, 0, n_cols, 1)
    for t in range(spikes.shape[0]):
        for n in range(n_cols):
            r = value[n]
            b = r - leaks[n] * (r - half)
            s = spikes[t, n]
            theta = thetas[n]
            b = b + theta if s > 0 else (b - theta if s < 0 else b)
            value[n] = b
            recon[t, n] = b


# ---------------------------------------------------------------------- PWM


@njit(cache=True, inline="always", error_model="numpy")
def _pwm_columns(x, low, high, phase, fired, value, frequency, bipolar, spikes, first, last):
    dtype = x.dtype.type
    zero, half, one, two = dtype(0.0), dtype(0.5), dtype(1.0), dtype(2.0)
    lows, spans, unit = _scaling(low, high, first, last)
    frequencies = _spread(frequency, first, last, 1)
    poison = np.zeros(last - first, x.dtype)
    for t in range(x.shape[0]):
        for i in range(last - first):
            n = first + i
            v = x[t, n]
            poison[i] += v - v
            u = _scale(v, lows[i], spans[i], zero, one, unit)
            f = frequencies[i]
            c, done, r = _pwm_carrier(phase[n], fired[n], value[n], f, bipolar, half, one)
            phase[n] = c
            carrier = one - c
            m = abs(two * u - one) if bipolar else u
            fire = (not done) and m >= carrier
            s = (-1 if (bipolar and u < half) else 1) if fire else 0
            fired[n] = done or fire
            value[n] = _pwm_value(s, carrier, f, bipolar, r, half, one)
            spikes[t, n] = s
    return _count_poisoned(poison)


@njit(cache=True, inline="always")
def _pwm_carrier(phase, fired, value, f, bipolar, half, one):
    """One carrier step: ``(phase, fired, value)`` after it; a period that ended unfired sets the value to the
    middle of the interval below its last carrier value (or the middle of the range, bipolar)."""
    c = phase + f
    if c >= one:
        if not fired:
            value = half if bipolar else half * (one - phase)
        return c - one, False, value
    return c, fired, value


@njit(cache=True, inline="always")
def _pwm_value(s, carrier, f, bipolar, value, half, one):
    """The value after spike ``s``: the middle of the carrier interval of this step, signed if bipolar."""
    if s == 0:
        return value
    m_hat = half * (carrier + min(carrier + f, one))
    if not bipolar:
        return m_hat
    return half + (half if s > 0 else -half) * m_hat


@njit(cache=True, error_model="numpy")
def pwm_encode(x, low, high, phase, fired, value, frequency, bipolar, spikes):
    """Pulse-width modulation of the raw signal ``x`` against a falling sawtooth carrier.

    The carrier ``d = 1 - phase`` falls from 1 towards 0 once per period of
    ``1 / frequency`` steps. The magnitude ``m`` (the scaled input ``u``, or
    ``|2u - 1|`` when bipolar, with the sign on the spike) fires one spike per
    period, at the first step where the carrier has fallen to ``m`` or below.
    The state's value follows the decoder (:func:`pwm_decode`). Returns the
    number of columns of ``x`` that hold a value that is not finite.
    """
    return _pwm_columns(x, low, high, phase, fired, value, frequency, bipolar, spikes, 0, x.shape[1])


@njit(cache=True, error_model="numpy", parallel=True)
def pwm_encode_parallel(x, low, high, phase, fired, value, frequency, bipolar, spikes):
    """:func:`pwm_encode` with the columns split over numba's threads."""
    n_cols = x.shape[1]
    n_chunks = split(n_cols)
    bad = np.zeros(n_chunks, np.int64)
    for c in prange(n_chunks):
        first = c * PARALLEL_CHUNK
        last = min(first + PARALLEL_CHUNK, n_cols)
        bad[c] = _pwm_columns(x, low, high, phase, fired, value, frequency, bipolar, spikes, first, last)
    return bad.sum()


@njit(cache=True, error_model="numpy")
def pwm_decode(spikes, phase, fired, value, frequency, bipolar, recon):
    """The decoder of :func:`pwm_encode`: at a spike, the middle of the carrier interval of that step; at the end
    of a period without a spike, the middle of the interval below the last carrier value; held in between."""
    dtype = recon.dtype.type
    half, one = dtype(0.5), dtype(1.0)
    n_cols = spikes.shape[1]
    frequencies = _spread(frequency, 0, n_cols, 1)
    for t in range(spikes.shape[0]):
        for n in range(n_cols):
            f = frequencies[n]
            c, done, r = _pwm_carrier(phase[n], fired[n], value[n], f, bipolar, half, one)
            phase[n] = c
            s = spikes[t, n]
            fired[n] = done or s != 0
            r = _pwm_value(s, one - c, f, bipolar, r, half, one)
            value[n] = r
            recon[t, n] = r


# ---------------------------------------------------------------------- BSA


@njit(cache=True, inline="always")
def _bsa_tables(taps, first, last):
    """Taps and their running sums before each tap (``later``), spread over the columns: ``(L, W)`` each."""
    n_features, n_taps = taps.shape
    width = last - first
    spread = np.empty((n_taps, width), taps.dtype)
    later = np.empty((n_taps, width), taps.dtype)
    sums = np.empty((n_taps, n_features), taps.dtype)
    for j in range(n_features):
        running = taps.dtype.type(0.0)
        for k in range(n_taps):
            sums[k, j] = running
            running += taps[j, k]
    for k in range(n_taps):
        spread[k] = _spread(taps[:, k].copy(), first, last, 1)
        later[k] = _spread(sums[k].copy(), first, last, 1)
    return spread, later


@njit(cache=True, inline="always")
def _ring_in(pending, first, last):
    """The pending tails of the columns ``first .. last - 1`` as ``(L, W)``, row ``k`` = ``k`` steps ahead."""
    n_taps = pending.shape[1]
    ring = np.empty((n_taps, last - first), pending.dtype)
    for i in range(last - first):
        for k in range(n_taps):
            ring[k, i] = pending[first + i, k]
    return ring


@njit(cache=True, inline="always")
def _ring_out(ring, head, pending, first):
    """Write the ring (its current step in row ``head``) back into the state layout ``pending[n, k]``."""
    n_taps, width = ring.shape
    for i in range(width):
        for k in range(n_taps):
            row = head + k
            pending[first + i, k] = ring[row - n_taps if row >= n_taps else row, i]


@njit(cache=True, inline="always", error_model="numpy")
def _bsa_columns(x, low, high, pending, taps, threshold, spikes, first, last):
    dtype = x.dtype.type
    zero, one = dtype(0.0), dtype(1.0)
    n_taps = taps.shape[1]
    width = last - first
    lows, spans, unit = _scaling(low, high, first, last)
    thresholds = _spread(threshold, first, last, 1)
    spread, later = _bsa_tables(taps, first, last)
    ring = _ring_in(pending, first, last)
    u = np.empty(width, x.dtype)
    err_silent = np.empty(width, x.dtype)
    err_spike = np.empty(width, x.dtype)
    fire = np.empty(width, np.bool_)
    poison = np.zeros(width, x.dtype)
    head = 0
    for t in range(x.shape[0]):
        for i in range(width):
            v = x[t, first + i]
            poison[i] += v - v
            u[i] = _scale(v, lows[i], spans[i], zero, one, unit)
            err_silent[i] = zero
            err_spike[i] = zero
        for k in range(n_taps):
            row = head + k
            row = row - n_taps if row >= n_taps else row
            ahead, tap, before = ring[row], spread[k], later[k]
            for i in range(width):
                d = (u[i] - ahead[i]) - u[i] * before[i]
                err_silent[i] += abs(d)
                err_spike[i] += abs(d - tap[i])
        for i in range(width):
            fire[i] = err_spike[i] <= err_silent[i] - thresholds[i]
            spikes[t, first + i] = 1 if fire[i] else 0
        _bsa_advance(ring, head, spread, fire)
        ring[head] = zero
        head = head + 1 if head + 1 < n_taps else 0
    _ring_out(ring, head, pending, first)
    return _count_poisoned(poison)


@njit(cache=True, inline="always")
def _bsa_advance(ring, head, spread, fire):
    """Add the filter to the pending tails of the columns that fired, then clear the row of the step that is
    done (``head``), which becomes the furthest step ahead."""
    n_taps, width = ring.shape
    for k in range(n_taps):
        row = head + k
        row = row - n_taps if row >= n_taps else row
        ahead, tap = ring[row], spread[k]
        for i in range(width):
            ahead[i] = ahead[i] + tap[i] if fire[i] else ahead[i]


@njit(cache=True, error_model="numpy")
def bsa_encode(x, low, high, pending, taps, threshold, spikes):
    """Ben's Spiker Algorithm, causal form, on the raw signal ``x``.

    ``pending[n, k]`` holds the reconstruction that spikes already sent add to
    step ``t + k``. A spike adds the filter ``taps`` to it; the encoder fires
    when that brings the next ``L`` steps closer to the current input (summed
    absolute error, summed over ``k`` in order) by more than the threshold.
    The current input ``x`` stands in for the next ``L`` inputs, which a
    stream has not seen yet, and the spikes of the next ``k`` steps are
    predicted to add ``x`` times the first ``k`` taps to step ``t + k``.
    Returns the number of columns of ``x`` that hold a value that is not finite.
    """
    n_cols = x.shape[1]
    if n_cols < NARROW:
        return _bsa_narrow(x, low, high, pending, taps, threshold, spikes)
    bad = 0
    for first in range(0, n_cols, PARALLEL_CHUNK):  # blocks whose working set stays in the L1 cache
        bad += _bsa_columns(x, low, high, pending, taps, threshold, spikes, first, min(first + PARALLEL_CHUNK, n_cols))
    return bad


@njit(cache=True, inline="always", error_model="numpy")
def _bsa_narrow(x, low, high, pending, taps, threshold, spikes):
    """:func:`bsa_encode` for a few columns (a wrapper's stream): column by column, the taps innermost, the
    same operations in the same order as the wide loop, without its per-call tables."""
    dtype = x.dtype.type
    zero, one = dtype(0.0), dtype(1.0)
    n_features, n_taps = taps.shape
    later = np.empty((n_features, n_taps), taps.dtype)
    for j in range(n_features):
        running = zero
        for k in range(n_taps):
            later[j, k] = running
            running += taps[j, k]
    unit = _unit(low, high)
    bad = 0
    for n in range(x.shape[1]):
        j = n % n_features
        ahead, tap, before = pending[n], taps[j], later[j]
        span = high[j] - low[j]
        for t in range(x.shape[0]):
            v = x[t, n]
            bad += _not_finite(v)
            u = _scale(v, low[j], span, zero, one, unit)
            err_silent = zero
            err_spike = zero
            for k in range(n_taps):
                d = (u - ahead[k]) - u * before[k]
                err_silent += abs(d)
                err_spike += abs(d - tap[k])
            fire = err_spike <= err_silent - threshold[j]
            spikes[t, n] = 1 if fire else 0
            for k in range(n_taps - 1):
                ahead[k] = (ahead[k + 1] + tap[k + 1]) if fire else ahead[k + 1]
            ahead[n_taps - 1] = zero
    return bad


@njit(cache=True, error_model="numpy", parallel=True)
def bsa_encode_parallel(x, low, high, pending, taps, threshold, spikes):
    """:func:`bsa_encode` with the columns split over numba's threads."""
    n_cols = x.shape[1]
    n_chunks = split(n_cols)
    bad = np.zeros(n_chunks, np.int64)
    for c in prange(n_chunks):
        first = c * PARALLEL_CHUNK
        bad[c] = _bsa_columns(
            x, low, high, pending, taps, threshold, spikes, first, min(first + PARALLEL_CHUNK, n_cols)
        )
    return bad.sum()


@njit(cache=True)
def bsa_decode(spikes, pending, taps, recon):
    """The decoder of :func:`bsa_encode`: the spikes convolved with the filter, from the pending tails."""
    n_cols = spikes.shape[1]
    n_taps = taps.shape[1]
    spread, _ = _bsa_tables(taps, 0, n_cols)
    ring = _ring_in(pending, 0, n_cols)
    fire = np.empty(n_cols, np.bool_)
    head = 0
    for t in range(spikes.shape[0]):
        for n in range(n_cols):
            fire[n] = spikes[t, n] != 0
        _bsa_advance(ring, head, spread, fire)
        current = ring[head]
        for n in range(n_cols):
            recon[t, n] = current[n]
            current[n] = 0.0
        head = head + 1 if head + 1 < n_taps else 0
    _ring_out(ring, head, pending, 0)


# ------------------------------------------------------- rate and population


@njit(cache=True, inline="always")
def _uniform(z):
    """Counter-based uniform in [0, 1): the splitmix64 finaliser of ``z``."""
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    return float(z >> np.uint64(11)) * _TO_UNIT


@njit(cache=True, inline="always")
def _counters(keys, steps, first, last, n_features, repeat, poisson):
    """Each column's Poisson counter at the start of the call, ``key + step * stride + stream_col * golden``,
    for columns ``first .. last - 1`` of streams of ``n_features * repeat`` columns; per time step the counter
    advances by ``stride`` (arithmetic modulo 2**64)."""
    out = np.empty((last - first) * repeat if poisson else 0, np.uint64)
    if not poisson:  # deterministic: no counters to read
        return out
    i = 0
    for n in range(first, last):
        stream = n // n_features
        base = keys[stream] + np.uint64(steps[stream]) * _STEP_STRIDE
        for b in range(repeat):
            out[i] = base + np.uint64((n % n_features) * repeat + b) * _GOLDEN
            i += 1
    return out


@njit(cache=True, inline="always")
def _advance(steps, n_steps):
    """Add the call's ``n_steps`` to every stream's step count (after the columns have read it)."""
    for s in range(steps.shape[0]):
        steps[s] += n_steps


@njit(cache=True, inline="always", error_model="numpy")
def _rate_columns(x, low, high, max_rate, inverted, exc_inh, accumulator, poisson, keys, steps, spikes, first, last):
    dtype = x.dtype.type
    zero, one, two = dtype(0.0), dtype(1.0), dtype(2.0)
    lows, spans, unit = _scaling(low, high, first, last)
    rates = _spread(max_rate, first, last, 1)
    counters = _counters(keys, steps, first, last, max_rate.shape[0], 1, poisson)
    accumulators = accumulator[first:last]  # a view: the columns' own, so the loop vectorises
    poison = np.zeros(last - first, x.dtype)
    for t in range(x.shape[0]):
        advance = np.uint64(t) * _STEP_STRIDE
        for i in range(last - first):
            n = first + i
            v = x[t, n]
            poison[i] += v - v
            u = _scale(v, lows[i], spans[i], zero, one, unit)
            u = one - u if inverted else u
            u = two * u - one if exc_inh else u
            q = u * rates[i]
            if poisson:
                fire = _uniform(counters[i] + advance) < abs(q)
            else:
                acc = accumulators[i] + abs(q)
                fire = acc >= one
                accumulators[i] = acc - one if fire else acc
            spikes[t, n] = (1 if q > 0 else -1) if fire else 0
    return _count_poisoned(poison)


@njit(cache=True, error_model="numpy")
def rate_encode(x, low, high, max_rate, inverted, exc_inh, accumulator, poisson, keys, steps, spikes):
    """Rate code of the raw signal ``x``: spike probability ``max_rate * u`` of the scaled input ``u`` (or
    ``1 - u``; signed ``2u - 1`` around the middle for an excitatory/inhibitory split).

    Deterministic: the column's accumulator gains the probability and fires
    when it reaches 1, so spikes are evenly spaced. Poisson: a Bernoulli draw
    from a counter-based generator keyed by the stream's ``key``, its step and
    the column within the stream, so any split into chunks, and any batch a
    stream is encoded in, gives the same spikes. ``keys`` and ``steps`` hold
    each stream's key and its step count at the start of ``x`` (advanced by
    ``T`` here); stream ``n // F`` owns column ``n``. Returns the number of
    columns of ``x`` that hold a value that is not finite.
    """
    bad = _rate_columns(
        x, low, high, max_rate, inverted, exc_inh, accumulator, poisson, keys, steps, spikes, 0, x.shape[1]
    )
    _advance(steps, x.shape[0])
    return bad


@njit(cache=True, error_model="numpy", parallel=True)
def rate_encode_parallel(x, low, high, max_rate, inverted, exc_inh, accumulator, poisson, keys, steps, spikes):
    """:func:`rate_encode` with the columns split over numba's threads."""
    n_cols = x.shape[1]
    n_chunks = split(n_cols)
    bad = np.zeros(n_chunks, np.int64)
    for c in prange(n_chunks):
        first = c * PARALLEL_CHUNK
        last = min(first + PARALLEL_CHUNK, n_cols)
        bad[c] = _rate_columns(
            x, low, high, max_rate, inverted, exc_inh, accumulator, poisson, keys, steps, spikes, first, last
        )
    _advance(steps, x.shape[0])
    return bad.sum()


@njit(cache=True, inline="always", error_model="numpy")
def _population_columns(
    x, low, high, centres, sigma, max_rate, exp_table, accumulator, poisson, keys, steps, spikes, first, last
):
    dtype = x.dtype.type
    zero, half, one = dtype(0.0), dtype(0.5), dtype(1.0)
    n_bins = centres.shape[0]
    width = last - first
    lows, spans, unit = _scaling(low, high, first, last)
    sigmas = _spread(sigma, first, last, n_bins)
    rates = _spread(max_rate, first, last, n_bins)
    centre = np.empty(width * n_bins, x.dtype)
    for m in range(width * n_bins):
        centre[m] = centres[m % n_bins]
    counters = _counters(keys, steps, first, last, sigma.shape[0], n_bins, poisson)
    size = width * n_bins
    y = np.empty(size, x.dtype)
    bits = np.empty(size, np.int64)
    reduced = np.empty(size, x.dtype)
    gaussian = np.empty(size, x.dtype)
    offset = first * n_bins
    accumulators = accumulator[offset : offset + size]  # a view: the block's own, so the loop vectorises
    poison = np.zeros(width, x.dtype)
    for t in range(x.shape[0]):
        for i in range(width):
            v = x[t, first + i]
            poison[i] += v - v
            u = _scale(v, lows[i], spans[i], zero, one, unit)
            for b in range(n_bins):
                y[i * n_bins + b] = u
        for m in range(size):
            d = (y[m] - centre[m]) / sigmas[m]
            y[m] = -half * d * d
        _exp_negative(y, exp_table, bits, reduced, gaussian)
        advance = np.uint64(t) * _STEP_STRIDE
        if poisson:
            for m in range(size):
                spikes[t, offset + m] = 1 if _uniform(counters[m] + advance) < rates[m] * gaussian[m] else 0
        else:
            for m in range(size):
                acc = accumulators[m] + rates[m] * gaussian[m]
                fire = acc >= one
                accumulators[m] = acc - one if fire else acc
                spikes[t, offset + m] = 1 if fire else 0
    return _count_poisoned(poison)


@njit(cache=True, error_model="numpy")
def population_encode(x, low, high, centres, sigma, max_rate, exp_table, accumulator, poisson, keys, steps, spikes):
    """Population code of the raw signal ``x``: bin ``b`` of column ``n`` is rate-coded (see
    :func:`rate_encode`) at ``max_rate * exp(-d * d / 2)`` with ``d = (u - centre_b) / sigma``, the exp by
    the exp rule (:func:`exp_constants`); spikes are ``(T, N * bins)``; ``steps`` advance by ``T``. Returns the
    number of columns of ``x`` that hold a value that is not finite."""
    n_cols = x.shape[1]
    bad = 0
    for first in range(0, n_cols, PARALLEL_CHUNK):  # blocks whose working set stays in the L1 cache
        bad += _population_columns(
            x, low, high, centres, sigma, max_rate, exp_table, accumulator, poisson, keys, steps, spikes,
            first, min(first + PARALLEL_CHUNK, n_cols),
        )  # fmt: skip
    _advance(steps, x.shape[0])
    return bad


@njit(cache=True, error_model="numpy", parallel=True)
def population_encode_parallel(
    x, low, high, centres, sigma, max_rate, exp_table, accumulator, poisson, keys, steps, spikes
):
    """:func:`population_encode` with the columns split over numba's threads."""
    n_cols = x.shape[1]
    n_chunks = split(n_cols)
    bad = np.zeros(n_chunks, np.int64)
    for c in prange(n_chunks):
        first = c * PARALLEL_CHUNK
        last = min(first + PARALLEL_CHUNK, n_cols)
        bad[c] = _population_columns(
            x, low, high, centres, sigma, max_rate, exp_table, accumulator, poisson, keys, steps, spikes,
            first, last,
        )  # fmt: skip
    _advance(steps, x.shape[0])
    return bad.sum()


@njit(cache=True)
def window_mean(spikes, history, filled, windows, channels, out):
    """Causal moving average of each column's spikes over its feature's last ``windows[j]`` steps.

    Column ``n`` belongs to feature ``(n // channels) % F``. ``history`` is a
    ring buffer of the last ``max(windows)`` steps' spikes, written at
    ``filled % size``; before a window is full the mean is over the steps seen
    so far. Returns the new ``filled`` count.
    """
    n_time, n_cols = spikes.shape
    size = history.shape[0]
    n_features = windows.shape[0]
    totals = np.zeros(n_cols, np.int64)
    column_windows = np.empty(n_cols, np.int64)
    for n in range(n_cols):
        w = windows[(n // channels) % n_features]
        column_windows[n] = w
        for k in range(min(filled, w)):
            totals[n] += history[(filled - 1 - k) % size, n]
    for t in range(n_time):
        slot = filled % size
        for n in range(n_cols):
            w = column_windows[n]
            leaving = 0
            if filled >= w:
                old = slot - w
                leaving = history[old + size if old < 0 else old, n]
            s = spikes[t, n]
            totals[n] += s - leaving
            history[slot, n] = s
            out[t, n] = totals[n] / (filled + 1 if filled < w else w)
        filled += 1
    return filled
