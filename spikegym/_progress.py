"""Progress a person can follow with or without a terminal: a tqdm bar on a terminal, else one plain line
every ``interval`` seconds (nohup, a log file, CI), which a bar's carriage returns would garble.

>>> import io
>>> stream = io.StringIO()
>>> with ProgressLines(100, "training", "steps", interval=0.0, stream=stream) as lines:
...     lines.update(40, last_evaluation="9.5")
>>> stream.getvalue().splitlines()[0].split(",")[0]
'training: 40/100 steps (40%)'
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from tqdm.auto import tqdm

INTERVAL_S = 30.0
"""Seconds between two progress lines."""


class ProgressLines:
    """``tqdm``'s ``update``/``close`` as periodic lines: ``desc: done/total unit (pct), rate,
    eta, postfix`` every ``interval`` seconds and once at the end."""

    def __init__(
        self,
        total: int | None,
        desc: str,
        unit: str,
        interval: float = INTERVAL_S,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.desc, self.unit, self.interval = total, desc, unit, interval
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.n = 0
        self.postfix: dict[str, Any] = {}
        self.start = self.last = clock()
        self.closed = False

    def update(self, n: int = 1, **postfix: Any) -> None:
        """Count ``n`` more and note ``postfix``; write a line if ``interval`` has passed since the last."""
        self.n += n
        self.postfix.update(postfix)
        if self.clock() - self.last >= self.interval:
            self._write()

    def close(self) -> None:
        """Write the last line (once)."""
        if not self.closed:
            self.closed = True
            self._write()

    def line(self) -> str:
        """The progress as one line."""
        elapsed = max(self.clock() - self.start, 1e-9)
        rate = self.n / elapsed
        done = f"{self.n}/{self.total}" if self.total else str(self.n)
        parts = [f"{self.desc}: {done} {self.unit}"]
        if self.total:
            parts[0] += f" ({100 * self.n / self.total:.0f}%)"
        parts.append(f"{rate:.1f} {self.unit}/s")
        if self.total and rate > 0 and self.n < self.total:
            parts.append(f"eta {_duration((self.total - self.n) / rate)}")
        parts.append(f"elapsed {_duration(elapsed)}")
        parts += [f"{key} {value}" for key, value in self.postfix.items()]
        return ", ".join(parts)

    def _write(self) -> None:
        print(self.line(), file=self.stream, flush=True)
        self.last = self.clock()

    def __enter__(self) -> ProgressLines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def on_terminal(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (default stderr, where bars go) is a terminal."""
    stream = stream if stream is not None else sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


def progress(total: int | None, desc: str, unit: str, enabled: bool = True) -> Any:
    """A tqdm bar on a terminal, :class:`ProgressLines` without one, a silent bar when not ``enabled``."""
    if enabled and not on_terminal():
        return ProgressLines(total, desc, unit)
    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled)
