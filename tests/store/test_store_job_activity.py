"""The store reads behind the fast job list and job page, on SQLite and PostgreSQL: the same
answers as the general reads they replace, and never a stale one."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from gnomon.domain import RunStatus, RunUpdate
from gnomon.store.base import JobActivity
from gnomon.store.sql import SqlStore
from tests.store.test_store_contract import add_job, run

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def general_reads(store: SqlStore) -> list[tuple[object, ...]]:
    """What job_activity must equal: list_jobs + active_runs + latest_runs."""
    running = Counter(r.job_id for r in store.active_runs() if r.status == RunStatus.RUNNING)
    latest = store.latest_runs()
    return [
        (
            r.id,
            r.revision,
            r.updated_at,
            r.paused,
            r.next_fire_time,
            running[r.id],
            latest.get(r.id),
        )
        for r in store.list_jobs()
    ]


def as_tuples(activity: object) -> list[tuple[object, ...]]:
    assert isinstance(activity, tuple)
    assert all(isinstance(a, JobActivity) for a in activity)
    return [tuple(a) for a in activity]


def test_job_activity_matches_the_general_reads_after_every_change(store: SqlStore) -> None:
    assert store.job_activity() == ()
    a = add_job(store, "a", next_fire_time=T0)
    add_job(store, "b", paused=True, next_fire_time=None)
    assert as_tuples(store.job_activity()) == general_reads(store)

    first = run("a", T0, status=RunStatus.RUNNING, started_at=T0)
    store.add_run(first)
    store.add_run(run("a", T0 + timedelta(seconds=1), status=RunStatus.RUNNING))
    store.add_run(run("b", T0, status=RunStatus.FAILED))
    assert as_tuples(store.job_activity()) == general_reads(store)
    assert store.job_activity()[0].running == 2

    store.update_runs([RunUpdate(first.id, status=RunStatus.SUCCEEDED, finished_at=T0)])
    store.set_next_fire_times({"a": (a.revision, T0 + timedelta(hours=1))})
    assert as_tuples(store.job_activity()) == general_reads(store)
    assert store.job_activity()[0].next_fire_time == T0 + timedelta(hours=1)

    store.write_jobs([], delete_ids=["b"])
    assert [x.job_id for x in store.job_activity()] == ["a"]


def test_job_activity_is_the_same_object_until_something_changes(store: SqlStore) -> None:
    add_job(store, "a", next_fire_time=T0)
    first = store.job_activity()
    assert store.job_activity() is first
    store.add_run(run("a", T0))
    second = store.job_activity()
    assert second is not first
    assert second[0].last_run is not None


def test_job_activity_sees_writes_from_another_store_object(store_url: str) -> None:
    reader, writer = SqlStore(store_url), SqlStore(store_url)  # as two processes would
    try:
        record = add_job(writer, "a", next_fire_time=T0)
        assert reader.job_activity()[0].next_fire_time == T0
        writer.set_next_fire_times({"a": (record.revision, T0 + timedelta(minutes=5))})
        assert reader.job_activity()[0].next_fire_time == T0 + timedelta(minutes=5)
    finally:
        reader.close()
        writer.close()


def test_job_runs_matches_list_runs_and_active_runs(store: SqlStore) -> None:
    add_job(store, "a")
    for i in range(12):
        status = RunStatus.RUNNING if i % 5 == 0 else RunStatus.SUCCEEDED
        store.add_run(run("a", T0 + timedelta(minutes=i), status=status))
    store.add_run(run("other", T0, status=RunStatus.RUNNING))
    recent, running = store.job_runs("a", 10)
    assert recent == store.list_runs(job_id="a", limit=10).items
    assert running == sum(1 for r in store.active_runs("a") if r.status == RunStatus.RUNNING)
    assert store.job_runs("missing", 10) == ([], 0)
    # The running count does not depend on how many runs are asked for.
    assert store.job_runs("a", 1) == (recent[:1], running)
    assert store.job_runs("a", 0) == ([], running)
