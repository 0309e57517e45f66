"""The grid engine: workers in separate processes share one grid, run each cell once, and resume a killed one."""

from __future__ import annotations

import multiprocessing
import os
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikegym.tuning.grid import Grid, GridStatus, run_processes

HEARTBEAT = 0.3
BARRIER_SECONDS = 20.0


def fake_cell(cell: dict) -> dict:
    """Mark the start, wait until two workers have started cells (so both take part), hang while the cell's
    hang file exists, mark the end; the row says who ran it."""
    folder = Path(cell["dir"])
    tag = f"{cell['x']}.{os.getpid()}.{uuid.uuid4().hex}"
    (folder / f"{tag}.start").touch()
    deadline = time.monotonic() + BARRIER_SECONDS
    while len({path.name.split(".")[1] for path in folder.glob("*.start")}) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    while (folder / f"hang-{cell['x']}").exists():
        time.sleep(0.05)
    time.sleep(0.1)
    (folder / f"{tag}.done").touch()
    return {"x": cell["x"], "pid": os.getpid()}


def work(storage: str, cells: list[dict]) -> None:
    Grid(storage, "fake", cells, heartbeat=HEARTBEAT).work(fake_cell)


def counts(folder: Path, suffix: str) -> dict[int, int]:
    """How many times each cell started or finished."""
    found: dict[int, int] = {}
    for path in folder.glob(f"*.{suffix}"):
        x = int(path.name.split(".")[0])
        found[x] = found.get(x, 0) + 1
    return found


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_two_worker_processes_share_a_grid_and_run_every_cell_once(tmp_path: Path, kind: str) -> None:
    storage = str(tmp_path / "grid.log") if kind == "journal" else f"sqlite:///{tmp_path / 'grid.db'}"
    cells = [{"x": x, "dir": str(tmp_path)} for x in range(8)]
    assert run_processes(work, (storage, cells), workers=2) == [0, 0]
    assert counts(tmp_path, "start") == dict.fromkeys(range(8), 1)
    assert counts(tmp_path, "done") == dict.fromkeys(range(8), 1)
    rows = Grid(storage, "fake", cells).rows()
    assert [row["x"] for row in rows] == list(range(8))
    assert len({row["pid"] for row in rows}) == 2, "both workers ran cells"


@pytest.mark.slow
def test_a_killed_worker_s_cell_is_rerun_and_finished_cells_are_not(tmp_path: Path) -> None:
    storage = str(tmp_path / "grid.log")
    cells = [{"x": x, "dir": str(tmp_path)} for x in range(8)]
    (tmp_path / "hang-2").touch()
    (tmp_path / "0.barrier.start").touch()  # a second "worker" for the barrier: the lone worker does not wait
    worker = multiprocessing.get_context("spawn").Process(target=work, args=(storage, cells))
    worker.start()
    deadline = time.monotonic() + 60
    while counts(tmp_path, "start").get(2) != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.kill()
    worker.join()
    (tmp_path / "0.barrier.start").unlink()
    (tmp_path / "hang-2").unlink()
    assert counts(tmp_path, "done") == {0: 1, 1: 1}, "the worker was killed in cell 2"
    assert Grid(storage, "fake", cells).status().running == 1, "cell 2's trial is left running"

    assert run_processes(work, (storage, cells), workers=2) == [0, 0]
    assert counts(tmp_path, "done") == dict.fromkeys(range(8), 1)
    assert counts(tmp_path, "start") == {**dict.fromkeys(range(8), 1), 2: 2}, "only the killed cell ran again"
    grid = Grid(storage, "fake", cells)
    assert [row["x"] for row in grid.rows()] == list(range(8))
    assert grid.status() == GridStatus(cells=8, done=8, running=0, waiting=0, failed=0)


def test_a_failing_cell_is_recorded_with_its_error_and_not_retried(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'grid.db'}"
    calls = []

    def cell_function(cell: dict) -> dict:
        calls.append(cell["x"])
        if cell["x"] == 1:
            raise ValueError("no such encoder")
        return {"x": cell["x"]}

    cells = [{"x": x} for x in range(3)]
    assert Grid(storage, "failing", cells).work(cell_function) == 3
    again = Grid(storage, "failing", cells)
    assert again.work(cell_function) == 0
    assert calls == [0, 1, 2]
    assert again.failures() == [({"x": 1}, "ValueError: no such encoder")]
    assert again.status() == GridStatus(cells=3, done=2, running=0, waiting=0, failed=1)
    assert again.status().finished
    assert len(again.study.trials) == 3, "opening the grid again enqueued nothing"


def test_failed_cells_run_again_once_when_asked_and_then_count_as_done(tmp_path: Path) -> None:
    storage = str(tmp_path / "grid.log")
    cells = [{"x": x} for x in range(3)]

    def broken(cell: dict) -> dict:
        if cell["x"] == 1:
            raise RuntimeError("a config it could not find")
        return {"x": cell["x"]}

    Grid(storage, "retry", cells).work(broken)
    calls = []

    def fixed(cell: dict) -> dict:
        calls.append(cell["x"])
        return {"x": cell["x"]}

    retried = Grid(storage, "retry", cells, retry_failed=True)
    assert retried.work(fixed) == 1 and calls == [1]
    assert Grid(storage, "retry", cells, retry_failed=True).work(fixed) == 0, "a retried cell ran twice"
    assert [row["x"] for row in retried.rows()] == [0, 1, 2] and retried.failures() == []


