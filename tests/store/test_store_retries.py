"""Retries in the store, on SQLite and PostgreSQL: queued with the failed attempt's final status in
one transaction, telling no channel; started only once due, while the job is not paused and has
a free max_instances slot; cancelled with the run they retry; never taken for an orphan."""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta

import pytest

from gnomon.alerts import DeliveryStatus
from gnomon.domain import (
    Alerting,
    Event,
    RetryPolicy,
    Route,
    Run,
    RunStatus,
    RunUpdate,
    TriggerSource,
    utcnow,
)
from gnomon.engine.planning import new_run_id
from gnomon.store.base import JobWrite, RunStart, StartResult
from gnomon.store.sql import SqlStore
from tests.store.test_store_contract import add_job, job, run

ROUTES = (Route("ops", frozenset({Event.FAILED, Event.RECOVERED})),)


def retry_of(failed: Run, wait: float) -> Run:
    now = utcnow()
    return Run(
        id=new_run_id(),
        job_id=failed.job_id,
        trigger_source=TriggerSource.RETRY,
        status=RunStatus.QUEUED,
        queued_at=now,
        attempt=failed.attempt + 1,
        retry_of=failed.id,
        not_before=now + timedelta(seconds=wait),
    )


def running(store: SqlStore, job_id: str = "backup", node: str | None = None) -> Run:
    now = utcnow()
    started = run(
        job_id, now - timedelta(seconds=1), status=RunStatus.RUNNING, started_at=now, node=node
    )
    store.add_run(started)
    return started


def fail(store: SqlStore, attempt: Run, retry: Run | None) -> None:
    update = RunUpdate(
        run_id=attempt.id,
        status=RunStatus.FAILED,
        finished_at=utcnow(),
        alerting=Alerting(attempt.job_id, ROUTES),
        retry=retry,
    )
    assert store.update_runs([update]) == []


def events(store: SqlStore) -> list[tuple[Event, str | None]]:
    return sorted((d.event, d.run_id) for d in store.list_deliveries(limit=100).items)


def test_a_retried_failure_tells_nobody_and_only_the_fires_outcome_counts(
    store: SqlStore,
) -> None:
    add_job(store, "backup")
    first = running(store)
    retry = retry_of(first, wait=0)
    fail(store, first, retry)
    stored = store.get_run(retry.id)
    assert (stored.status, stored.attempt, stored.retry_of) == (RunStatus.QUEUED, 2, first.id)
    assert stored.trigger_source is TriggerSource.RETRY
    assert events(store) == []  # the fire is not over: its retry may still succeed

    [taken] = store.claim_queued_manual_runs("n1")
    assert taken.id == retry.id
    store.update_runs([RunUpdate(retry.id, RunStatus.RUNNING, started_at=utcnow())])
    success = RunUpdate(
        retry.id, RunStatus.SUCCEEDED, finished_at=utcnow(), alerting=Alerting("backup", ROUTES)
    )
    assert store.update_runs([success]) == []
    # Its first attempt failed, but was retried: that is no earlier outcome, so no `recovered`.
    assert events(store) == []

    # The next fire fails for good (no retry left): one `failed`, for it.
    last = running(store)
    fail(store, last, None)
    assert events(store) == [(Event.FAILED, last.id)]
    assert {d.status for d in store.list_deliveries().items} == {DeliveryStatus.PENDING}


def test_a_retry_starts_once_due_unpaused_and_with_a_free_slot(store: SqlStore) -> None:
    record = add_job(store, "backup")
    first = running(store)
    retry = retry_of(first, wait=0.3)
    fail(store, first, retry)
    assert store.claim_queued_manual_runs("n1") == []  # backing off

    time.sleep(0.4)
    going = running(store)  # max_instances is 1 and a run of the job is going
    assert store.claim_queued_manual_runs("n1") == []
    store.update_runs([RunUpdate(going.id, RunStatus.SUCCEEDED, finished_at=utcnow())])

    (paused,) = store.write_jobs([JobWrite(record.replace(paused=True))])
    assert store.claim_queued_manual_runs("n1") == []  # paused: it waits
    store.write_jobs([JobWrite(paused.replace(paused=False))])
    assert [r.id for r in store.claim_queued_manual_runs("n1")] == [retry.id]
    assert store.claim_queued_manual_runs("n2") == []  # taken once


