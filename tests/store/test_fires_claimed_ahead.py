"""Fires the scheduler claimed ahead of their time are its business until that time: what people
see of a job (next run time, state, running count, last run, its runs) leaves them out, on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gnomon.domain import RunStatus
from gnomon.services.jobs import JobService
from gnomon.services.runs import RunService
from gnomon.services.views import Actor, JobState
from gnomon.store.base import RunsAhead
from gnomon.store.sql import SqlStore
from tests.store.test_store_contract import add_job, run

SOON = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)  # a fire claimed ahead, not due yet
NOW = SOON - timedelta(seconds=0.6)
LATER = SOON + timedelta(minutes=1)  # the next fire time the claim wrote (jobs fire minutely)


def setup(store: SqlStore) -> dict[str, str]:
    """`every`: a job with a finished run and its next fire claimed (queued); `once`: a date
    job whose only fire was claimed and already moved to running just ahead of its time."""
    add_job(store, "every", next_fire_time=LATER)
    add_job(store, "once", next_fire_time=None)
    done = run("every", NOW - timedelta(minutes=1), status=RunStatus.SUCCEEDED)
    queued = run("every", SOON, queued_at=NOW - timedelta(seconds=0.4))
    started = run("once", SOON, status=RunStatus.RUNNING, started_at=SOON)
    for r in (done, queued, started):
        store.add_run(r)
    return {"done": done.id, "queued": queued.id, "started": started.id}


def test_the_store_tells_the_fires_claimed_ahead_of_an_instant(store: SqlStore) -> None:
    ids = setup(store)
    assert store.runs_ahead(NOW) == {
        "every": RunsAhead(SOON, frozenset({ids["queued"]}), 0),
        "once": RunsAhead(SOON, frozenset({ids["started"]}), 1),
    }
    assert store.runs_ahead(NOW, "once") == {
        "once": RunsAhead(SOON, frozenset({ids["started"]}), 1)
    }
    assert store.runs_ahead(SOON) == {}  # their time has come
    assert store.latest_runs(["every"], as_of=NOW)["every"].id == ids["done"]
    assert store.latest_runs(["every"])["every"].id == ids["queued"]
    recent, running = store.job_runs("once", 10, as_of=NOW)
    assert (recent, running) == ([], 0)
    assert store.job_runs("once", 10, as_of=SOON)[1] == 1
    page = store.list_runs(job_id="every", as_of=NOW)
    assert [r.id for r in page.items] == [ids["done"]]


def test_people_see_a_job_as_it_stands_until_a_fire_claimed_ahead_is_due(
    store: SqlStore,
) -> None:
    ids = setup(store)
    clock = [NOW]
    jobs = JobService(store, declarations=list, clock=lambda: clock[0])
    runs = RunService(store, clock=lambda: clock[0])

    listed = {view.id: view for view in jobs.list_jobs()}
    every, once = listed["every"], listed["once"]
    assert every.record.next_fire_time == SOON  # not LATER: SOON has not run yet
    assert every.last_run is not None and every.last_run.id == ids["done"]
    assert once.state is JobState.SCHEDULED  # not finished before its only fire runs
    assert once.record.next_fire_time == SOON
    assert (once.running, once.last_run) == (0, None)
    detail = jobs.get_job("once")
    assert (detail.record.next_fire_time, detail.running, detail.recent_runs) == (SOON, 0, [])
    assert detail.next_run_times[0] == SOON
    assert [r.id for r in runs.list_runs(job_id="every").items] == [ids["done"]]
    assert jobs.job_listing() is jobs.job_listing()  # identity kept while nothing changes

    clock[0] = SOON  # the fires' time has come: they are what they are
    listed = {view.id: view for view in jobs.list_jobs()}
    assert listed["every"].record.next_fire_time == LATER
    assert listed["every"].last_run is not None
    assert listed["every"].last_run.id == ids["queued"]
    assert listed["once"].state is JobState.FINISHED
    assert listed["once"].running == 1
    assert jobs.get_job("once").running == 1
    assert [r.id for r in runs.list_runs(job_id="every").items] == [ids["queued"], ids["done"]]


def test_a_fire_claimed_under_an_earlier_trigger_is_not_the_next_run(store: SqlStore) -> None:
    setup(store)
    clock = [NOW]
    jobs = JobService(store, declarations=list, clock=lambda: clock[0])
    hourly = {"trigger_type": "cron", "cron_expression": "0 30 * * * * *", "timezone": "UTC"}
    jobs.update_trigger("every", hourly, Actor("tester"))
    at_half_past = SOON + timedelta(minutes=30)
    assert jobs.get_job("every").record.next_fire_time == at_half_past
    listed = {view.id: view for view in jobs.list_jobs()}
    assert listed["every"].record.next_fire_time == at_half_past