def test_a_grid_extended_with_new_cells_runs_only_those(tmp_path: Path) -> None:
    storage = str(tmp_path / "grid.log")
    calls = []
    Grid(storage, "grow", [{"x": 0}, {"x": 1}]).work(lambda cell: calls.append(cell["x"]) or cell)
    grid = Grid(storage, "grow", [{"x": 0}, {"x": 1}, {"x": 2}])
    assert grid.work(lambda cell: calls.append(cell["x"]) or cell) == 1
    assert calls == [0, 1, 2]
    assert [row["x"] for row in grid.rows()] == [0, 1, 2]


def test_cells_must_hold_json_values() -> None:
    with pytest.raises(TypeError, match="JSON values"):
        Grid(None, "bad", [{"x": object()}])


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(0, 5), max_size=12))
def test_each_distinct_cell_runs_once_in_grid_order(values: list[int]) -> None:
    calls = []
    grid = Grid(None, "distinct", [{"x": value} for value in values])
    grid.work(lambda cell: calls.append(cell["x"]) or cell)
    distinct = list(dict.fromkeys(values))
    assert calls == distinct
    assert [row["x"] for row in grid.rows()] == distinct


def test_an_interrupted_cell_goes_back_to_the_queue_without_using_an_attempt(tmp_path: Path) -> None:
    storage = str(tmp_path / "grid.log")
    calls = []

    def interrupted(cell: dict) -> dict:
        calls.append(cell["x"])
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Grid(storage, "stop", [{"x": 0}], max_attempts=1).work(interrupted)
    grid = Grid(storage, "stop", [{"x": 0}], max_attempts=1)
    assert grid.status() == GridStatus(cells=1, done=0, running=0, waiting=1, failed=0)
    assert grid.work(lambda cell: calls.append(cell["x"]) or cell) == 1
    assert calls == [0, 0]
    assert grid.status().finished


def test_a_read_only_view_enqueues_nothing(tmp_path: Path) -> None:
    storage = str(tmp_path / "grid.log")
    Grid(storage, "view", [{"x": 0}]).work(lambda cell: {"x": cell["x"]})
    view = Grid(storage, "view", [{"x": x} for x in range(4)], enqueue=False)
    assert [row["x"] for row in view.rows()] == [0] and len(view.study.trials) == 1
    assert view.status().waiting == 3, "the cells it lists count as waiting without being enqueued"


def test_every_row_of_the_study_is_read_when_asked_this_grids_first(tmp_path: Path) -> None:
    storage = str(tmp_path / "grid.log")
    Grid(storage, "shared", [{"x": 0}, {"x": 1}]).work(lambda cell: {"x": cell["x"]})
    mine = Grid(storage, "shared", [{"x": 2}])
    mine.work(lambda cell: {"x": cell["x"]})
    assert [row["x"] for row in mine.rows()] == [2]
    assert [row["x"] for row in mine.rows(every=True)] == [2, 0, 1]


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_a_worker_on_part_of_a_grid_runs_only_its_cells_and_leaves_the_rest_waiting(tmp_path: Path, kind: str) -> None:
    """Cells the whole grid enqueued stay waiting for a worker whose grid holds them (``--policies stateless``)."""
    storage = str(tmp_path / "grid.log") if kind == "journal" else f"sqlite:///{tmp_path / 'grid.db'}"
    every = [{"x": x} for x in range(4)]
    whole = Grid(storage, "part", every)
    assert whole.status().waiting == 4
    calls = []
    part = Grid(storage, "part", every[2:])
    assert part.work(lambda cell: calls.append(cell["x"]) or cell) == 2
    assert calls == [2, 3]
    assert Grid(storage, "part", every, enqueue=False).status() == GridStatus(4, 2, 0, 2, 0)
    assert whole.work(lambda cell: calls.append(cell["x"]) or cell) == 2
    assert calls == [2, 3, 0, 1]


def test_a_stale_row_s_cell_runs_again_and_its_new_row_replaces_it(tmp_path: Path) -> None:
    """A row made under settings changed since (``stale``) does not count as done; the rest are not rerun."""
    storage = str(tmp_path / "grid.log")
    cells = [{"x": x} for x in range(3)]
    Grid(storage, "stale", cells).work(lambda cell: {"x": cell["x"], "recipe": "old"})
    stale_x1 = Grid(storage, "stale", cells, stale=lambda row: row["x"] == 1 and row["recipe"] == "old")
    assert stale_x1.status() == GridStatus(3, 2, 0, 1, 0)
    assert stale_x1.stale_rows() == [{"x": 1, "recipe": "old"}]
    calls = []
    assert stale_x1.work(lambda cell: calls.append(cell["x"]) or {"x": cell["x"], "recipe": "new"}) == 1
    assert calls == [1] and stale_x1.stale_rows() == []
    assert [row["recipe"] for row in stale_x1.rows()] == ["old", "new", "old"]
    assert stale_x1.work(lambda cell: calls.append(cell["x"]) or cell) == 0
