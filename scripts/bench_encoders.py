"""Throughput of the spike encoders' compiled kernels against plain Python loops.

For every encoder in :func:`spikegym.encoders.names` (plus a ``rate (poisson)``
row) this script measures, with ``time.perf_counter``:

* encode and decode throughput of ``encoder.encode`` / ``encoder.decode`` in
  millions of samples x features per second (population coding counts input
  samples x features, not bins), on two float32 workloads: a long stream
  ``(T=10000, batch=1, F=4)`` and a wide batch ``(T=100, batch=1024, F=4)``,
  both a smooth multi-sine signal, with ``enc = make(name, 4).fit(signal)``;
* the same rule written as a plain per-element pure-Python loop (defined in
  this file, one small function per rule, over Python floats and lists), timed
  on a shorter slice of the same workload and converted to throughput, and the
  speedup kernel / loop;
* the streaming call: median microseconds per ``encode`` (and ``decode``) of a
  ``(T=8, batch=1, F=4)`` chunk, passing the state of the previous call along,
  against the 20 us target.

Before timing, every reference loop is checked against the encoder on a short
signal: identical spikes and decoded values within 1e-5. The loops reproduce
the kernels' arithmetic exactly, including where the kernels round to float32
(a store into a float32 array, or a float32 operation such as the scaling in
``normalize``); they round by storing into an ``array.array("f")``.

Each kernel timing is warmed up first (numba compiles, or loads its cache, on
the first call) and reports the median over several repeats, each the mean of
enough calls to take a few tens of milliseconds. Run from the repository root::

    python scripts/bench_encoders.py              # full run
    python scripts/bench_encoders.py --quick      # smaller sizes (CI smoke test, < 60 s)
    python scripts/bench_encoders.py --csv out.csv   # default results/encoders.csv
"""

from __future__ import annotations

import argparse
import csv
import gc
import math
import statistics
import sys
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spikegym.encoders import MirroredEncoder, SpikeEncoder, make, names

Rows = list[list[float]]
SpikeRows = list[list[int]]

STREAM_TARGET_US = 20.0
STREAM_CHUNK = 8
N_FEATURES = 4
DECODE_TOLERANCE = 1e-5

# --------------------------------------------------------------------------- signal


def multi_sine(n_steps: int, batch: int, n_features: int = N_FEATURES, seed: int = 0) -> torch.Tensor:
    """A smooth float32 signal ``(n_steps, batch, n_features)``: three sines per feature.

    Periods of about 1000, 200 and 50 steps (a little shorter for each later
    feature) with amplitudes about 1, 0.5 and 0.25 and random phases per batch
    entry, so the signal moves at most about 1.5% of its range per step.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n_steps, dtype=np.float64)[:, None, None]
    feature_scale = 1.0 + 0.3 * np.arange(n_features)
    signal = np.zeros((n_steps, batch, n_features))
    for period, amplitude in ((1000.0, 1.0), (200.0, 0.5), (50.0, 0.25)):
        phase = rng.uniform(0.0, 2.0 * np.pi, size=(batch, n_features))
        gain = amplitude * rng.uniform(0.8, 1.2, size=(batch, n_features))
        signal += gain * np.sin(2.0 * np.pi * feature_scale * t / period + phase)
    return torch.tensor(signal, dtype=torch.float32)


# ------------------------------------------------------------- reference loops
#
# Each takes the encoder only to read its parameters (as Python floats), then
# runs the rule element by element in pure Python. Rows are (T, N) lists with
# N = batch * features, feature ``n % F`` in column ``n``, as in the kernels.


def _floats(tensor: torch.Tensor) -> list[float]:
    return tensor.detach().cpu().reshape(-1).tolist()


def _typecode(enc: SpikeEncoder) -> str:
    """``array`` typecode of the encoder's float dtype: storing into it rounds as the kernels do."""
    dtype = enc.low.dtype
    if dtype == torch.float32:
        return "f"
    if dtype == torch.float64:
        return "d"
    raise TypeError(f"reference loops support float32 and float64 encoders, got {dtype}")


def _spans(enc: SpikeEncoder) -> list[float]:
    """``high - low`` per feature, rounded to the encoder's dtype as the kernels compute it."""
    r = array(_typecode(enc), [0.0])
    spans = []
    for low, high in zip(_floats(enc.low), _floats(enc.high), strict=True):
        r[0] = high - low
        spans.append(r[0])
    return spans


