"""Wall-clock steps on a running scheduler: firing goes on, nothing fires twice, nothing is lost.

A real scheduler on a real store, with every reader of the wall clock (the engine, and on SQLite
the store's lease fence and heartbeats) on one clock the test steps by 30 s and by an hour, while
monotonic time runs on. libfaketime cannot do this under Python 3.11 (its sleeps fail or hang).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gnomon.domain import JobDefinition, JobKind, JobRecord, RunStatus, utcnow
from gnomon.engine.scheduler import Scheduler, SchedulerOptions
from gnomon.store.base import JobWrite
from gnomon.store.sql import SqlStore
from gnomon.triggers import parse_trigger
from tests.e2e.pg import fresh_database
from tests.e2e.procs import wait_for

TTL = 2.0
JOBS = ("a", "b", "c")


class SteppedClock:
    """The real wall clock plus an offset the test steps."""

    def __init__(self) -> None:
        self._offset = timedelta()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return utcnow() + self._offset

    def step(self, seconds: float) -> None:
        with self._lock:
            self._offset += timedelta(seconds=seconds)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stepped(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[SqlStore, SteppedClock]]:
    clock = SteppedClock()
    if request.param == "sqlite":
        store = SqlStore(f"sqlite:///{tmp_path / 'gnomon.db'}", clock=clock.now)
        store.upgrade()
        yield store, clock
        store.close()
        return
    with fresh_database("gnomon_clock") as url:
        store = SqlStore(url)  # the server's clock judges leases; only the engine's is stepped
        store.upgrade()
        yield store, clock
        store.close()


def add_jobs(store: SqlStore, now: datetime) -> None:
    writes = []
    for job_id in JOBS:
        trigger = parse_trigger(
            {"trigger_type": "interval", "seconds": 1}, default_timezone="UTC", now=now
        )
        definition = JobDefinition(
            id=job_id,
            name=job_id,
            trigger=trigger.to_spec(),
            kind=JobKind.PYTHON,
            target="tests.engine.targets:ok",
        )
        record = JobRecord(
            definition=definition,
            trigger=definition.trigger,
            next_fire_time=trigger.next_fire_time(now),
        )
        writes.append(JobWrite(record))
    store.write_jobs(writes)


def started_runs(store: SqlStore, job_id: str) -> int:
    items = store.list_runs(job_id=job_id, limit=500).items
    return sum(1 for r in items if r.started_at is not None)


def seconds_until_every_job_runs_again(store: SqlStore) -> float:
    before = {job_id: started_runs(store, job_id) for job_id in JOBS}
    started = time.monotonic()
    wait_for(
        lambda: all(started_runs(store, j) > before[j] for j in JOBS),
        timeout=4 * TTL + 5,
        what="every job to run again after the step",
        every=0.05,
    )
    return time.monotonic() - started


def test_firing_goes_on_through_wall_clock_steps_forward_and_back(
    stepped: tuple[SqlStore, SteppedClock],
) -> None:
    store, clock = stepped
    add_jobs(store, clock.now())
    options = SchedulerOptions(lease_ttl=TTL, poll_interval=0.2, shutdown_grace=5)
    scheduler = Scheduler(store, options, clock=clock.now)
    scheduler.start()
    resumed: dict[str, float] = {}
    try:
        seconds_until_every_job_runs_again(store)
        for name, step in (("+30 s", 30), ("-30 s", -30), ("+1 h", 3600), ("-1 h", -3600)):
            clock.step(step)
            resumed[name] = seconds_until_every_job_runs_again(store)
        time.sleep(1.5)
        runs = store.list_runs(limit=500).items
    finally:
        scheduler.stop(grace=5)
    print("\nclock steps, seconds until every job ran again:", resumed)
    # Firing went on within two lease times of each step.
    assert all(seconds <= 2 * TTL for seconds in resumed.values()), resumed
    # Nothing was left behind: every run but the last second's is final. (Fires claimed ahead
    # when the scheduler stops stay queued for the next leader to adopt.)
    latest = max(r.started_at for r in runs if r.started_at is not None)
    settled = [r for r in runs if (r.scheduled_for or latest) < latest - timedelta(seconds=1)]
    assert all(r.status.is_final for r in settled), [r for r in settled if not r.status.is_final]
    ran = [r for r in runs if r.started_at is not None]
    # Every run that started ran to success, but on SQLite (whose lease the step moves too) a
    # run committed to start just before a step, whose node then gave the lease up and took
    # it again: that one was never run, and says so.
    for r in ran:
        assert r.status is RunStatus.SUCCEEDED or (
            r.status is RunStatus.INTERRUPTED and "lease" in (r.reason or "")
        ), r
    for job_id in JOBS:
        times = [r.scheduled_for for r in runs if r.job_id == job_id]
        assert len(times) == len(set(times))  # never two records of one fire time
    # The hour skipped forward is accounted for: late fire times are missed, not silent.
    # (Fires claimed just before that step came due an hour late by the new clock: missed too.)
    missed = [r for r in runs if r.status is RunStatus.MISSED]
    for job_id in JOBS:
        assert any(r.fire_count > 3000 for r in missed if r.job_id == job_id), job_id
    assert all(r.reason for r in missed)
