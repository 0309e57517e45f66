"""How far the encoders are from the limit: each next to a minimal compiled loop of its rule and to snntorch.

Issue 14's batched workload: ``encoder.encode(x)`` of ``x`` float32 in [0, 1],
``(T=100, batch=1024, F=4)`` (``torch.rand``, seeded). In one run, with
``time.perf_counter`` (the lowest of several repeats of the mean over enough
calls to take a few tens of milliseconds, after a warm-up call that compiles
or loads numba's cache):

* every encoder's throughput in millions of samples x features per second
  (population: input samples, not bins), with numba at 1 and at 2 threads
  (the ``*_parallel`` kernels, ``spikegym.encoders.base.PARALLEL_MIN_ELEMENTS``),
  next to a **minimal numba loop of the same rule** (defined here: time
  outside, batch x features inside, per-column parameters prepared before
  timing, no scaling, no checks, int8 out, fresh state per call), as a ratio;
  the minimal loops' spikes are compared with the encoder's (population's
  loop uses numpy's exp, the encoder its own exp rule, so a few spikes may
  differ there);
* the targets of issue 14: at least 5x the issue's "before" throughput
  (measured on the same 2-core machine before the rewrite: step_forward 50,
  lif 107, pwm 110, rate 66, bsa 21, population 11 M/s), step-forward and LIF
  within 2x of their minimal loop, and at least as fast as snntorch's
  function for the same job (rate vs ``spikegen.rate``, step-forward vs
  ``spikegen.delta``, PWM with 8 steps per sample vs ``spikegen.latency``
  with 8 steps, same signal; snntorch's timing excludes nothing of its call);
* the streaming call of the wrapper's hot path: median microseconds per
  ``encode`` of a ``(T=8, batch=1, F=4)`` chunk, passing the state along.

Timings on a shared machine are noisy; the ratios, measured in the same run,
are what to read. Run from the repository root::

    python scripts/bench_encoders.py              # full run
    python scripts/bench_encoders.py --quick      # smaller sizes (CI smoke test)
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np
import torch
from numba import njit

from spikegym.encoders import MirroredEncoder, SpikeEncoder, base, make, names

N_FEATURES = 4
STREAM_CHUNK = 8
STREAM_TARGET_US = 20.0
BEFORE = {"step_forward": 50.0, "lif": 107.0, "pwm": 110.0, "rate": 66.0, "bsa": 21.0, "population": 11.0}
"""Issue 14's "before" throughput on the batched workload, M samples x features per second."""
SPEEDUP_TARGET = 5.0
MINIMAL_TARGET = {"step_forward": 2.0, "lif": 2.0}
"""Most times slower than the minimal loop that the issue allows."""

# ---------------------------------------------------------------- minimal loops
#
# Each is the rule and nothing else, over a signal already in [0, 1] and
# parameters spread over the columns before timing. They compute in the
# signal's dtype, as the encoders do, so their spikes can be compared.

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_STRIDE = np.uint64(0xD6E8FEB86659FD93)


@njit(cache=True)
def minimal_step_forward(u, base_value, threshold, spikes):
    for t in range(u.shape[0]):
        for n in range(u.shape[1]):
            b = base_value[n]
            d = u[t, n] - b
            theta = threshold[n]
            up, down = d > theta, d < -theta
            base_value[n] = b + theta if up else (b - theta if down else b)
            spikes[t, n] = 1 if up else (-1 if down else 0)


@njit(cache=True)
def minimal_lif(u, value, leak, threshold, spikes):
    half = u.dtype.type(0.5)
    for t in range(u.shape[0]):
        for n in range(u.shape[1]):
            r = value[n]
            b = r - leak[n] * (r - half)
            d = u[t, n] - b
            theta = threshold[n]
            up, down = d > theta, d < -theta
            value[n] = b + theta if up else (b - theta if down else b)
            spikes[t, n] = 1 if up else (-1 if down else 0)