def normalize_loop(enc: SpikeEncoder, rows: Rows) -> Rows:
    """``clip((x - low) / (high - low), 0, 1)`` in the encoder's dtype, like ``_kernels.normalize``."""
    low, span, n_features = _floats(enc.low), _spans(enc), enc.n_features
    r = array(_typecode(enc), [0.0])
    out = []
    for t, row in enumerate(rows):
        scaled = []
        for n, v in enumerate(row):
            if not math.isfinite(v):
                raise ValueError(f"signal must be finite, got {v} at step {t}, column {n}")
            j = n % n_features
            r[0] = v - low[j]
            r[0] = r[0] / span[j]
            scaled.append(min(max(r[0], 0.0), 1.0))
        out.append(scaled)
    return out


def unscale_loop(enc: SpikeEncoder, u: Rows) -> Rows:
    """``u * (high - low) + low`` in the encoder's dtype, like ``SpikeEncoder._unscaled``."""
    low, span, n_features = _floats(enc.low), _spans(enc), enc.n_features
    r = array(_typecode(enc), [0.0])
    out = []
    for row in u:
        values = []
        for n, v in enumerate(row):
            j = n % n_features
            r[0] = v * span[j]
            r[0] = r[0] + low[j]
            values.append(r[0])
        out.append(values)
    return out


_MASK64 = (1 << 64) - 1


