"""Training that survives being stopped: SIGINT/SIGTERM end it at the next step, and models are saved whole.

:func:`stop_on_signals` turns the first Ctrl-C (or SIGTERM) into a request that
:class:`StopOnSignal` answers at the next env step, so the caller saves the model
and records how training ended; a second signal stops at once.
:func:`save_whole` and :class:`WholeCheckpoints` write a model beside its final
name and rename it, so a process killed while saving leaves no truncated file.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CheckpointCallback

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def save_whole(model: BaseAlgorithm, path: Path) -> None:
    """Save ``model`` to ``path`` so that the file appears whole or not at all: written beside it under another
    name, then renamed (a process killed while saving leaves no truncated ``.zip``)."""
    buffer = io.BytesIO()
    model.save(buffer)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(buffer.getvalue())
    os.replace(partial, path)


class WholeCheckpoints(CheckpointCallback):
    """SB3's :class:`~stable_baselines3.common.callbacks.CheckpointCallback`, each checkpoint saved whole
    (:func:`save_whole`), so the latest checkpoint of a run killed outright can be loaded."""

    def _on_step(self) -> bool:
        if self.n_calls % self.save_freq == 0:
            save_whole(self.model, Path(self._checkpoint_path(extension="zip")))
        return True


class StopOnSignal(BaseCallback):
    """Ends training at the next env step once SIGINT or SIGTERM arrived (:func:`stop_on_signals` sets it)."""

    def __init__(self) -> None:
        super().__init__()
        self.received: signal.Signals | None = None
        self.saving = False
        """Set while the model is saved: signals then wait, so that ``model.zip`` is never half written."""

    def _on_step(self) -> bool:
        return self.received is None


@contextmanager
def stop_on_signals(callback: StopOnSignal) -> Iterator[None]:
    """While training, SIGINT/SIGTERM ask ``callback`` to stop at the next step; a second one stops at once.

    Only the main thread can handle signals; elsewhere this does nothing. The
    previous handlers come back on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: object) -> None:
        if callback.saving:
            logger.warning("%s: saving the model; it stops as soon as the model is saved", signal.Signals(signum).name)
            return
        if callback.received is not None:
            raise KeyboardInterrupt
        callback.received = signal.Signals(signum)
        logger.warning("%s: stopping training at the next step and saving the model", callback.received.name)

    previous = {sig: signal.signal(sig, handle) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
