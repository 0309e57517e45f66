"""Compiled kernels: the one implementation of every encoding rule.

Each kernel works on numpy arrays laid out as ``(T, N)``, where ``N`` is the
flattened batch and feature axes and ``n % F`` is the feature of column ``n``.
Per-feature parameters are ``(F,)`` arrays. A kernel that keeps state gets the
state arrays to update in place; callers pass copies so nothing they own is
written. Where a rule has an encoder and a decoder, one kernel serves both
(``encode=True`` writes spikes, ``encode=False`` reads them), so the decoder
is the encoder's own reconstruction and cannot drift from it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_STEP_STRIDE = np.uint64(0xD6E8FEB86659FD93)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53


@njit(cache=True)
def narrow(x, out):
    """Copy ``x`` into ``out`` of a narrower float dtype; a value beyond its range becomes +-inf, without the
    warning numpy's cast gives (the caller names such a value as not finite)."""
    for i in range(x.shape[0]):
        out[i] = x[i]


@njit(cache=True)
def normalize(x, low, high, out):
    """Write ``clip((x - low) / (high - low), 0, 1)`` into ``out``.

    Returns ``(first_bad, clipped)``: the flat index of the first NaN/inf value
    (``-1`` if none; scaling stops there) and how many values were clipped.
    """
    n_time, n_cols = x.shape
    n_features = low.shape[0]
    clipped = 0
    for t in range(n_time):
        for n in range(n_cols):
            v = x[t, n]
            if not np.isfinite(v):
                return t * n_cols + n, clipped
            j = n % n_features
            u = (v - low[j]) / (high[j] - low[j])
            if u < 0.0 or u > 1.0:
                clipped += 1
                u = min(max(u, 0.0), 1.0)
            out[t, n] = u
    return -1, clipped


@njit(cache=True, inline="always")
def _uniform(key, step, col):
    """Counter-based uniform in [0, 1): splitmix64 of (key, step, column)."""
    z = key + np.uint64(step) * _STEP_STRIDE + np.uint64(col) * _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    return float(z >> np.uint64(11)) * _TO_UNIT


@njit(cache=True, inline="always")
def _fire(q, accumulator, col, poisson, key, step, stream_col):
    """One step of rate coding for the signed spike probability ``q`` in [-1, 1].

    Deterministic: accumulator ``col`` gains ``|q|`` and fires when it reaches
    1, so spikes are evenly spaced. Poisson: a Bernoulli draw from a
    counter-based generator keyed by the stream's ``key``, its step and the
    column within the stream (``stream_col``), so any split into chunks, and
    any batch a stream is encoded in, gives the same spikes.
    """
    a = abs(q)
    if poisson:
        fire = _uniform(key, step, stream_col) < a
    else:
        acc = accumulator[col] + a
        fire = acc >= 1.0
        if fire:
            acc -= 1.0
        accumulator[col] = acc
    if not fire:
        return 0
    return 1 if q > 0 else -1


@njit(cache=True)
def rate_encode(u, max_rate, inverted, exc_inh, accumulator, poisson, keys, steps, spikes):
    """Rate code: spike probability ``max_rate * x`` (or ``1 - x``; signed
    ``2x - 1`` around the middle for an excitatory/inhibitory split).

    ``keys`` and ``steps`` hold each stream's Poisson key and its step count
    at the start of ``u``; stream ``n // F`` owns column ``n``.
    """
    n_time, n_cols = u.shape
    n_features = max_rate.shape[0]
    for t in range(n_time):
        for n in range(n_cols):
            x = u[t, n]
            if inverted:
                x = 1.0 - x
            if exc_inh:
                x = 2.0 * x - 1.0
            j = n % n_features
            b = n // n_features
            spikes[t, n] = _fire(x * max_rate[j], accumulator, n, poisson, keys[b], steps[b] + t, j)


@njit(cache=True)
def population_encode(u, centres, sigma, max_rate, accumulator, poisson, keys, steps, spikes):
    """Population code: bin ``b`` of column ``n`` is rate-coded at
    ``max_rate * exp(-(x - centre_b)^2 / (2 sigma^2))``; spikes are ``(T, N * bins)``.

    Columns are independent, so each runs through time on its own and reuses
    the field responses while its value is held (an upsampled observation).
    Each step updates the column's bins side by side and stores their
    accumulators in the state's dtype, exactly as they are kept between calls,
    so a stream encoded whole or in chunks gives the same spikes.
    """
    n_time, n_cols = u.shape
    n_features = sigma.shape[0]
    n_bins = centres.shape[0]
    rates = np.empty(n_bins)
    for n in range(n_cols):
        j = n % n_features
        s = n // n_features
        first = n * n_bins
        last = np.nan
        for t in range(n_time):
            x = u[t, n]
            if x != last:
                for b in range(n_bins):
                    d = (x - centres[b]) / sigma[j]
                    rates[b] = max_rate[j] * np.exp(-0.5 * d * d)
                last = x
            for b in range(n_bins):
                col = first + b
                if poisson:
                    fire = _uniform(keys[s], steps[s] + t, j * n_bins + b) < rates[b]
                else:
                    acc = accumulator[col] + rates[b]
                    fire = acc >= 1.0
                    if fire:
                        acc -= 1.0
                    accumulator[col] = acc
                spikes[t, col] = 1 if fire else 0


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