def test_cancelling_a_failed_run_cancels_its_pending_retry_and_orphans_leave_it(
    store: SqlStore,
) -> None:
    add_job(store, "backup")
    first = running(store)
    retry = retry_of(first, wait=60)
    fail(store, first, retry)
    # A node gone does not take the untaken retry down with it.
    assert store.interrupt_runs(utcnow(), "gone", keep_nodes=["n1"]) == []
    assert store.find_retry(first.id) == store.get_run(retry.id)

    store.request_cancel(first.id, utcnow())
    assert store.get_run(first.id).status is RunStatus.FAILED  # final: unchanged
    assert store.get_run(retry.id).status is RunStatus.CANCELLED


def test_a_run_of_a_node_gone_is_retried_when_its_job_retries_interruptions(
    store: SqlStore,
) -> None:
    record = job("backup")
    policy = RetryPolicy(retries=1, backoff=5, on=frozenset({RunStatus.INTERRUPTED}))
    told = (Route("ops", frozenset({Event.INTERRUPTED})),)
    definition = dataclasses.replace(record.definition, retry=policy, notify=told)
    store.write_jobs([JobWrite(record.replace(definition=definition))])
    add_job(store, "other")  # retries nothing
    lost = [running(store, "backup", node="gone"), running(store, "other", node="gone")]

    interrupted = store.interrupt_runs(utcnow(), "its node is gone", keep_nodes=["n1"])
    assert {r.id for r in interrupted} == {r.id for r in lost}
    retry = store.find_retry(lost[0].id)
    assert retry is not None
    assert (retry.status, retry.attempt, retry.node) == (RunStatus.QUEUED, 2, None)
    assert retry.not_before is not None and retry.not_before > utcnow()
    assert store.find_retry(lost[1].id) is None
    assert events(store) == []  # the interruption will be retried: nobody is told yet


def test_a_retry_over_max_instances_at_its_start_goes_back_to_wait(store: SqlStore) -> None:
    add_job(store, "backup")
    first = running(store)
    retry = retry_of(first, wait=0)
    fail(store, first, retry)
    fence = store.acquire_lease("scheduler", "n1", 30)
    assert fence is not None
    [taken] = store.claim_queued_manual_runs("n1", fence=fence)
    # A run of the job still going on n1 (a timed-out thread, say): no slot at its start.
    start = RunStart(taken.id, "backup", max_instances=1, running_here=1)
    result = store.start_runs([start], "n1", fence, utcnow())
    assert result == StartResult(set(), set())  # neither started nor skipped: it waits
    waiting = store.get_run(retry.id)
    assert (waiting.status, waiting.node) == (RunStatus.QUEUED, None)
    assert [r.id for r in store.claim_queued_manual_runs("n1", fence=fence)] == [retry.id]


def test_a_run_cancelled_while_it_fails_is_not_retried_and_its_failure_is_told(
    store: SqlStore,
) -> None:
    add_job(store, "backup")
    first = running(store)
    store.request_cancel(first.id, utcnow())  # the cancel has not reached its node yet
    fail(store, first, retry_of(first, wait=0))
    assert store.find_retry(first.id) is None
    assert events(store) == [(Event.FAILED, first.id)]


def test_an_empty_retry_on_survives_the_store(store: SqlStore) -> None:
    record = job("backup")
    policy = RetryPolicy(retries=3, on=frozenset())
    definition = dataclasses.replace(record.definition, retry=policy)
    store.write_jobs([JobWrite(record.replace(definition=definition))])
    assert store.get_job("backup").definition.retry == policy


