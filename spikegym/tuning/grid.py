"""A grid of independent jobs ("cells") kept as an optuna study, which any number of workers share.

A benchmark grid (every encoder x env x policy x seed, say) is a list of
cells, each a dict of JSON values, and one function that turns a cell into a
row (a dict of JSON values). :class:`Grid` keeps the cells as the trials of
an optuna study in a storage URL (``sqlite:///grid.db``, a journal file
``grid.log``, ``postgresql://...``), so optuna, not this module, hands them out:

- **Enqueued once.** Each cell is enqueued as a ``WAITING`` trial, its cell in
  a user attribute (:data:`CELL_KEY`). :meth:`Grid.sync` enqueues only the
  cells without a live trial, under the storage's setup lock
  (:func:`~spikegym.tuning.storage.setup_lock`), so workers that start
  together, or a resumed grid, enqueue nothing twice.
- **Run once.** A worker claims a waiting trial of one of its own cells as
  optuna's ``study.ask()`` pops one (the storage's atomic ``WAITING`` to
  ``RUNNING`` update): two workers never get the same trial, and a worker
  started on part of a grid (``--policies stateless``, say) leaves the other
  cells waiting for workers whose grid holds them. A worker that claims a cell
  another trial of which has already completed or started first (possible only
  where no setup lock serialises enqueueing: a server RDB) skips it.
- **Resumed.** While a cell runs, a :class:`~spikegym.tuning.storage.Heartbeat`
  stamps its trial. A running trial silent for
  :func:`~spikegym.tuning.storage.grace_seconds` belongs to a worker that was
  killed: the next :meth:`Grid.sync` fails it and enqueues its cell again (at most
  ``max_attempts`` times). Finished cells are never run again.
- **Stale rows rerun.** A grid given a ``stale`` test (a row made under
  settings that have changed since, a recipe say) treats a finished cell whose
  row fails it as not done: it is enqueued again, and its new row replaces the
  stale one in :meth:`Grid.rows` (the stale trial stays in the storage).
- **Errors recorded, not retried.** A cell whose function raises is a ``FAIL``
  trial with the error (:data:`ERROR_KEY`); it is not run again.

Workers are processes running :meth:`Grid.work`: :func:`run_processes` starts
:func:`default_workers` of them on this machine (one per core, one torch
thread each); more started on other machines against the same storage URL
join the same grid.

>>> grid = Grid(None, "squares", [{"x": x} for x in range(3)])
>>> grid.work(lambda cell: {"x": cell["x"], "square": cell["x"] ** 2})
3
>>> [row["square"] for row in grid.rows()]
[0, 1, 4]
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from spikegym.tuning.storage import Heartbeat, open_storage, reclaim_dead_trials, setup_lock

logger = logging.getLogger(__name__)

CELL_KEY = "grid:cell"
"""The trial user attribute holding the cell (its JSON, keys sorted)."""
INDEX_KEY = "grid:index"
"""The trial user attribute holding the cell's position in the grid."""
ROW_KEY = "grid:row"
"""The user attribute of a completed trial holding the row its cell's function returned."""
ERROR_KEY = "grid:error"
"""The user attribute of a failed trial holding the error its cell's function raised."""
INTERRUPTED_KEY = "grid:interrupted"
"""The user attribute of a failed trial whose worker was interrupted (Ctrl-C): rerun, not counted as an attempt."""
SKIPPED_KEY = "grid:skipped"
"""The user attribute of a pruned trial saying why it was not run (a duplicate, or no cell)."""
HEARTBEAT_SECONDS = 10.0
"""Default seconds between a running cell's signs of life."""
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")
"""Environment variables that set a worker process's thread count."""

Cell = dict[str, Any]
Row = dict[str, Any]


