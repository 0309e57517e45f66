"""Training that survives being stopped: SIGINT/SIGTERM end it at the next step, and models are saved whole.

:func:`stop_on_signals` turns the first Ctrl-C (or SIGTERM) into a request that
:class:`StopOnSignal` answers at the next env step, so the caller saves the model
and records how training ended; a second signal stops at once.
:func:`save_whole` and :class:`WholeCheckpoints` write a model (and the ``VecNormalize``
statistics of a model trained on normalised observations) beside its final name and rename it, so a process
killed while saving leaves no truncated file.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CheckpointCallback

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def save_whole(model: BaseAlgorithm, path: Path, normalization: Path | None = None) -> None:
    """Save ``model`` to ``path`` so that the file appears whole or not at all: written beside it under another
    name, then renamed (a process killed while saving leaves no truncated ``.zip``). A model whose env normalises
    its observations (SB3's ``VecNormalize``) saves those statistics to ``normalization`` first, the same way
    (``VecNormalize.save``'s pickle, as rl-baselines3-zoo's ``vecnormalize.pkl``): the model acts on them.

    >>> import tempfile
    >>> from stable_baselines3 import PPO
    >>> from stable_baselines3.common.env_util import make_vec_env
    >>> from stable_baselines3.common.vec_env import VecNormalize
    >>> folder = Path(tempfile.mkdtemp())
    >>> model = PPO("MlpPolicy", VecNormalize(make_vec_env("CartPole-v1")), n_steps=64, batch_size=64)
    >>> save_whole(model, folder / "model.zip", folder / "vecnormalize.pkl")
    >>> sorted(path.name for path in folder.iterdir())
    ['model.zip', 'vecnormalize.pkl']
    """
    statistics = model.get_vec_normalize_env()
    if statistics is not None:
        if normalization is None:
            raise ValueError(f"{path}: the model normalises its observations; give the path of their statistics")
        _write_whole(normalization, pickle.dumps(statistics))
    buffer = io.BytesIO()
    model.save(buffer)
    _write_whole(path, buffer.getvalue())


def _write_whole(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


class WholeCheckpoints(CheckpointCallback):
    """SB3's :class:`~stable_baselines3.common.callbacks.CheckpointCallback`, each checkpoint saved whole
    (:func:`save_whole`), so the latest checkpoint of a run killed outright can be loaded; a model on normalised
    observations saves their statistics with it (SB3's ``<prefix>_vecnormalize_<steps>_steps.pkl``)."""

    def _on_step(self) -> bool:
        if self.n_calls % self.save_freq == 0:
            statistics = Path(self._checkpoint_path("vecnormalize_", extension="pkl"))
            save_whole(self.model, Path(self._checkpoint_path(extension="zip")), statistics)
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