@njit(cache=True)
def minimal_pwm(u, phase, fired, frequency, bipolar, spikes):
    half, one, two = u.dtype.type(0.5), u.dtype.type(1.0), u.dtype.type(2.0)
    for t in range(u.shape[0]):
        for n in range(u.shape[1]):
            c = phase[n] + frequency[n]
            wrapped = c >= one
            c = c - one if wrapped else c
            done = fired[n] and not wrapped
            x = u[t, n]
            m = abs(two * x - one) if bipolar else x
            fire = (not done) and m >= one - c
            phase[n] = c
            fired[n] = done or fire
            spikes[t, n] = (-1 if bipolar and x < half else 1) if fire else 0


@njit(cache=True)
def minimal_rate(u, accumulator, max_rate, spikes):
    one = u.dtype.type(1.0)
    for t in range(u.shape[0]):
        for n in range(u.shape[1]):
            acc = accumulator[n] + u[t, n] * max_rate[n]
            fire = acc >= one
            accumulator[n] = acc - one if fire else acc
            spikes[t, n] = 1 if fire else 0


@njit(cache=True)
def minimal_rate_poisson(u, counters, max_rate, spikes):
    for t in range(u.shape[0]):
        advance = np.uint64(t) * _STRIDE
        for n in range(u.shape[1]):
            z = counters[n] + advance
            z = (z ^ (z >> np.uint64(30))) * _MIX1
            z = (z ^ (z >> np.uint64(27))) * _MIX2
            z = z ^ (z >> np.uint64(31))
            spikes[t, n] = 1 if float(z >> np.uint64(11)) * (1.0 / 9007199254740992.0) < u[t, n] * max_rate[n] else 0


@njit(cache=True)
def minimal_population(u, accumulator, centres, inverse_sigma, max_rate, spikes):
    one, half = u.dtype.type(1.0), u.dtype.type(0.5)
    n_bins = centres.shape[0]
    for t in range(u.shape[0]):
        for n in range(u.shape[1]):
            x = u[t, n]
            for b in range(n_bins):
                m = n * n_bins + b
                d = (x - centres[b]) * inverse_sigma[n]
                acc = accumulator[m] + max_rate[n] * np.exp(-half * d * d)
                fire = acc >= one
                accumulator[m] = acc - one if fire else acc
                spikes[t, m] = 1 if fire else 0


@njit(cache=True)
def minimal_bsa(u, pending, taps, later, threshold, spikes):
    n_taps, n_cols = taps.shape
    err_silent = np.empty(n_cols, u.dtype)
    err_spike = np.empty(n_cols, u.dtype)
    head = 0
    for t in range(u.shape[0]):
        err_silent[:] = 0
        err_spike[:] = 0
        for k in range(n_taps):
            row = (head + k) % n_taps
            for n in range(n_cols):
                d = (u[t, n] - pending[row, n]) - u[t, n] * later[k, n]
                err_silent[n] += abs(d)
                err_spike[n] += abs(d - taps[k, n])
        for n in range(n_cols):
            fire = err_spike[n] <= err_silent[n] - threshold[n]
            spikes[t, n] = 1 if fire else 0
            if fire:
                for k in range(n_taps):
                    pending[(head + k) % n_taps, n] += taps[k, n]
        pending[head] = 0
        head = (head + 1) % n_taps