def cell_key(cell: Mapping[str, Any]) -> str:
    """The cell as canonical JSON (keys sorted): how the grid tells cells apart.

    >>> cell_key({"seed": 0, "env": "CartPole-v1"})
    '{"env": "CartPole-v1", "seed": 0}'
    """
    try:
        return json.dumps(dict(cell), sort_keys=True)
    except TypeError as error:
        raise TypeError(f"a grid cell must hold JSON values only, got {dict(cell)!r} ({error})") from None


def default_workers() -> int:
    """Worker processes for this machine: one per core this process may use.

    >>> default_workers() >= 1
    True
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, cores or 1)


@dataclass(frozen=True)
class GridStatus:
    """How far a grid has got: cells in each state (``waiting`` includes cells not enqueued yet)."""

    cells: int
    done: int
    running: int
    waiting: int
    failed: int

    @property
    def finished(self) -> bool:
        """Whether every cell is done or failed."""
        return self.done + self.failed == self.cells


class Grid:
    """Cells of independent work kept as optuna study ``name`` in ``storage`` (``None``: in memory).

    :param storage: an optuna storage URL or journal file path (see :func:`~spikegym.tuning.storage.open_storage`).
    :param name: the study's name; the same name in the same storage is the same grid.
    :param cells: the cells, dicts of JSON values; duplicates are run once.
    :param heartbeat: seconds between a running cell's signs of life; a cell silent for three is reclaimed.
    :param max_attempts: how many times a cell whose worker died is started before it is given up.
    :param value: the row field told to optuna as the trial's value (default: the cell's index).
    :param retry_failed: enqueue again the cells whose function raised (after fixing what made them fail);
        by default a failed cell stays failed.
    :param enqueue: whether opening the grid enqueues its cells (``False``: a read-only view, for reports).
    :param stale: whether a finished cell's row is out of date (made under settings that have changed), so that
        the cell runs again; ``None``: no row is.

    >>> grid = Grid(None, "demo", [{"x": 1}, {"x": 2}, {"x": 1}])
    >>> grid.status()
    GridStatus(cells=2, done=0, running=0, waiting=2, failed=0)
    """

    def __init__(
        self,
        storage: str | None,
        name: str,
        cells: Sequence[Mapping[str, Any]],
        *,
        heartbeat: float = HEARTBEAT_SECONDS,
        max_attempts: int = 3,
        value: str | None = None,
        retry_failed: bool = False,
        enqueue: bool = True,
        stale: Callable[[Row], bool] | None = None,
    ) -> None:
        if heartbeat <= 0:
            raise ValueError(f"heartbeat must be > 0 seconds, got {heartbeat}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        self.url = storage
        self.name = name
        self.keys = list(dict.fromkeys(cell_key(cell) for cell in cells))
        self.heartbeat = heartbeat
        self.max_attempts = max_attempts
        self.value = value
        self.retry_failed = retry_failed
        self.stale = stale
        self.storage = open_storage(storage) or optuna.storages.InMemoryStorage()
        with setup_lock(storage):
            self.study = optuna.create_study(
                storage=self.storage, study_name=name, load_if_exists=True, sampler=optuna.samplers.RandomSampler()
            )
        if enqueue:
            self.sync()

    def sync(self) -> int:
        """Reclaim the cells of dead workers and enqueue every cell without a live or finished trial; how
        many were enqueued. Safe to call from many workers at once (under the storage's setup lock)."""
        with setup_lock(self.url):
            reclaim_dead_trials(self.study, self.heartbeat)
            covered, dead = set(), Counter()
            for trial in self._trials():
                key = trial.user_attrs[CELL_KEY]
                if trial.state == TrialState.PRUNED or self._stale(trial):
                    continue
                if trial.state == TrialState.FAIL and ERROR_KEY not in trial.user_attrs:
                    dead[key] += INTERRUPTED_KEY not in trial.user_attrs
                    continue
                if trial.state == TrialState.FAIL and self.retry_failed:
                    continue
                covered.add(key)
            enqueued = 0
            for index, key in enumerate(self.keys):
                if key in covered:
                    continue
                if dead[key] >= self.max_attempts:
                    logger.warning("grid %s: cell %s given up: its worker died %d times", self.name, key, dead[key])
                    continue
                self.study.enqueue_trial({}, user_attrs={CELL_KEY: key, INDEX_KEY: index})
                enqueued += 1
            return enqueued

    def run_next(self, function: Callable[[Cell], Mapping[str, Any]]) -> bool:
        """Take one waiting cell and run ``function`` on it, recording its row or its error; ``False`` when
        no cell was waiting."""
        trial = self._claim()
        if trial is None:
            return False
        key = trial.user_attrs[CELL_KEY]
        earlier = [
            other.number
            for other in self._trials(states=(TrialState.COMPLETE, TrialState.RUNNING))
            if other.user_attrs[CELL_KEY] == key and other.number != trial.number and not self._stale(other)
            and (other.state == TrialState.COMPLETE or other.number < trial.number)
        ]  # fmt: skip
        if earlier:
            trial.set_user_attr(SKIPPED_KEY, f"duplicate of trial {earlier[0]}")
            self.study.tell(trial, state=TrialState.PRUNED)
            return True
        cell = json.loads(key)
        error = None
        with Heartbeat([trial], self.heartbeat):
            start = time.perf_counter()
            try:
                row = dict(function(dict(cell)))
            except Exception as raised:
                error = f"{type(raised).__name__}: {raised}"
                trial.set_user_attr(ERROR_KEY, error)
                trial.set_user_attr("grid:traceback", traceback.format_exc()[-4000:])
            except BaseException:  # interrupted (Ctrl-C, SystemExit): the cell goes back to the queue
                trial.set_user_attr(INTERRUPTED_KEY, True)
                self.study.tell(trial, state=TrialState.FAIL)
                raise
        if error is not None:
            logger.warning("grid %s: cell %s failed: %s", self.name, key, error)
            self.study.tell(trial, state=TrialState.FAIL)
            return True
        trial.set_user_attr(ROW_KEY, row)
        trial.set_user_attr("grid:seconds", time.perf_counter() - start)
        value = float(row[self.value]) if self.value is not None else float(trial.user_attrs[INDEX_KEY])
        self.study.tell(trial, value)
        return True

    def _claim(self) -> optuna.Trial | None:
        """A waiting trial of one of this grid's cells, set running as ``study.ask()`` sets one (``None``: none)."""
        own = set(self.keys)
        for waiting in self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            if waiting.user_attrs.get(CELL_KEY) not in own:
                continue
            if self.storage.set_trial_state_values(waiting._trial_id, state=TrialState.RUNNING):
                return optuna.Trial(self.study, waiting._trial_id)
        return None

    def work(
        self, function: Callable[[Cell], Mapping[str, Any]], max_cells: int | None = None, wait: bool = True
    ) -> int:
        """Run waiting cells until none is left (or ``max_cells`` have run); how many ran. With ``wait``, stay
        while other workers' cells run, to take any of them back whose worker dies."""
        ran = 0
        while max_cells is None or ran < max_cells:
            self.sync()
            if self.run_next(function):
                ran += 1
                continue
            if not wait or self.status().running == 0:
                break
            time.sleep(self.heartbeat)
        return ran

    def rows(self, every: bool = False) -> list[Row]:
        """The rows of the completed cells, in the grid's order (each cell once); with ``every``, also those of
        cells other runs listed in the same study (after this grid's, in the order they finished)."""
        done = {}
        for trial in self._trials(states=(TrialState.COMPLETE,)):
            if not self._stale(trial):
                done.setdefault(trial.user_attrs[CELL_KEY], trial.user_attrs[ROW_KEY])
        own = [done[key] for key in self.keys if key in done]
        return own + [row for key, row in done.items() if key not in self.keys] if every else own

    def stale_rows(self) -> list[Row]:
        """The rows of this grid's finished cells that are out of date (``stale``) and not yet made anew."""
        finished = self._trials(states=(TrialState.COMPLETE,))
        outdated = set(self.keys) - {trial.user_attrs[CELL_KEY] for trial in finished if not self._stale(trial)}
        return [trial.user_attrs[ROW_KEY] for trial in finished if trial.user_attrs[CELL_KEY] in outdated]

    def failures(self) -> list[tuple[Cell, str]]:
        """The cells whose function raised, each with its error (cells done since excluded)."""
        done = {trial.user_attrs[CELL_KEY] for trial in self._trials(states=(TrialState.COMPLETE,))}
        failed = {}
        for trial in self._trials(states=(TrialState.FAIL,)):
            key = trial.user_attrs[CELL_KEY]
            if ERROR_KEY in trial.user_attrs and key in self.keys and key not in done:
                failed[key] = trial.user_attrs[ERROR_KEY]
        return [(json.loads(key), error) for key, error in failed.items()]

    def status(self) -> GridStatus:
        """How many of this grid's cells are done, running, waiting and failed."""
        best: dict[str, str] = {}
        for trial in self._trials():
            state = "waiting" if self._stale(trial) else _standing(trial)
            key = trial.user_attrs[CELL_KEY]
            if STANDINGS.index(state) < STANDINGS.index(best.get(key, "waiting")):
                best[key] = state
        counts = Counter(best.get(key, "waiting") for key in self.keys)
        return GridStatus(len(self.keys), counts["done"], counts["running"], counts["waiting"], counts["failed"])

    def _stale(self, trial: FrozenTrial) -> bool:
        """Whether ``trial`` finished with a row the grid's ``stale`` test says is out of date."""
        return self.stale is not None and trial.state == TrialState.COMPLETE and self.stale(trial.user_attrs[ROW_KEY])

    def _trials(self, states: Sequence[TrialState] | None = None) -> list[FrozenTrial]:
        """The study's trials that hold a cell."""
        trials = self.study.get_trials(deepcopy=False, states=None if states is None else tuple(states))
        return [trial for trial in trials if CELL_KEY in trial.user_attrs]


STANDINGS = ("done", "running", "failed", "waiting")
"""A cell's standing from its trials, the first that applies."""


def _standing(trial: FrozenTrial) -> str:
    """What one trial says of its cell: done, running, failed (its function raised) or waiting."""
    if trial.state == TrialState.COMPLETE:
        return "done"
    if trial.state == TrialState.RUNNING:
        return "running"
    if trial.state == TrialState.FAIL and ERROR_KEY in trial.user_attrs:
        return "failed"
    return "waiting"


@contextlib.contextmanager
def _thread_variables(threads: int) -> Iterator[None]:
    """Set the thread-count variables for processes started in the block (they copy the environment)."""
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update({name: str(threads) for name in THREAD_VARIABLES})
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def _in_process(target: Callable[..., Any], args: tuple[Any, ...], threads: int) -> None:
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    target(*args)


def run_processes(
    target: Callable[..., Any], args: tuple[Any, ...] = (), workers: int | None = None, threads: int = 1
) -> list[int]:
    """Run ``target(*args)`` in ``workers`` fresh processes (default :func:`default_workers`), each with
    ``threads`` threads for torch and the numeric libraries, and wait for them; their exit codes.

    ``target`` must be importable by name (a module-level function; a script's own functions qualify when it
    calls this under ``if __name__ == "__main__"``). A worker that dies leaves the others running.
    """
    count = default_workers() if workers is None else workers
    if count < 1:
        raise ValueError(f"workers must be >= 1, got {count}")
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_in_process, args=(target, args, threads)) for _ in range(count)]
    with _thread_variables(threads):
        for process in processes:
            process.start()
    for process in processes:
        process.join()
    return [process.exitcode if process.exitcode is not None else -1 for process in processes]