def test_the_recorder_reports_a_retry_only_once_the_store_accepted_the_failure(
    store: SqlStore,
) -> None:
    from gnomon.engine.recorder import RunRecorder

    add_job(store, "backup")
    add_job(store, "other")
    live = running(store, "backup", node="n1")
    lost = running(store, "other", node="n2")
    # A new leader has recorded the other node's run interrupted before its failure came in.
    assert [r.id for r in store.interrupt_runs(utcnow(), "its node was lost", nodes=["n2"])] == [
        lost.id
    ]
    flushed: list[RunUpdate] = []
    refused: list[RunUpdate] = []
    recorder = RunRecorder(store, on_flushed=flushed.extend, on_refused=refused.extend)
    for attempt in (live, lost):
        retry = retry_of(attempt, wait=30)
        recorder.record(RunUpdate(attempt.id, RunStatus.FAILED, finished_at=utcnow(), retry=retry))
    recorder.flush()
    assert [u.run_id for u in flushed] == [live.id]  # what the scheduler counts and logs
    assert [u.run_id for u in refused] == [lost.id]
    assert store.find_retry(live.id) is not None
    assert store.find_retry(lost.id) is None


# --- PostgreSQL: the backoff on the server's clock ------------------------------------------------
# Nodes' clocks differ; the server's is the one leases and heartbeats are judged by. SQLite has
# one machine, so one clock, and keeps not_before as the node computed it.
on_postgres = pytest.mark.parametrize(
    "store_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
HOUR = timedelta(hours=1)


def fail_on_node_clock(store: SqlStore, attempt: Run, skew: timedelta, wait: float) -> Run:
    """Fail `attempt` as a node whose clock is `skew` off the server's records it: its
    finished_at, and its retry's backoff (`wait` seconds) counted from it."""
    ended = utcnow() + skew
    retry = dataclasses.replace(
        retry_of(attempt, wait), queued_at=ended, not_before=ended + timedelta(seconds=wait)
    )
    failed = RunUpdate(attempt.id, RunStatus.FAILED, finished_at=ended, retry=retry)
    assert store.update_runs([failed]) == []
    return retry


@on_postgres
@pytest.mark.parametrize("skew", [-HOUR, HOUR], ids=["node_behind", "node_ahead"])
def test_on_postgresql_a_retry_waits_its_backoff_from_the_servers_now_whatever_the_nodes_clock(
    store: SqlStore, skew: timedelta
) -> None:
    add_job(store, "backup")
    before = store.current_time()
    retry = fail_on_node_clock(store, running(store), skew, wait=0.5)
    after = store.current_time()
    stored = store.get_run(retry.id).not_before
    assert stored is not None
    assert before + timedelta(seconds=0.5) <= stored <= after + timedelta(seconds=0.5)
    assert store.claim_queued_manual_runs("n1") == []  # backing off, though the node is behind
    time.sleep(0.7)
    # ... and due now, though the node is an hour ahead.
    assert [r.id for r in store.claim_queued_manual_runs("n1")] == [retry.id]


@on_postgres
def test_on_postgresql_a_leader_whose_clock_is_ahead_neither_starts_nor_counts_a_retry_early(
    store_url: str, store: SqlStore
) -> None:
    add_job(store, "backup")
    retry = fail_on_node_clock(store, running(store), timedelta(0), wait=60)
    ahead = SqlStore(store_url, clock=lambda: utcnow() + HOUR)
    try:
        assert ahead.claim_queued_manual_runs("n1") == []
        # Waiting out its backoff, it holds no max_instances slot: a manual run is admitted.
        manual = run("backup", None, queued_at=utcnow())
        ahead.add_manual_run(manual, max_instances=1, now=utcnow() + HOUR)
    finally:
        ahead.close()
    assert store.get_run(retry.id).node is None


@on_postgres
def test_on_postgresql_the_orphan_checks_retry_waits_its_backoff_from_the_servers_now(
    store: SqlStore,
) -> None:
    record = job("backup")
    policy = RetryPolicy(retries=1, backoff=5, on=frozenset({RunStatus.INTERRUPTED}))
    definition = dataclasses.replace(record.definition, retry=policy)
    store.write_jobs([JobWrite(record.replace(definition=definition))])
    lost = running(store, "backup", node="gone")
    before = store.current_time()
    # The node checking for orphans has a clock an hour behind the server's.
    store.interrupt_runs(utcnow() - HOUR, "its node is gone", keep_nodes=["n1"])
    retry = store.find_retry(lost.id)
    assert retry is not None and retry.not_before is not None
    assert before + timedelta(seconds=5) <= retry.not_before <= utcnow() + timedelta(seconds=6)
    assert store.claim_queued_manual_runs("n1") == []