@njit(cache=True)
def leaky_delta(u, spikes, value, beta, threshold, encode, recon):
    """Step-forward (``beta = 1``) and leaky integrate-and-fire coding.

    ``value`` is the reconstruction, shared by encoder and decoder. Each step
    it first leaks towards the rest value 0.5 (``beta < 1``); then an up spike
    fires when the input exceeds it by more than the threshold and a down
    spike when the input falls below it by more, moving it by one threshold.
    """
    n_time, n_cols = recon.shape
    n_features = threshold.shape[0]
    for t in range(n_time):
        for n in range(n_cols):
            j = n % n_features
            theta = threshold[j]
            b = 0.5 + beta[j] * (value[n] - 0.5)
            if encode:
                v = u[t, n] - b
                s = 1 if v > theta else (-1 if v < -theta else 0)
                spikes[t, n] = s
            else:
                s = spikes[t, n]
            b += s * theta
            value[n] = b
            recon[t, n] = b


@njit(cache=True)
def bsa(u, spikes, pending, taps, threshold, encode, recon):
    """Ben's Spiker Algorithm, causal form.

    ``pending[n, k]`` holds the reconstruction that spikes already sent add to
    step ``t + k``. A spike adds the filter ``taps`` to it; the encoder fires
    when that brings the next ``L`` steps closer to the current input (summed
    absolute error) by more than the threshold. The current input ``x`` stands
    in for the next ``L`` inputs, which a stream has not seen yet, and the
    spikes of the next ``k`` steps are predicted to add ``x`` times the first
    ``k`` taps to step ``t + k``.
    """
    n_time, n_cols = recon.shape
    n_features, n_taps = taps.shape
    for t in range(n_time):
        for n in range(n_cols):
            j = n % n_features
            if encode:
                x = u[t, n]
                err_silent = 0.0
                err_spike = 0.0
                later = 0.0
                for k in range(n_taps):
                    d = x - pending[n, k] - x * later
                    err_silent += abs(d)
                    err_spike += abs(d - taps[j, k])
                    later += taps[j, k]
                s = 1 if err_spike <= err_silent - threshold[j] else 0
                spikes[t, n] = s
            else:
                s = spikes[t, n]
            if s:
                for k in range(n_taps):
                    pending[n, k] += taps[j, k]
            recon[t, n] = pending[n, 0]
            for k in range(n_taps - 1):
                pending[n, k] = pending[n, k + 1]
            pending[n, n_taps - 1] = 0.0


@njit(cache=True)
def pwm(u, spikes, phase, fired, value, frequency, bipolar, encode, recon):
    """Pulse-width modulation against a falling sawtooth carrier.

    The carrier ``d = 1 - phase`` falls from 1 towards 0 once per period of
    ``1 / frequency`` steps. The magnitude ``m`` (``u``, or ``|2u - 1|`` when
    bipolar, with the sign on the spike) fires one spike per period, at the
    first step where the carrier has fallen to ``m`` or below. The decoder
    sets the value to the middle of the carrier interval of that step, or, if
    a period ends without a spike, to the middle of the interval below the
    last carrier value.
    """
    n_time, n_cols = recon.shape
    n_features = frequency.shape[0]
    for t in range(n_time):
        for n in range(n_cols):
            j = n % n_features
            f = frequency[j]
            c = phase[n] + f
            if c >= 1.0:
                if not fired[n]:
                    low_magnitude = 0.5 * (1.0 - phase[n])
                    value[n] = 0.5 if bipolar else low_magnitude
                c -= 1.0
                fired[n] = False
            phase[n] = c
            carrier = 1.0 - c
            s = 0
            if encode:
                if not fired[n]:
                    x = u[t, n]
                    m = abs(2.0 * x - 1.0) if bipolar else x
                    if m >= carrier:
                        s = -1 if (bipolar and x < 0.5) else 1
                spikes[t, n] = s
            else:
                s = spikes[t, n]
            if s != 0:
                fired[n] = True
                m_hat = 0.5 * (carrier + min(carrier + f, 1.0))
                value[n] = 0.5 + 0.5 * s * m_hat if bipolar else m_hat
            recon[t, n] = value[n]