def per_column(values: torch.Tensor, n_cols: int) -> np.ndarray:
    return np.tile(values.numpy(), n_cols // values.numel())


def minimal_call(name: str, enc: SpikeEncoder, u: np.ndarray) -> Callable[[], np.ndarray]:
    """A call of the minimal loop of ``enc``'s rule on the scaled ``(T, N)`` signal ``u``, from a fresh state."""
    n_time, n_cols = u.shape
    first = u[0]
    if name in ("step_forward", "lif"):
        threshold = per_column(enc.threshold, n_cols)
        if name == "step_forward":
            return _with_spikes(u.shape, lambda s: minimal_step_forward(u, first.copy(), threshold, s))
        leak = per_column(1 - enc.beta, n_cols)
        return _with_spikes(u.shape, lambda s: minimal_lif(u, first.copy(), leak, threshold, s))
    if name == "pwm":
        frequency = per_column(enc.frequency, n_cols)
        phase = per_column(enc.phase - enc.frequency, n_cols)
        return _with_spikes(
            u.shape, lambda s: minimal_pwm(u, phase.copy(), np.zeros(n_cols, bool), frequency, enc.bipolar, s)
        )
    if name == "rate":
        max_rate = per_column(enc.max_rate, n_cols)
        if enc.mode == "poisson":
            key = enc.initial_state(torch.from_numpy(first.reshape(-1, N_FEATURES))).key.numpy().view(np.uint64)
            counters = np.repeat(key, N_FEATURES) + np.tile(np.arange(N_FEATURES, dtype=np.uint64) * _GOLDEN, key.size)
            return _with_spikes(u.shape, lambda s: minimal_rate_poisson(u, counters, max_rate, s))
        return _with_spikes(u.shape, lambda s: minimal_rate(u, np.full(n_cols, 0.5, u.dtype), max_rate, s))
    if name == "population":
        centres, max_rate = enc.centres.numpy(), per_column(enc.max_rate, n_cols)
        inverse_sigma = per_column(1 / enc.sigma, n_cols)
        shape = (n_time, n_cols * enc.n_bins)
        fresh = np.full(n_cols * enc.n_bins, 0.5, u.dtype)
        return _with_spikes(shape, lambda s: minimal_population(u, fresh.copy(), centres, inverse_sigma, max_rate, s))
    if name == "bsa":
        taps = np.tile(enc.taps.numpy().T, (1, n_cols // N_FEATURES))
        later = np.cumsum(np.vstack([np.zeros((1, n_cols), u.dtype), taps[:-1]]), axis=0, dtype=u.dtype)
        threshold = per_column(enc.threshold, n_cols)
        start = enc.initial_state(torch.from_numpy(first.reshape(-1, N_FEATURES))).pending.numpy()
        ring = np.ascontiguousarray(start.reshape(n_cols, -1).T)
        return _with_spikes(u.shape, lambda s: minimal_bsa(u, ring.copy(), taps, later, threshold, s))
    raise ValueError(f"no minimal loop for {name}")


def _with_spikes(shape: tuple[int, int], run: Callable[[np.ndarray], None]) -> Callable[[], np.ndarray]:
    def call() -> np.ndarray:
        spikes = np.empty(shape, np.int8)
        run(spikes)
        return spikes

    return call


# -------------------------------------------------------------------- timing


def seconds_in_turns(*fns: Callable[[], Any], repeats: int, min_seconds: float) -> np.ndarray:
    """``(repeats, len(fns))`` mean seconds per call of each of ``fns``, each repeat at least ``min_seconds``
    long; within a repeat the functions take turns, so a burst of other load (this machine runs in slow and fast
    phases of a few seconds) hits them alike and the ratios within a repeat hold."""
    numbers = []
    for fn in fns:
        fn()
        start = time.perf_counter()
        fn()
        numbers.append(max(1, math.ceil(min_seconds / max(time.perf_counter() - start, 1e-9))))
    times = np.empty((repeats, len(fns)))
    enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(repeats):
            for i, (fn, number) in enumerate(zip(fns, numbers, strict=True)):
                start = time.perf_counter()
                for _ in range(number):
                    fn()
                times[r, i] = (time.perf_counter() - start) / number
    finally:
        if enabled:
            gc.enable()
    return times


def best_seconds(*fns: Callable[[], Any], repeats: int, min_seconds: float) -> list[float]:
    """For each of ``fns``, the lowest over ``repeats`` of the mean seconds per call (:func:`seconds_in_turns`)."""
    return seconds_in_turns(*fns, repeats=repeats, min_seconds=min_seconds).min(axis=0).tolist()


PASSES = 3
"""Passes over all encoders: an encoder's repeats spread over the run, since this machine runs in slow and fast
phases of a few seconds and a throughput is each one's best repeat."""


def threads(count: int, parallel: bool) -> Callable[[], None]:
    """Set numba's threads and whether encoders run their parallel kernels; returns the undo."""
    before = (numba.get_num_threads(), base.PARALLEL_MIN_ELEMENTS)
    numba.set_num_threads(min(count, numba.config.NUMBA_NUM_THREADS))
    base.PARALLEL_MIN_ELEMENTS = 0 if parallel else None

    def undo() -> None:
        numba.set_num_threads(before[0])
        base.PARALLEL_MIN_ELEMENTS = before[1]

    return undo


@dataclass
class Sizes:
    steps: int
    batch: int
    repeats: int
    min_seconds: float
    stream_calls: int


FULL = Sizes(100, 1024, 7, 0.05, 5000)
QUICK = Sizes(100, 128, 3, 0.01, 500)


@dataclass
class Case:
    label: str
    name: str
    params: dict[str, Any]


def cases() -> list[Case]:
    out = []
    for name in names():
        out.append(Case(name, name, {}))
        if name in ("rate", "population"):
            out.append(Case(f"{name} (poisson)", name, {"mode": "poisson", "seed": 0}))
    return out


def workload(sizes: Sizes) -> torch.Tensor:
    return torch.rand(sizes.steps, sizes.batch, N_FEATURES, generator=torch.Generator().manual_seed(0))


def throughput_rows(sizes: Sizes) -> list[dict[str, Any]]:
    """Each encoder at one thread, alternating with its minimal loop; then all at two threads (last: OpenMP's
    threads may keep spinning after a parallel call and would slow what is measured after them)."""
    x = workload(sizes)
    u = x.reshape(x.shape[0], -1).numpy()
    rows = []
    encoders = [(case, make(case.name, N_FEATURES, **case.params)) for case in cases()]
    loops = [minimal_call(case.name, enc, u) for case, enc in encoders]
    passes = [
        [
            seconds_in_turns(lambda e=enc: e.encode(x), loop, repeats=sizes.repeats, min_seconds=sizes.min_seconds)
            for (_, enc), loop in zip(encoders, loops, strict=True)
        ]
        for _ in range(PASSES)
    ]
    for k, ((case, enc), loop) in enumerate(zip(encoders, loops, strict=True)):
        times = np.concatenate([measured[k] for measured in passes])
        t_encoder, t_loop = times.min(axis=0)
        ours = enc.encode(x)[0].reshape(loop().shape).numpy()
        before = BEFORE[case.name]
        rate, loop_rate = x.numel() / t_encoder / 1e6, x.numel() / t_loop / 1e6
        rows.append(
            {
                "table": "throughput",
                "encoder": case.label,
                "workload": f"T={sizes.steps} B={sizes.batch} F={N_FEATURES}",
                "M_per_s_1_thread": rate,
                "minimal_loop_M_per_s": loop_rate,
                "minimal_over_encoder": float(np.median(times[:, 0] / times[:, 1])),
                "minimal_spikes_differ": int((ours != loop()).sum()),
                "before_M_per_s": before,
                "speedup_over_before": rate / before,
                "meets_5x": rate >= SPEEDUP_TARGET * before,
                "meets_minimal_target": (
                    float(np.median(times[:, 0] / times[:, 1])) <= MINIMAL_TARGET[case.name]
                    if case.name in MINIMAL_TARGET
                    else ""
                ),
            }
        )
        print(f"  measured {case.label}", file=sys.stderr, flush=True)
    undo = threads(2, parallel=True)
    try:
        for row, (_, enc) in zip(rows, encoders, strict=True):
            (t_two,) = best_seconds(lambda e=enc: e.encode(x), repeats=sizes.repeats, min_seconds=sizes.min_seconds)
            row["M_per_s_2_threads"] = x.numel() / t_two / 1e6
    finally:
        undo()
    return rows


def snntorch_rows(sizes: Sizes) -> list[dict[str, Any]]:
    """rate (Poisson) vs ``spikegen.rate``, step-forward vs ``spikegen.delta`` (threshold 0.05), PWM with each
    sample held 8 steps (one carrier period) vs ``spikegen.latency`` with 8 steps per sample."""
    from snntorch import spikegen

    x = workload(sizes)
    rate = make("rate", N_FEATURES, mode="poisson", seed=0)
    sf = make("sf", N_FEATURES, threshold=0.05)
    pwm = make("pwm", N_FEATURES, frequency=1 / 8, bipolar=False)
    held = x.repeat_interleave(8, dim=0)
    per_sample = x.reshape(-1, N_FEATURES)
    pairs = [
        ("rate (poisson)", "spikegen.rate", lambda: rate.encode(x)[0], lambda: spikegen.rate(x, time_var_input=True)),
        ("step_forward", "spikegen.delta", lambda: sf.encode(x)[0], lambda: spikegen.delta(x, threshold=0.05)),
        (
            "pwm (8 steps per sample)",
            "spikegen.latency (8 steps)",
            lambda: pwm.encode(held)[0],
            lambda: spikegen.latency(per_sample, num_steps=8, normalize=True, linear=True),
        ),
    ]
    rows = []
    for ours, theirs, encode_ours, encode_theirs in pairs:
        t_ours, t_theirs = best_seconds(
            encode_ours, encode_theirs, repeats=sizes.repeats, min_seconds=sizes.min_seconds
        )
        rows.append(
            {
                "table": "snntorch",
                "encoder": ours,
                "workload": f"T={sizes.steps} B={sizes.batch} F={N_FEATURES}",
                "encode_M_per_s": x.numel() / t_ours / 1e6,
                "snntorch": theirs,
                "snntorch_M_per_s": x.numel() / t_theirs / 1e6,
                "speedup_vs_snntorch": t_theirs / t_ours,
                "meets_snntorch": t_ours <= t_theirs,
                "spikes_per_element": float(encode_ours().abs().sum()) / x.numel(),
                "snntorch_spikes_per_element": float(encode_theirs().abs().sum()) / x.numel(),
            }
        )
    return rows


def streaming_rows(sizes: Sizes) -> list[dict[str, Any]]:
    """Median microseconds per ``encode`` of one ``(T=8, B=1, F=4)`` chunk, the state passed along."""
    signal = torch.rand(
        STREAM_CHUNK * (sizes.stream_calls + 50), 1, N_FEATURES, generator=torch.Generator().manual_seed(4)
    )
    rows = []
    for case in cases():
        enc = make(case.name, N_FEATURES, **case.params)
        state = enc.initial_state(signal[0]) if isinstance(enc, MirroredEncoder) else None
        times, parts = [], []
        for i, chunk in enumerate(torch.split(signal, STREAM_CHUNK)):
            start = time.perf_counter()
            spikes, state = enc.encode(chunk, state)
            if i >= 50:
                times.append(time.perf_counter() - start)
            parts.append(spikes)
        whole, _ = enc.encode(signal, enc.initial_state(signal[0]) if isinstance(enc, MirroredEncoder) else None)
        encode_us = statistics.median(times) * 1e6
        rows.append(
            {
                "table": "streaming",
                "encoder": case.label,
                "workload": f"chunk T={STREAM_CHUNK} B=1 F={N_FEATURES}",
                "encode_us_per_call": encode_us,
                "meets_stream_target": encode_us <= STREAM_TARGET_US,
                "chunked_equals_whole": bool(torch.equal(torch.cat(parts), whole)),
            }
        )
    return rows


# -------------------------------------------------------------------- report


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    aligns = ["<" if i == 0 else ">" for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return " | ".join(f"{c:{a}{w}}" for c, a, w in zip(cells, aligns, widths, strict=True))

    return "\n".join([line(headers), "-+-".join("-" * w for w in widths), *(line(r) for r in rows)])


def yes(flag: Any) -> str:
    return "" if flag == "" else ("met" if flag else "NOT met")


def report(throughput: list[dict], comparison: list[dict], streaming: list[dict], sizes: Sizes) -> None:
    print(
        f"\nBatched encode, x = torch.rand({sizes.steps}, {sizes.batch}, {N_FEATURES}), M samples x features per "
        "second;\nminimal loop: the rule alone in numba (time outside, columns inside, int8 out); "
        "/ minimal: how many times\nthe minimal loop is faster than the encoder at one thread (the median over "
        "repeats in which they take turns;\nthroughputs are each one's best repeat); before: issue 14's numbers "
        f"(target {SPEEDUP_TARGET:.0f}x).\n"
    )
    headers = [
        "encoder", "1 thread", "2 threads", "minimal loop", "/ minimal", "spikes differ", "before",
        "x before", f"{SPEEDUP_TARGET:.0f}x target", "minimal target",
    ]  # fmt: skip
    print(
        format_table(
            headers,
            [
                [
                    r["encoder"],
                    f"{r['M_per_s_1_thread']:.1f}",
                    f"{r['M_per_s_2_threads']:.1f}",
                    f"{r['minimal_loop_M_per_s']:.1f}",
                    f"{r['minimal_over_encoder']:.2f}x",
                    str(r["minimal_spikes_differ"]),
                    f"{r['before_M_per_s']:.0f}",
                    f"{r['speedup_over_before']:.1f}x",
                    yes(r["meets_5x"]),
                    yes(r["meets_minimal_target"]) + (" (<= 2x)" if r["meets_minimal_target"] != "" else ""),
                ]
                for r in throughput
            ],
        )
    )
    print("\nNext to snntorch.spikegen on the same signal (ratio: spikegym / snntorch throughput):\n")
    headers = ["encoder", "snntorch", "spikegym M/s", "snntorch M/s", "ratio", "target >= 1", "spikes", "theirs"]
    print(
        format_table(
            headers,
            [
                [
                    r["encoder"],
                    r["snntorch"],
                    f"{r['encode_M_per_s']:.1f}",
                    f"{r['snntorch_M_per_s']:.1f}",
                    f"{r['speedup_vs_snntorch']:.2f}x",
                    yes(r["meets_snntorch"]),
                    f"{r['spikes_per_element']:.3f}",
                    f"{r['snntorch_spikes_per_element']:.3f}",
                ]
                for r in comparison
            ],
        )
    )
    print(f"\nStreaming (the wrapper's hot path): one (T={STREAM_CHUNK}, B=1, F={N_FEATURES}) chunk per call:\n")
    headers = ["encoder", "encode us", f"<= {STREAM_TARGET_US:.0f} us", "chunked == whole"]
    print(
        format_table(
            headers,
            [
                [
                    r["encoder"],
                    f"{r['encode_us_per_call']:.1f}",
                    yes(r["meets_stream_target"]),
                    "yes" if r["chunked_equals_whole"] else "NO",
                ]
                for r in streaming
            ],
        )
    )
    missed = [f"{r['encoder']} {SPEEDUP_TARGET:.0f}x" for r in throughput if not r["meets_5x"]]
    missed += [
        f"{r['encoder']} within 2x of its minimal loop" for r in throughput if r["meets_minimal_target"] is False
    ]
    missed += [f"{r['encoder']} vs {r['snntorch']}" for r in comparison if not r["meets_snntorch"]]
    print("\nIssue 14 encoder targets: " + ("all met" if not missed else "not met: " + "; ".join(missed)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch 128 and fewer repeats (CI smoke test)")
    parser.add_argument("--csv", metavar="PATH", default="results/encoders.csv", help="CSV of every row")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    began = time.perf_counter()
    print(
        f"spikegym encoder benchmark ({'quick' if args.quick else 'full'}), torch {torch.__version__}, "
        f"numpy {np.__version__}, numba {numba.__version__} ({numba.config.NUMBA_NUM_THREADS} threads available), "
        f"python {sys.version.split()[0]}",
        flush=True,
    )
    comparison = snntorch_rows(sizes)
    streaming = streaming_rows(sizes)
    throughput = throughput_rows(sizes)
    report(throughput, comparison, streaming, sizes)
    if args.csv:
        all_rows = throughput + comparison + streaming
        fields = list(dict.fromkeys(key for row in all_rows for key in row))
        Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
        with open(args.csv, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(all_rows)
        print(f"\nwrote {len(all_rows)} rows to {args.csv}")
    print(f"total time {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
