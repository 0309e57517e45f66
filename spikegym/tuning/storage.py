"""Optuna storages shared by tuning workers: safe to open together, and dead workers' trials reclaimed.

Several worker processes (or machines) may tune the same studies in one
storage: an RDB URL (``sqlite:///tune.db``, ``postgresql://...``) or a journal
file (``*.log``). Three things make that safe:

- **Opening together.** optuna creates an RDB schema without a lock, so two
  workers opening a fresh SQLite file at the same moment race ("table ...
  already exists"). :func:`open_storage` opens a file storage under a lock
  file next to it (:func:`setup_lock`, also held while the studies are
  created and checked), and retries the opening of other RDB URLs.
- **Signs of life.** While a worker scores its trials, a thread
  (:class:`Heartbeat`) stamps each of them every ``interval`` seconds
  (a trial user attribute, :data:`ALIVE_KEY`).
- **Reclaiming.** A running trial without a sign of life (its last stamp,
  else its start) for :data:`GRACE_BEATS` intervals belongs to a worker that
  died; :func:`reclaim_dead_trials` fails it, and its place is taken by a new
  trial. optuna's own heartbeat (``RDBStorage(heartbeat_interval=...)`` with
  ``fail_stale_trials``) is not used: it never reclaims a trial whose worker
  died between ``ask`` and its first heartbeat, ``JournalStorage`` has none,
  and it warns on every ``ask`` outside ``Study.optimize``.

>>> storage = open_storage(None)
>>> storage is None
True
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock
from optuna.trial import Trial, TrialState
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

logger = logging.getLogger(__name__)

ALIVE_KEY = "spikegym:alive"
"""The trial user attribute a worker stamps with ``time.time()`` while it scores the trial."""
GRACE_BEATS = 3
"""A running trial silent for this many heartbeat intervals belongs to a worker that died."""
OPEN_ATTEMPTS = 5
"""Attempts to open an RDB storage that another worker is creating at the same moment."""


def journal_path(url: str) -> str | None:
    """The file of a journal storage URL (``journal:///path``, or a path ending in ``.log``/``.journal``), or None.

    >>> journal_path("tune.log"), journal_path("journal:///tmp/t.journal"), journal_path("sqlite:///tune.db")
    ('tune.log', '/tmp/t.journal', None)
    """
    if url.startswith("journal://"):
        return url.removeprefix("journal://")
    if url.endswith((".log", ".journal")) and "://" not in url:
        return url
    return None


def storage_file(url: str) -> str | None:
    """The local file behind a storage URL (a journal file or an SQLite database), or ``None``.

    >>> storage_file("sqlite:///tune.db"), storage_file("tune.log"), storage_file("postgresql://h/db")
    ('tune.db', 'tune.log', None)
    """
    journal = journal_path(url)
    if journal is not None:
        return journal
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return parsed.database
    return None


def describe_storage(url: str) -> str:
    """The URL as it may be shown or saved: an RDB URL's password hidden.

    >>> describe_storage("postgresql://me:secret@host/db")
    'postgresql://me:***@host/db'
    """
    if journal_path(url) is not None:
        return url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


@contextlib.contextmanager
def setup_lock(url: str | None) -> Iterator[None]:
    """Hold a lock file next to a file storage (``<file>.spikegym-setup.lock``) for the block;
    nothing for other storages. Workers open the storage and create and check their studies under it."""
    path = None if url is None else storage_file(url)
    if path is None or not Path(path).parent.is_dir():
        yield
        return
    lock = JournalFileOpenLock(f"{path}.spikegym-setup", grace_period=30)
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def open_storage(url: str | None) -> BaseStorage | None:
    """An optuna storage for ``url``: ``None`` (in memory), a journal file (``*.log``,
    ``*.journal`` or ``journal:///path``), or an RDB URL (``sqlite:///tune.db``, ...).

    Safe to call from several processes at once on a fresh storage. Raises a
    ``ValueError`` naming the URL when it cannot be opened.
    """
    if url is None:
        return None
    journal = journal_path(url)
    if journal is not None:
        return _open_journal(url, journal)
    try:
        make_url(url)
    except ArgumentError:
        raise ValueError(
            f"storage {url!r} is not a storage URL; give an optuna RDB URL such as sqlite:///tune.db "
            "or a journal file path ending in .log"
        ) from None
    with setup_lock(url):
        return _open_rdb(url)


def _open_journal(url: str, path: str) -> JournalStorage:
    try:
        return JournalStorage(JournalFileBackend(path))
    except OSError as error:
        raise ValueError(f"storage {url!r} cannot be opened: {error}") from None


def _open_rdb(url: str) -> RDBStorage:
    """Open an RDB storage, retrying while another worker creates its schema."""
    for attempt in range(1, OPEN_ATTEMPTS + 1):
        try:
            return RDBStorage(url)
        except Exception as error:
            if attempt == OPEN_ATTEMPTS or not _is_creation_race(error):
                raise ValueError(f"storage {describe_storage(url)!r} cannot be opened ({_reason(error)})") from None
            logger.info("storage %s is being created by another worker; retrying", describe_storage(url))
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable")


def _is_creation_race(error: Exception) -> bool:
    text = str(error).lower()
    return any(sign in text for sign in ("already exists", "unique constraint", "duplicate", "database is locked"))


def _reason(error: Exception) -> str:
    """The first line of a database error (SQLAlchemy appends the SQL and a link)."""
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"


def grace_seconds(interval: float) -> float:
    """Seconds a running trial may stay silent before it is taken for a dead worker's."""
    return GRACE_BEATS * interval


def last_sign_of_life(trial: optuna.trial.FrozenTrial) -> float:
    """The time (``time.time()``) a running trial was last stamped, else when it started."""
    stamp = trial.user_attrs.get(ALIVE_KEY)
    if stamp is not None:
        return float(stamp)
    return trial.datetime_start.timestamp() if trial.datetime_start is not None else time.time()


def reclaim_dead_trials(study: optuna.Study, interval: float) -> int:
    """Fail the running trials of ``study`` silent for :func:`grace_seconds` (their worker died); how many.

    >>> study = optuna.create_study()
    >>> trial = study.ask()
    >>> reclaim_dead_trials(study, interval=60.0)
    0
    """
    now, grace = time.time(), grace_seconds(interval)
    reclaimed = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if now - last_sign_of_life(trial) > grace:
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
            reclaimed += 1
    if reclaimed:
        logger.warning(
            "study %s: failed %d trial(s) silent for over %.0f s (their worker died); they are rerun",
            study.study_name,
            reclaimed,
            grace,
        )
    return reclaimed


class Heartbeat:
    """Stamp trials as alive every ``interval`` seconds from a thread, while the block runs.

    >>> study = optuna.create_study()
    >>> trial = study.ask()
    >>> with Heartbeat([trial], interval=60.0):
    ...     pass
    >>> "spikegym:alive" in study.trials[0].user_attrs
    True
    """

    def __init__(self, trials: Sequence[Trial], interval: float) -> None:
        self.trials = list(trials)
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="spikegym-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.stamp()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def stamp(self) -> None:
        """Record that every trial is alive now (a trial another worker has finished is skipped)."""
        now = time.time()
        for trial in self.trials:
            with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
                trial.set_user_attr(ALIVE_KEY, now)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.stamp()
            except Exception as error:  # a busy database must not kill the thread; the next beat retries
                logger.warning("heartbeat of %d trial(s) not recorded: %s", len(self.trials), error)
