"""ActiveRuns on a real SQLite store: what a worker records for a run it may not start."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from gnomon.domain import (
    JobDefinition,
    JobKind,
    JobRecord,
    Lease,
    Run,
    RunStatus,
    TriggerSource,
    utcnow,
)
from gnomon.engine.observe import NullMetrics
from gnomon.engine.planning import new_run_id
from gnomon.engine.pool import WorkerPool
from gnomon.engine.recorder import RunRecorder
from gnomon.engine.runs import ActiveRuns
from gnomon.store.base import JobWrite
from gnomon.store.sql import SqlStore
from tests.e2e.procs import wait_for

TRIGGER = {"type": "interval", "seconds": 1, "timezone": "UTC"}


@pytest.fixture
def store(tmp_path: Path) -> SqlStore:
    store = SqlStore(f"sqlite:///{tmp_path / 'gnomon.db'}")
    store.upgrade()
    return store


@pytest.fixture
def parts(store: SqlStore) -> Iterator[tuple[WorkerPool, RunRecorder]]:
    pool, recorder = WorkerPool(2), RunRecorder(store, interval=0.02)
    pool.start()
    recorder.start()
    yield pool, recorder
    pool.shutdown()
    recorder.stop()


def job(store: SqlStore, grace: int) -> JobRecord:
    definition = JobDefinition(
        id="tick",
        name="tick",
        trigger=TRIGGER,
        kind=JobKind.PYTHON,
        target="tests.engine.targets:ok",
        misfire_grace_time=grace,
    )
    [record] = store.write_jobs([JobWrite(JobRecord(definition=definition, trigger=TRIGGER))])
    return record


def scheduled_run(store: SqlStore, seconds_ago: float) -> Run:
    now = utcnow()
    run = Run(
        id=new_run_id(),
        job_id="tick",
        trigger_source=TriggerSource.SCHEDULED,
        status=RunStatus.QUEUED,
        queued_at=now,
        scheduled_for=now - timedelta(seconds=seconds_ago),
        node="n1",  # claimed by the node whose ActiveRuns the test builds
    )
    return store.add_run(run)


def lease_of(store: SqlStore) -> Callable[[], Lease | None]:
    """This test's node "n1" holds the scheduler lease."""
    lease = store.acquire_lease("scheduler", "n1", 300)
    return lambda: lease


def final(store: SqlStore, run_id: str) -> Run:
    return wait_for(
        lambda: r if (r := store.get_run(run_id)).status.is_final else None,
        timeout=5,
        what="the run's final record",
        every=0.02,
    )


def test_scheduled_run_that_waited_past_the_misfire_grace_is_recorded_missed(
    store: SqlStore, parts: tuple[WorkerPool, RunRecorder]
) -> None:
    pool, recorder = parts
    runs = ActiveRuns(
        store, pool, recorder, NullMetrics(), node_id="n1", clock=utcnow, lease=lease_of(store)
    )
    runs.start_gate()
    record = job(store, grace=2)
    late, on_time = scheduled_run(store, seconds_ago=5), scheduled_run(store, seconds_ago=1)
    runs.start(record, late)
    runs.start(record, on_time)
    missed = final(store, late.id)
    assert missed.status is RunStatus.MISSED and missed.started_at is None
    assert missed.reason == "overloaded"
    assert missed.error_message == "it could not start within the 2s grace after its fire time"
    assert final(store, on_time.id).status is RunStatus.SUCCEEDED


def test_fire_claimed_ahead_starts_only_when_still_due(
    store: SqlStore, parts: tuple[WorkerPool, RunRecorder]
) -> None:
    pool, recorder = parts
    asked: list[str] = []

    def still_due(claimed: JobRecord, run: Run) -> JobRecord | str:
        asked.append(run.id)
        return "the job was paused before this fire time" if len(asked) == 1 else claimed

    runs = ActiveRuns(
        store,
        pool,
        recorder,
        NullMetrics(),
        node_id="n1",
        clock=utcnow,
        lease=lease_of(store),
        still_due=still_due,
    )
    runs.start_gate()
    record = job(store, grace=60)
    first, second = scheduled_run(store, 0), scheduled_run(store, 0)
    soon = utcnow() + timedelta(seconds=0.1)
    runs.start(record, first, at=soon)
    skipped = final(store, first.id)
    runs.start(record, second, at=soon)
    assert skipped.status is RunStatus.SKIPPED and skipped.reason == "job_changed"
    assert skipped.error_message == "the job was paused before this fire time"
    assert final(store, second.id).status is RunStatus.SUCCEEDED
    assert asked == [first.id, second.id]
    runs.settle()
    assert runs.count("tick") == 0
