"""The worker pool: ready work first in first out, timed work at its instant, idle waits."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from gnomon.engine.pool import WorkerPool


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    pool = WorkerPool(3, name="test-worker")
    pool.start()
    yield pool
    pool.shutdown()


def test_timed_work_runs_at_its_instant_in_time_order(pool: WorkerPool) -> None:
    started: list[tuple[str, float]] = []
    lock = threading.Lock()

    def note(name: str) -> None:
        with lock:
            started.append((name, time.monotonic()))

    now = time.monotonic()
    pool.submit(lambda: note("late"), now + 0.30)
    pool.submit(lambda: note("early"), now + 0.10)  # a new earliest item re-times the wait
    pool.submit(lambda: note("middle"), now + 0.20)
    assert pool.depth == 3
    assert pool.wait_idle(5)
    assert [name for name, _ in started] == ["early", "middle", "late"]
    for (_, at), due in zip(started, (0.10, 0.20, 0.30), strict=True):
        assert at >= now + due


def test_ready_work_does_not_wait_behind_timed_work(pool: WorkerPool) -> None:
    done = threading.Event()
    pool.submit(lambda: None, time.monotonic() + 30)
    pool.submit(done.set)
    assert done.wait(2)
    assert pool.depth == 1  # the timed item is still waiting


def test_a_raising_item_leaves_the_pool_working(pool: WorkerPool) -> None:
    def boom() -> None:
        raise RuntimeError("boom")

    done = threading.Event()
    pool.submit(boom)
    pool.submit(done.set)
    assert done.wait(2)
    assert pool.wait_idle(2)


def test_wait_idle_reports_work_still_running() -> None:
    pool = WorkerPool(1)
    pool.start()
    release = threading.Event()
    pool.submit(lambda: release.wait(5) and None)
    assert not pool.wait_idle(0.05)
    release.set()
    assert pool.wait_idle(2)
    pool.shutdown()


def test_behind_tells_whether_due_work_waits_for_a_worker() -> None:
    pool = WorkerPool(1, name="test-worker")
    pool.start()
    try:
        running, release = threading.Event(), threading.Event()

        def busy() -> None:
            running.set()
            release.wait(5)

        pool.submit(busy)
        assert running.wait(5)
        assert not pool.behind()  # the one item is being executed
        pool.submit(lambda: None, at=time.monotonic() + 60)
        assert not pool.behind()  # due in a minute: not behind
        pool.submit(lambda: None)
        assert pool.behind()  # ready, and the only worker is busy
        release.set()
        assert pool.wait_idle(0.5) is False  # the timed item is still waiting
        assert not pool.behind()
    finally:
        pool.shutdown()