def uniform_loop(key: int, step: int, col: int) -> float:
    """The kernels' counter-based uniform in [0, 1): splitmix64 of (key, step, column)."""
    z = (key + step * 0xD6E8FEB86659FD93 + col * 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    z ^= z >> 31
    return float(z >> 11) * (1.0 / 9007199254740992.0)


def _rate_state(enc: SpikeEncoder, n_cols: int, first_row: list[float]) -> tuple[Any, bool, list[int]]:
    """Accumulators (0.5 each), Poisson flag and per-stream keys of fresh rate-coded streams."""
    poisson = enc.mode == "poisson"
    first = torch.tensor([first_row], dtype=enc.low.dtype).reshape(-1, enc.n_features)
    keys = [key % (1 << 64) for key in enc.initial_state(first).key.reshape(-1).tolist()]
    return array(_typecode(enc), [0.5] * n_cols), poisson, keys


def rate_encode_loop(enc: SpikeEncoder, rows: Rows) -> SpikeRows:
    """Rate coding (``_kernels.rate_encode``): probability ``max_rate * x``, deterministic or Poisson."""
    u = normalize_loop(enc, rows)
    max_rate, n_features = _floats(enc.max_rate), enc.n_features
    inverted, exc_inh = enc.inverted, enc.exc_inh
    accumulator, poisson, keys = _rate_state(enc, len(rows[0]), rows[0])
    spikes = []
    for t, row in enumerate(u):
        out = []
        for n, x in enumerate(row):
            if inverted:
                x = 1.0 - x
            if exc_inh:
                x = 2.0 * x - 1.0
            j = n % n_features
            out.append(fire_loop(x * max_rate[j], accumulator, n, poisson, keys[n // n_features], t, j))
        spikes.append(out)
    return spikes


def fire_loop(q: float, accumulator: Any, col: int, poisson: bool, key: int, step: int, stream_col: int) -> int:
    """One step of rate coding (``_kernels._fire``) for the signed probability ``q``."""
    a = abs(q)
    if poisson:
        fire = uniform_loop(key, step, stream_col) < a
    else:
        acc = accumulator[col] + a
        fire = acc >= 1.0
        if fire:
            acc -= 1.0
        accumulator[col] = acc
    if not fire:
        return 0
    return 1 if q > 0 else -1


def population_encode_loop(enc: SpikeEncoder, rows: Rows) -> SpikeRows:
    """Population coding (``_kernels.population_encode``): Gaussian fields, each rate-coded."""
    u = normalize_loop(enc, rows)
    centres, sigma, max_rate = _floats(enc.centres), _floats(enc.sigma), _floats(enc.max_rate)
    n_features, n_bins = enc.n_features, enc.n_bins
    accumulator, poisson, keys = _rate_state(enc, len(rows[0]) * n_bins, rows[0])
    r = array(_typecode(enc), [0.0])
    spikes = []
    for t, row in enumerate(u):
        out = []
        for n, x in enumerate(row):
            j = n % n_features
            for b in range(n_bins):
                r[0] = x - centres[b]
                r[0] = r[0] / sigma[j]
                d = r[0]
                q = max_rate[j] * math.exp(-0.5 * d * d)
                col = n * n_bins + b
                out.append(fire_loop(q, accumulator, col, poisson, keys[n // n_features], t, j * n_bins + b))
        spikes.append(out)
    return spikes


def window_mean_loop(enc: SpikeEncoder, spikes: SpikeRows) -> Rows:
    """Causal moving average over each feature's last ``window[j]`` steps (``_kernels.window_mean``)."""
    windows, n_cols = [int(w) for w in enc.window.tolist()], len(spikes[0])
    channels = math.prod(enc.spike_shape[1:])
    r = array(_typecode(enc), [0.0])
    rates = []
    for t in range(len(spikes)):
        out = []
        for n in range(n_cols):
            window = windows[(n // channels) % enc.n_features]
            seen = spikes[max(0, t + 1 - window) : t + 1]
            r[0] = sum(row[n] for row in seen) / len(seen)
            out.append(r[0])
        rates.append(out)
    return rates


def rate_decode_loop(enc: SpikeEncoder, spikes: SpikeRows, first_row: list[float]) -> Rows:
    """Rate decoder: the window mean divided by ``max_rate`` (``RateEncoder._from_rates``)."""
    rates = window_mean_loop(enc, spikes)
    max_rate, n_features = _floats(enc.max_rate), enc.n_features
    r = array(_typecode(enc), [0.0])
    u = []
    for row in rates:
        out = []
        for n, rate in enumerate(row):
            r[0] = rate / max_rate[n % n_features]
            v = r[0]
            if enc.exc_inh:
                v = 0.5 * (v + 1.0)
            if enc.inverted:
                v = 1.0 - v
            out.append(min(max(v, 0.0), 1.0))
        u.append(out)
    return unscale_loop(enc, u)


def population_decode_loop(enc: SpikeEncoder, spikes: SpikeRows, first_row: list[float]) -> Rows:
    """Population decoder: log-ratio inversion of adjacent fields (``PopulationEncoder._from_rates``)."""
    rates = window_mean_loop(enc, spikes)
    centres, sigma = _floats(enc.centres), _floats(enc.sigma)
    n_features, n_bins = enc.n_features, enc.n_bins
    tiny = float(np.finfo(np.float32 if _typecode(enc) == "f" else np.float64).tiny)
    spacing = centres[1] - centres[0]
    u = []
    for row in rates:
        out = []
        for n in range(len(row) // n_bins):
            a = row[n * n_bins : (n + 1) * n_bins]
            variance = sigma[n % n_features] ** 2
            weighted = weight_sum = centre_mass = total = 0.0
            for b in range(n_bins - 1):
                log_ratio = math.log(max(a[b + 1], tiny)) - math.log(max(a[b], tiny))
                estimate = 0.5 * (centres[b + 1] + centres[b]) + variance * log_ratio / spacing
                weight = a[b + 1] * a[b]
                weighted += weight * estimate
                weight_sum += weight
            for b in range(n_bins):
                centre_mass += a[b] * centres[b]
                total += a[b]
            if weight_sum > 0:
                v = weighted / weight_sum
            elif total > 0:
                v = centre_mass / total
            else:
                v = 0.5
            out.append(min(max(v, 0.0), 1.0))
        u.append(out)
    return unscale_loop(enc, u)


def leaky_delta_loop(
    enc: SpikeEncoder, u: Rows | None, spikes: SpikeRows | None, value: Any, encode: bool
) -> tuple[SpikeRows, Rows]:
    """Step-forward (``beta = 1``) and LIF coding (``_kernels.leaky_delta``); ``value`` is updated."""
    beta, threshold, n_features = _floats(enc.beta), _floats(enc.threshold), enc.n_features
    source = u if encode else spikes
    assert source is not None
    spikes_out, recon = [], []
    for t in range(len(source)):
        row_spikes, row_recon = [], []
        for n in range(len(source[t])):
            j = n % n_features
            theta = threshold[j]
            b = 0.5 + beta[j] * (value[n] - 0.5)
            if encode:
                v = u[t][n] - b
                s = 1 if v > theta else (-1 if v < -theta else 0)
            else:
                s = spikes[t][n]
            b += s * theta
            value[n] = b
            row_spikes.append(s)
            row_recon.append(value[n])
        spikes_out.append(row_spikes)
        recon.append(row_recon)
    return spikes_out, recon


def bsa_loop(
    enc: SpikeEncoder, u: Rows | None, spikes: SpikeRows | None, pending: list[Any], encode: bool
) -> tuple[SpikeRows, Rows]:
    """Ben's Spiker Algorithm with the predicted-future term (``_kernels.bsa``); ``pending`` is updated."""
    n_features, n_taps = enc.n_features, enc.order + 1
    taps = [_floats(row) for row in enc.taps]
    threshold = _floats(enc.threshold)
    r = array(_typecode(enc), [0.0])
    source = u if encode else spikes
    assert source is not None
    spikes_out, recon = [], []
    for t in range(len(source)):
        row_spikes, row_recon = [], []
        for n in range(len(source[t])):
            j = n % n_features
            tj, pn = taps[j], pending[n]
            if encode:
                x = u[t][n]
                err_silent = err_spike = later = 0.0
                for k in range(n_taps):
                    r[0] = x - pn[k]
                    d = r[0] - x * later
                    err_silent += abs(d)
                    err_spike += abs(d - tj[k])
                    later += tj[k]
                s = 1 if err_spike <= err_silent - threshold[j] else 0
            else:
                s = spikes[t][n]
            if s:
                for k in range(n_taps):
                    pn[k] = pn[k] + tj[k]
            row_spikes.append(s)
            row_recon.append(pn[0])
            for k in range(n_taps - 1):
                pn[k] = pn[k + 1]
            pn[n_taps - 1] = 0.0
        spikes_out.append(row_spikes)
        recon.append(row_recon)
    return spikes_out, recon


def bsa_start(enc: SpikeEncoder, first: list[float]) -> list[Any]:
    """Pending filter tail of a stream that held ``first`` forever before (``BSAEncoder._start``)."""
    n_features, code = enc.n_features, _typecode(enc)
    r = array(code, [0.0])
    tails = []
    for row in enc.taps:
        cumulative, tail = 0.0, []
        for tap in _floats(row):
            r[0] = cumulative + tap
            cumulative = r[0]
            r[0] = 1.0 - cumulative
            tail.append(r[0])
        tails.append(tail)
    return [array(code, [level * w for w in tails[n % n_features]]) for n, level in enumerate(first)]


def pwm_loop(
    enc: SpikeEncoder, u: Rows | None, spikes: SpikeRows | None, state: Any, encode: bool
) -> tuple[SpikeRows, Rows]:
    """Pulse-width modulation against a falling sawtooth carrier (``_kernels.pwm``); ``state`` is updated."""
    phase, fired, value = state
    frequency, bipolar, n_features = _floats(enc.frequency), enc.bipolar, enc.n_features
    r = array(_typecode(enc), [0.0])
    source = u if encode else spikes
    assert source is not None
    spikes_out, recon = [], []
    for t in range(len(source)):
        row_spikes, row_recon = [], []
        for n in range(len(source[t])):
            f = frequency[n % n_features]
            r[0] = phase[n] + f
            c = r[0]
            if c >= 1.0:
                if not fired[n]:
                    value[n] = 0.5 if bipolar else 0.5 * (1.0 - phase[n])
                c -= 1.0
                fired[n] = False
            phase[n] = c
            carrier = 1.0 - c
            s = 0
            if encode:
                if not fired[n]:
                    x = u[t][n]
                    m = abs(2.0 * x - 1.0) if bipolar else x
                    if m >= carrier:
                        s = -1 if (bipolar and x < 0.5) else 1
            else:
                s = spikes[t][n]
            if s != 0:
                fired[n] = True
                m_hat = 0.5 * (carrier + min(carrier + f, 1.0))
                value[n] = 0.5 + 0.5 * s * m_hat if bipolar else m_hat
            row_spikes.append(s)
            row_recon.append(value[n])
        spikes_out.append(row_spikes)
        recon.append(row_recon)
    return spikes_out, recon


def pwm_start(enc: SpikeEncoder, first: list[float]) -> Any:
    """Carrier phase one step before the first, nothing fired, value at the first sample (``PWMEncoder._start``)."""
    code, n_features = _typecode(enc), enc.n_features
    phase0, frequency = _floats(enc.phase), _floats(enc.frequency)
    r = array(code, [0.0])
    before = []
    for j in range(n_features):
        r[0] = phase0[j] - frequency[j]
        before.append(r[0])
    return array(code, [before[n % n_features] for n in range(len(first))]), [False] * len(first), array(code, first)


Start = Callable[[SpikeEncoder, list[float]], Any]
Rule = Callable[..., tuple[SpikeRows, Rows]]


def _mirrored(start: Start, rule: Rule) -> tuple[Callable[..., SpikeRows], Callable[..., Rows]]:
    """Encode and decode loops of a mirrored encoder: the state starts at the scaled first sample."""

    def encode(enc: SpikeEncoder, rows: Rows) -> SpikeRows:
        u = normalize_loop(enc, rows)
        spikes, _ = rule(enc, u, None, start(enc, u[0]), True)
        return spikes

    def decode(enc: SpikeEncoder, spikes: SpikeRows, first_row: list[float]) -> Rows:
        first = normalize_loop(enc, [first_row])[0]
        _, recon = rule(enc, None, spikes, start(enc, first), False)
        return unscale_loop(enc, recon)

    return encode, decode


def _value_start(enc: SpikeEncoder, first: list[float]) -> Any:
    """Reconstruction starting at the first sample (``LIFEncoder._start`` with ``initial="first"``)."""
    if enc.initial is not None:
        raise NotImplementedError("the reference loop covers initial='first' only")
    return array(_typecode(enc), first)


REFERENCES: dict[str, tuple[Callable[..., SpikeRows], Callable[..., Rows]]] = {
    "bsa": _mirrored(bsa_start, bsa_loop),
    "lif": _mirrored(_value_start, leaky_delta_loop),
    "population": (population_encode_loop, population_decode_loop),
    "pwm": _mirrored(pwm_start, pwm_loop),
    "rate": (rate_encode_loop, rate_decode_loop),
    "step_forward": _mirrored(_value_start, leaky_delta_loop),
}


# ------------------------------------------------------------------ benchmark


@dataclass
class Case:
    """One table row's encoder: its label, registry name and build parameters."""

    label: str
    name: str
    params: dict[str, Any]

    def build(self, signal: torch.Tensor) -> SpikeEncoder:
        return make(self.name, N_FEATURES, **self.params).fit(signal)


def cases() -> list[Case]:
    out = []
    for name in names():
        out.append(Case(name, name, {}))
        if name == "rate":
            out.append(Case("rate (poisson)", "rate", {"mode": "poisson", "seed": 0}))
    return out


def decode_state(enc: SpikeEncoder, signal: torch.Tensor) -> Any:
    """The decoder state that mirrors ``encode(signal)`` from ``None``: matched for mirrored encoders."""
    return enc.initial_decode_state(signal[0]) if isinstance(enc, MirroredEncoder) else None


def flat_rows(signal: torch.Tensor) -> list[list[Any]]:
    return signal.reshape(signal.shape[0], -1).tolist()


def check_references(case: Case, n_steps: int = 300, batch: int = 3) -> str:
    """Run the reference loop and the encoder on a short signal; raise unless they agree."""
    signal = multi_sine(n_steps, batch, seed=1)
    # Fit to the middle of the signal so that its ends are clipped, as normalize does.
    enc = case.build(signal[n_steps // 4 : 3 * n_steps // 4])
    spikes, _ = enc.encode(signal)
    recon, _ = enc.decode(spikes, decode_state(enc, signal))
    encode_loop, decode_loop = REFERENCES[case.name]
    rows = flat_rows(signal)
    loop_spikes = encode_loop(enc, rows)
    kernel_spikes = flat_rows(spikes)
    if loop_spikes != kernel_spikes:
        differ = np.argwhere(np.array(loop_spikes) != np.array(kernel_spikes))
        t, n = (int(i) for i in differ[0])
        raise AssertionError(
            f"{case.label}: reference loop spikes differ from the encoder's at {len(differ)} places, first at "
            f"step {t}, column {n}: loop {loop_spikes[t][n]}, encoder {kernel_spikes[t][n]}"
        )
    loop_recon = np.array(decode_loop(enc, loop_spikes, rows[0]))
    error = float(np.abs(loop_recon - recon.reshape(n_steps, -1).double().numpy()).max())
    if not error <= DECODE_TOLERANCE:
        raise AssertionError(f"{case.label}: reference loop decode differs from the encoder's by {error:.3g}")
    n_spikes = sum(map(abs, (s for row in loop_spikes for s in row)))
    return (
        f"check passed: {case.label:<15} loop == encoder on a ({n_steps}, {batch}, {N_FEATURES}) signal: "
        f"identical spikes ({n_spikes} nonzero), max |decode difference| {error:.1e}"
    )


def median_seconds(fn: Callable[[], Any], repeats: int, min_seconds: float, warmup: bool = True) -> float:
    """Median over ``repeats`` of the mean seconds per call, each repeat at least ``min_seconds`` long."""
    if warmup:
        fn()
    start = time.perf_counter()
    fn()
    single = time.perf_counter() - start
    number = max(1, math.ceil(min_seconds / max(single, 1e-9))) if min_seconds > 0 else 1
    times = [single] if not warmup else []
    enabled = gc.isenabled()
    gc.disable()
    try:
        while len(times) < repeats:
            start = time.perf_counter()
            for _ in range(number):
                fn()
            times.append((time.perf_counter() - start) / number)
    finally:
        if enabled:
            gc.enable()
    return statistics.median(times)


@dataclass
class Sizes:
    long_steps: int
    wide_steps: int
    wide_batch: int
    loop_long_steps: int
    loop_wide_batch: int
    repeats: int
    loop_repeats: int
    min_seconds: float
    stream_calls: int


FULL = Sizes(10000, 100, 1024, 1000, 32, 7, 3, 0.05, 5000)
QUICK = Sizes(2000, 100, 128, 200, 4, 3, 1, 0.01, 2000)


def throughput_rows(sizes: Sizes) -> list[dict[str, Any]]:
    workloads = [
        (f"T={sizes.long_steps} B=1", multi_sine(sizes.long_steps, 1, seed=2), (sizes.loop_long_steps, 1)),
        (
            f"T={sizes.wide_steps} B={sizes.wide_batch}",
            multi_sine(sizes.wide_steps, sizes.wide_batch, seed=3),
            (sizes.wide_steps, sizes.loop_wide_batch),
        ),
    ]
    rows = []
    for case in cases():
        encode_loop, decode_loop = REFERENCES[case.name]
        for label, signal, (loop_steps, loop_batch) in workloads:
            enc = case.build(signal)
            elements = signal[..., 0].numel() * N_FEATURES
            state = decode_state(enc, signal)
            spikes, _ = enc.encode(signal)
            t_encode = median_seconds(lambda e=enc, s=signal: e.encode(s), sizes.repeats, sizes.min_seconds)
            t_decode = median_seconds(lambda e=enc, s=spikes, d=state: e.decode(s, d), sizes.repeats, sizes.min_seconds)
            part = signal[:loop_steps, :loop_batch]
            part_rows = flat_rows(part)
            loop_elements = len(part_rows) * len(part_rows[0])
            part_spikes = encode_loop(enc, part_rows)
            t_loop_encode = median_seconds(
                lambda f=encode_loop, e=enc, r=part_rows: f(e, r), sizes.loop_repeats, 0.0, warmup=False
            )
            t_loop_decode = median_seconds(
                lambda f=decode_loop, e=enc, s=part_spikes, r=part_rows: f(e, s, r[0]),
                sizes.loop_repeats,
                0.0,
                warmup=False,
            )
            encode_rate, decode_rate = elements / t_encode / 1e6, elements / t_decode / 1e6
            loop_encode_rate = loop_elements / t_loop_encode / 1e6
            loop_decode_rate = loop_elements / t_loop_decode / 1e6
            rows.append(
                {
                    "table": "throughput",
                    "encoder": case.label,
                    "workload": f"{label} F={N_FEATURES}",
                    "encode_M_per_s": encode_rate,
                    "decode_M_per_s": decode_rate,
                    "loop_encode_M_per_s": loop_encode_rate,
                    "loop_decode_M_per_s": loop_decode_rate,
                    "encode_speedup": encode_rate / loop_encode_rate,
                    "decode_speedup": decode_rate / loop_decode_rate,
                    "loop_shape": f"{loop_steps}x{loop_batch}x{N_FEATURES}",
                }
            )
            print(f"  measured {case.label:<15} {label}", file=sys.stderr, flush=True)
    return rows


def streaming_rows(sizes: Sizes) -> list[dict[str, Any]]:
    n_calls = sizes.stream_calls
    warmup = 50
    signal = multi_sine(STREAM_CHUNK * (n_calls + warmup), 1, seed=4)
    rows = []
    for case in cases():
        enc = case.build(signal)
        chunks = list(torch.split(signal, STREAM_CHUNK))
        mirrored = isinstance(enc, MirroredEncoder)
        state = enc.initial_state(signal[0]) if mirrored else None
        dstate = enc.initial_decode_state(signal[0]) if mirrored else None
        encode_times, decode_times, all_spikes = [], [], []
        enabled = gc.isenabled()
        gc.disable()
        try:
            for i, chunk in enumerate(chunks):
                start = time.perf_counter()
                spikes, state = enc.encode(chunk, state)
                elapsed = time.perf_counter() - start
                all_spikes.append(spikes)
                if i >= warmup:
                    encode_times.append(elapsed)
            for i, spikes in enumerate(all_spikes):
                start = time.perf_counter()
                _, dstate = enc.decode(spikes, dstate)
                elapsed = time.perf_counter() - start
                if i >= warmup:
                    decode_times.append(elapsed)
        finally:
            if enabled:
                gc.enable()
        whole, _ = enc.encode(signal, enc.initial_state(signal[0]) if mirrored else None)
        encode_us = statistics.median(encode_times) * 1e6
        rows.append(
            {
                "table": "streaming",
                "encoder": case.label,
                "workload": f"chunk T={STREAM_CHUNK} B=1 F={N_FEATURES}",
                "calls": len(encode_times),
                "encode_us_per_call": encode_us,
                "encode_p90_us": float(np.percentile(encode_times, 90)) * 1e6,
                "decode_us_per_call": statistics.median(decode_times) * 1e6,
                "target_us": STREAM_TARGET_US,
                "meets_target": encode_us <= STREAM_TARGET_US,
                "chunked_equals_whole": bool(torch.equal(torch.cat(all_spikes), whole)),
            }
        )
    return rows


def spikegen_pairs(signal: torch.Tensor) -> list[tuple[str, str, Callable[[], Any], Callable[[], Any]]]:
    """(spikegym encoder, snntorch function, encode with spikegym, encode with snntorch) on ``signal``."""
    from snntorch import spikegen

    rate = make("rate", N_FEATURES, mode="poisson", seed=0).fit(signal)
    scaled = ((signal - rate.low) / (rate.high - rate.low)).clamp(0, 1).contiguous()
    sf = make("sf", N_FEATURES, threshold=0.05).fit(signal)
    pwm = make("pwm", N_FEATURES, frequency=1 / 8, bipolar=False).fit(signal)
    held = signal.repeat_interleave(8, dim=0)
    per_sample = scaled.reshape(-1, N_FEATURES)
    return [
        (
            "rate (poisson)",
            "spikegen.rate",
            lambda: rate.encode(signal),
            lambda: spikegen.rate(scaled, time_var_input=True),
        ),
        ("step_forward", "spikegen.delta", lambda: sf.encode(signal), lambda: spikegen.delta(scaled, 0.05)),
        (
            "pwm (T=8 per sample)",
            "spikegen.latency (8 steps)",
            lambda: pwm.encode(held),
            lambda: spikegen.latency(per_sample, num_steps=8, normalize=True, linear=True),
        ),
    ]


def snntorch_rows(sizes: Sizes) -> list[dict[str, Any]]:
    """spikegym encoders next to the closest ``snntorch.spikegen`` function, same signals, same run.

    rate (Poisson) vs ``spikegen.rate``; step-forward vs ``spikegen.delta``
    (same threshold, on the scaled signal); PWM (one spike per 8-step period,
    each sample held 8 steps) vs ``spikegen.latency`` (one spike per sample in
    8 steps). snntorch gets the signal already scaled into [0, 1] (outside its
    timing); spikegym's timing includes its scaling and checks.
    """
    rows = []
    for label, signal in (
        (f"T={sizes.long_steps} B=1", multi_sine(sizes.long_steps, 1, seed=2)),
        (f"T={sizes.wide_steps} B={sizes.wide_batch}", multi_sine(sizes.wide_steps, sizes.wide_batch, seed=3)),
    ):
        elements = signal[..., 0].numel() * N_FEATURES
        pairs = spikegen_pairs(signal)
        for ours, theirs, encode_ours, encode_theirs in pairs:
            t_ours = median_seconds(encode_ours, sizes.repeats, sizes.min_seconds)
            t_theirs = median_seconds(encode_theirs, sizes.repeats, sizes.min_seconds)
            spikes_ours = encode_ours()[0].abs().sum().item()
            spikes_theirs = encode_theirs().abs().sum().item()
            rows.append(
                {
                    "table": "snntorch",
                    "encoder": ours,
                    "workload": f"{label} F={N_FEATURES}",
                    "encode_M_per_s": elements / t_ours / 1e6,
                    "snntorch": theirs,
                    "snntorch_M_per_s": elements / t_theirs / 1e6,
                    "speedup_vs_snntorch": t_theirs / t_ours,
                    "spikes_per_element": spikes_ours / elements,
                    "snntorch_spikes_per_element": spikes_theirs / elements,
                }
            )
    return rows


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    aligns = ["<" if i < 2 else ">" for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return " | ".join(f"{c:{a}{w}}" for c, a, w in zip(cells, aligns, widths, strict=True))

    return "\n".join([line(headers), "-+-".join("-" * w for w in widths), *(line(r) for r in rows)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats (CI smoke test)")
    parser.add_argument("--csv", metavar="PATH", default="results/encoders.csv", help="CSV of every row")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    began = time.perf_counter()

    print(
        f"spikegym encoder benchmark ({'quick' if args.quick else 'full'}), torch {torch.__version__}, "
        f"numpy {np.__version__}, python {sys.version.split()[0]}"
    )
    print("\nReference loops (pure Python, per element) against the encoders:")
    for case in cases():
        print(check_references(case))

    print("\nMeasuring throughput (progress on stderr) ...", flush=True)
    throughput = throughput_rows(sizes)
    print(
        "\nThroughput in millions of samples x features per second (population: input samples x features, "
        "not bins);\nmedian of repeats after a warm-up call. The Python loops are timed on a slice of each "
        f"workload\n(T={sizes.long_steps} B=1: the first {sizes.loop_long_steps} steps; "
        f"T={sizes.wide_steps} B={sizes.wide_batch}: the first {sizes.loop_wide_batch} batch entries), "
        "converted to the same unit;\nthey get the signal as Python lists made before timing, while the encoder "
        "timings include the whole\nencode()/decode() call (checks, torch <-> numpy, state copies). "
        "Speedup = encoder / loop.\n"
    )
    headers = [
        "encoder",
        "workload",
        "encode M/s",
        "decode M/s",
        "loop encode M/s",
        "loop decode M/s",
        "encode speedup",
        "decode speedup",
    ]
    print(
        format_table(
            headers,
            [
                [
                    r["encoder"],
                    r["workload"],
                    f"{r['encode_M_per_s']:.2f}",
                    f"{r['decode_M_per_s']:.2f}",
                    f"{r['loop_encode_M_per_s']:.4f}",
                    f"{r['loop_decode_M_per_s']:.4f}",
                    f"{r['encode_speedup']:.0f}x",
                    f"{r['decode_speedup']:.0f}x",
                ]
                for r in throughput
            ],
        )
    )

    streaming = streaming_rows(sizes)
    print(
        f"\nStreaming: encode/decode of one (T={STREAM_CHUNK}, B=1, F={N_FEATURES}) chunk per call, state "
        f"passed along,\nmedian over {sizes.stream_calls} calls after 50 warm-up calls; target "
        f"{STREAM_TARGET_US:.0f} us per encode call.\n"
    )
    headers = ["encoder", "workload", "encode us", "encode p90 us", "decode us", "target", "chunked == whole"]
    print(
        format_table(
            headers,
            [
                [
                    r["encoder"],
                    r["workload"],
                    f"{r['encode_us_per_call']:.1f}",
                    f"{r['encode_p90_us']:.1f}",
                    f"{r['decode_us_per_call']:.1f}",
                    ("OK" if r["meets_target"] else "over") + f" (<= {r['target_us']:.0f})",
                    "yes" if r["chunked_equals_whole"] else "NO",
                ]
                for r in streaming
            ],
        )
    )

    comparison = snntorch_rows(sizes)
    print(
        "\nNext to snntorch.spikegen, encode throughput in M samples x features per second on the same signals "
        "(snntorch\ngets them pre-scaled into [0, 1]); spikes per input sample x feature:\n"
    )
    headers = ["encoder", "workload", "spikegym M/s", "snntorch", "snntorch M/s", "ratio", "spikes", "snntorch spikes"]
    print(
        format_table(
            headers,
            [
                [
                    r["encoder"],
                    r["workload"],
                    f"{r['encode_M_per_s']:.2f}",
                    r["snntorch"],
                    f"{r['snntorch_M_per_s']:.2f}",
                    f"{r['speedup_vs_snntorch']:.2f}x",
                    f"{r['spikes_per_element']:.3f}",
                    f"{r['snntorch_spikes_per_element']:.3f}",
                ]
                for r in comparison
            ],
        )
    )

    if args.csv:
        all_rows = throughput + streaming + comparison
        fields = list(dict.fromkeys(key for row in all_rows for key in row))
        Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
        with open(args.csv, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(all_rows)
        print(f"\nwrote {len(all_rows)} rows to {args.csv}")
    print(f"\ntotal time {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
