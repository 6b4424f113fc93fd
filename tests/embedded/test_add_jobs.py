"""add_jobs: many jobs in one transaction, all or none, each with its audit entry; and the
one-by-one path's existence check inside the write."""

from __future__ import annotations

import pytest

import gnomon
from gnomon.errors import JobExists, ValidationFailed
from tests.e2e.pg import fresh_database
from tests.embedded.conftest import wait_for_run
from tests.engine import targets


def audit_actions(scheduler: gnomon.Scheduler) -> list[tuple[str, str | None]]:
    entries = scheduler.runtime.store.list_audit(limit=1000)
    return sorted((entry.action, entry.target) for entry in entries)


def test_jobs_added_in_bulk_fire(scheduler: gnomon.Scheduler) -> None:
    with scheduler:
        views = scheduler.add_jobs(
            [
                {
                    "func": targets.add,
                    "trigger": "interval",
                    "seconds": 1,
                    "args": [1, 2],
                    "id": "a",
                },
                {"func": "tests.engine.targets:ok", "trigger": {"type": "interval", "seconds": 1}},
                {"func": targets.ok, "id": "now"},  # no trigger: once, now
            ]
        )
        assert views[0].id == "a"
        assert all(view.next_run_time is not None for view in views)
        for view in views:
            wait_for_run(scheduler, view.id)
    assert ("job.add", "a") in audit_actions(scheduler)
    assert len([a for a in audit_actions(scheduler) if a[0] == "job.add"]) == 3


def test_one_bad_item_adds_none_and_every_problem_is_named(scheduler: gnomon.Scheduler) -> None:
    scheduler.add_job(targets.ok, "interval", id="exists", minutes=1)
    with pytest.raises(ValidationFailed) as info:
        scheduler.add_jobs(
            [
                {"func": targets.ok, "trigger": "interval", "minutes": 1, "id": "fine"},
                {"func": targets.ok, "trigger": "interval", "minutes": -1},
                {"trigger": "interval", "minutes": 1},
                {"func": targets.ok, "trigger": "cron", "expression": "*/5 * * * *", "x": 1},
                {"func": targets.ok, "args": [object()]},
                {"func": targets.ok, "replace_existing": True},
            ]
        )
    assert [p.field for p in info.value.problems] == [
        "[1].minutes",
        "[2].func",
        "[3].x",
        "[4].args[0]",
        "[5].replace_existing",
    ]
    assert str(info.value).startswith("invalid jobs, none added")
    with pytest.raises(ValidationFailed, match="given twice"):
        scheduler.add_jobs([{"func": targets.ok, "id": "twin"}, {"func": targets.ok, "id": "twin"}])
    with pytest.raises(JobExists, match="exists"):
        scheduler.add_jobs(
            [
                {"func": targets.ok, "trigger": "interval", "minutes": 1, "id": "new"},
                {"func": targets.ok, "trigger": "interval", "minutes": 1, "id": "exists"},
            ]
        )
    assert [job.id for job in scheduler.get_jobs()] == ["exists"]


def test_replacing_in_bulk(scheduler: gnomon.Scheduler) -> None:
    scheduler.add_job(targets.ok, "interval", id="a", minutes=1)
    views = scheduler.add_jobs(
        [
            {"func": targets.ok, "trigger": "interval", "minutes": 2, "id": "a"},
            {"func": targets.ok, "trigger": "interval", "minutes": 3, "id": "b"},
        ],
        replace_existing=True,
    )
    assert [view.record.trigger["minutes"] for view in views] == [2, 3]
    replaced = [
        e for e in scheduler.runtime.store.list_audit(limit=10) if e.target == "a" and e.before
    ]
    assert replaced and replaced[0].before is not None
    assert replaced[0].before["trigger"]["minutes"] == 1


def test_ten_thousand_jobs_in_one_call_are_one_write_of_the_store(
    scheduler: gnomon.Scheduler,
) -> None:
    # What makes a bulk add fast: one transaction for all of them, with no read per job. (How
    # fast is measured by bench/embedded_add.py, not asserted here: a timed test on a shared
    # machine fails by chance.)
    jobs = [
        {"func": targets.ok, "trigger": "interval", "hours": 1, "id": f"job-{i:05}"}
        for i in range(10_000)
    ]
    scheduler.add_jobs(jobs[:1])  # the store migrated and the modules imported first
    store = scheduler.runtime.store
    writes: list[int] = []
    reads = 0
    write_jobs, find_job = store.write_jobs, store.find_job

    def counting_writes(batch, *args, **kwargs):  # type: ignore[no-untyped-def]
        writes.append(len(batch))
        return write_jobs(batch, *args, **kwargs)

    def counting_reads(job_id: str) -> object:
        nonlocal reads
        reads += 1
        return find_job(job_id)

    store.write_jobs = counting_writes  # type: ignore[method-assign,assignment]
    store.find_job = counting_reads  # type: ignore[method-assign,assignment]
    views = scheduler.add_jobs(jobs[1:])
    assert len(views) == 9_999
    assert writes == [9_999] and reads == 0
    assert len(scheduler.get_jobs()) == 10_000


def test_one_by_one_an_existing_id_is_refused_in_the_write(scheduler: gnomon.Scheduler) -> None:
    scheduler.add_job(targets.ok, "interval", id="a", minutes=1)
    reads = 0
    store = scheduler.runtime.store
    find_job = store.find_job

    def counting(job_id: str) -> object:
        nonlocal reads
        reads += 1
        return find_job(job_id)

    store.find_job = counting  # type: ignore[method-assign]
    with pytest.raises(JobExists):
        scheduler.add_job(targets.ok, "interval", id="a", minutes=1)
    scheduler.add_job(targets.ok, "interval", id="b", minutes=1)
    assert reads == 0  # no read before each write: the write checks


@pytest.mark.postgres
def test_jobs_added_at_run_time_fire_on_postgresql() -> None:
    with fresh_database("gnomon_embed") as url:
        scheduler = gnomon.Scheduler(env={}, store_url=url, timezone="UTC")
        try:
            with scheduler:
                scheduler.add_job(targets.ok, "interval", seconds=1, id="one")
                scheduler.add_jobs(
                    [{"func": targets.add, "args": [1, 2], "id": f"bulk-{i}"} for i in range(3)]
                )
                scheduler.scheduled_job("cron", expression="* * * * * *", id="deco")(targets.ok)
                for job_id in ("one", "bulk-0", "bulk-2", "deco"):
                    wait_for_run(scheduler, job_id)
        finally:
            scheduler.shutdown()
