"""Runs sent to Celery workers, in the store on SQLite and PostgreSQL: a worker's start is a
guarded transition that only one delivery of a run can win, judged like a leader's start."""

from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta
from typing import Any

import pytest

from gnomon.domain import Executor, JobRecord, Node, RunStatus, TriggerSource, utcnow
from gnomon.store.base import LeaseLost
from gnomon.store.sql import SqlStore
from tests.store.test_store_contract import add_job, job, run
from tests.store.test_store_lifecycle import lease


def add_celery_job(store: SqlStore, job_id: str = "backup", **changes: Any) -> JobRecord:
    base = job(job_id)
    definition = dataclasses.replace(
        base.definition, executor=Executor.CELERY, queue="reports", **changes
    )
    return add_job(store, job_id, definition=definition)


def beat(store: SqlStore, *node_ids: str) -> None:
    now = store.current_time()
    for node_id in node_ids:
        store.heartbeat(Node(node_id, "host", 1, now, now, roles=("worker",)))


def test_a_worker_starts_a_sent_run_once_and_a_second_delivery_is_refused(
    store: SqlStore,
) -> None:
    add_celery_job(store)
    beat(store, "w1", "w2")
    now = utcnow()
    sent = store.add_run(run(scheduled_for=now, node="leader"))
    first = store.start_on_worker(sent.id, "w1", now)
    assert first.status is RunStatus.RUNNING
    assert first.run is not None and first.run.node == "w1"
    again = store.start_on_worker(sent.id, "w1", now)
    other = store.start_on_worker(sent.id, "w2", now)
    assert again.status is None and other.status is None
    stored = store.get_run(sent.id)
    assert stored.status is RunStatus.RUNNING and stored.node == "w1"
    assert stored.started_at == now


def test_of_many_workers_taking_one_run_at_once_exactly_one_starts_it(store: SqlStore) -> None:
    add_celery_job(store, max_instances=10)
    workers = [f"w{i}" for i in range(8)]
    beat(store, *workers)
    now = utcnow()
    sent = store.add_run(run(scheduled_for=now, node="leader"))
    results: dict[str, RunStatus | None] = {}
    gate = threading.Barrier(len(workers))

    def take(worker: str) -> None:
        gate.wait()
        results[worker] = store.start_on_worker(sent.id, worker, now).status

    threads = [threading.Thread(target=take, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert list(results.values()).count(RunStatus.RUNNING) == 1
    assert list(results.values()).count(None) == len(workers) - 1
    (winner,) = [w for w, status in results.items() if status is RunStatus.RUNNING]
    assert store.get_run(sent.id).node == winner


def test_max_instances_holds_across_workers(store: SqlStore) -> None:
    add_celery_job(store, max_instances=1)
    beat(store, "w1", "w2")
    now = utcnow()
    first = store.add_run(run(scheduled_for=now, node="leader"))
    second = store.add_run(run(scheduled_for=now + timedelta(seconds=1), node="leader"))
    assert store.start_on_worker(first.id, "w1", now).status is RunStatus.RUNNING
    over = store.start_on_worker(second.id, "w2", now + timedelta(seconds=1))
    assert over.status is RunStatus.SKIPPED
    skipped = store.get_run(second.id)
    assert skipped.status is RunStatus.SKIPPED and skipped.reason == "max_instances"


def test_two_workers_at_once_never_both_take_a_jobs_last_slot(store: SqlStore) -> None:
    add_celery_job(store, max_instances=1)
    workers = [f"w{i}" for i in range(6)]
    beat(store, *workers)
    now = utcnow()
    sent = [
        store.add_run(run(scheduled_for=now - timedelta(seconds=i), node="leader"))
        for i in range(len(workers))
    ]
    gate = threading.Barrier(len(workers))
    outcomes: list[RunStatus | None] = []

    def take(worker: str, run_id: str) -> None:
        gate.wait()
        outcomes.append(store.start_on_worker(run_id, worker, now).status)

    threads = [
        threading.Thread(target=take, args=(w, r.id)) for w, r in zip(workers, sent, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count(RunStatus.RUNNING) == 1
    assert outcomes.count(RunStatus.SKIPPED) == len(workers) - 1


def test_a_worker_refuses_runs_no_leader_has_taken_or_that_do_not_exist(
    store: SqlStore,
) -> None:
    add_celery_job(store)
    beat(store, "w1")
    now = utcnow()
    untaken = store.add_run(run(scheduled_for=None, queued_at=now))
    assert store.start_on_worker(untaken.id, "w1", now).status is None
    assert store.start_on_worker("not-a-run", "w1", now).status is None
    assert store.start_on_worker("x" * 500, "w1", now).status is None
    assert store.get_run(untaken.id).status is RunStatus.QUEUED


def test_a_worker_closes_runs_that_should_not_start(store: SqlStore) -> None:
    add_celery_job(store, max_instances=5, misfire_grace_time=30)
    beat(store, "w1")
    now = utcnow()
    late = store.add_run(run(scheduled_for=now - timedelta(seconds=31), node="leader"))
    cancelled = store.add_run(run(scheduled_for=now, node="leader", cancel_requested=True))
    assert store.start_on_worker(late.id, "w1", now).status is RunStatus.MISSED
    missed = store.get_run(late.id)
    assert missed.reason == "overloaded" and missed.node == "leader"
    assert store.start_on_worker(cancelled.id, "w1", now).status is RunStatus.CANCELLED
    store.write_jobs([_pending_pause(store)])
    paused = store.add_run(run(scheduled_for=now + timedelta(seconds=1), node="leader"))
    manual = store.add_run(
        run(scheduled_for=None, queued_at=now, node="leader").replace(
            trigger_source=TriggerSource.MANUAL
        )
    )
    assert store.start_on_worker(paused.id, "w1", now).status is RunStatus.SKIPPED
    assert store.get_run(paused.id).reason == "paused"
    # A paused job can still be run by hand.
    assert store.start_on_worker(manual.id, "w1", now).status is RunStatus.RUNNING


def test_pausing_a_job_skips_its_queued_scheduled_runs_and_a_worker_then_refuses_them(
    store: SqlStore,
) -> None:
    add_celery_job(store, max_instances=5)
    beat(store, "w1")
    now = utcnow()
    sent = [
        store.add_run(run(scheduled_for=now + timedelta(seconds=i), node="leader"))
        for i in range(3)
    ]
    running = store.add_run(run(scheduled_for=now - timedelta(seconds=1), node="leader"))
    assert store.start_on_worker(running.id, "w1", now).status is RunStatus.RUNNING
    manual = store.add_run(
        run(scheduled_for=None, queued_at=now, node="leader").replace(
            trigger_source=TriggerSource.MANUAL
        )
    )
    store.write_jobs([_pending_pause(store)])
    for queued in sent:
        skipped = store.get_run(queued.id)
        assert (skipped.status, skipped.reason) == (RunStatus.SKIPPED, "paused")
        assert skipped.started_at is None and skipped.finished_at is not None
        assert skipped.error_message == "the job was paused before this run started"
        # Its message reaches a worker later: refused, not run.
        assert store.start_on_worker(queued.id, "w1", now).status is None
    assert store.get_run(running.id).status is RunStatus.RUNNING  # ends as it would
    assert store.get_run(manual.id).status is RunStatus.QUEUED  # a paused job runs by hand
    # Written again while paused (a reload keeping the pause): nothing more is touched.
    store.write_jobs([_pending_pause(store)])
    assert store.get_run(manual.id).status is RunStatus.QUEUED


def _pending_pause(store: SqlStore) -> Any:
    from gnomon.store.base import JobWrite

    record = store.get_job("backup")
    return JobWrite(record.replace(paused=True), expected_revision=record.revision)


def test_what_a_leader_may_send_is_judged_under_its_lease(store: SqlStore) -> None:
    add_celery_job(store)
    fence = lease(store, "n1")
    now = utcnow()
    mine = store.add_run(run(scheduled_for=now, node="n1"))
    theirs = store.add_run(run(scheduled_for=now + timedelta(seconds=1), node="n2"))
    assert store.dispatchable([mine.id, theirs.id], "n1", fence) == {mine.id}
    store.release_lease("scheduler", "n1")
    lease(store, "n2")
    with pytest.raises(LeaseLost):
        store.dispatchable([mine.id], "n1", fence)


def test_the_grace_is_judged_on_the_stores_clock_not_the_workers(store: SqlStore) -> None:
    add_celery_job(store, misfire_grace_time=30)
    beat(store, "w1", "w2")
    now = store.current_time()
    on_time = store.add_run(run(scheduled_for=now, node="leader"))
    late = store.add_run(run(scheduled_for=now - timedelta(seconds=60), node="leader"))
    # A worker whose clock runs an hour ahead still starts a run that is on time ...
    ahead = store.start_on_worker(on_time.id, "w1", now + timedelta(hours=1))
    assert ahead.status is RunStatus.RUNNING
    # ... and one whose clock is an hour behind does not start a run past its grace.
    behind = store.start_on_worker(late.id, "w2", now - timedelta(hours=1))
    assert behind.status is RunStatus.MISSED


def test_a_batch_of_starts_judges_max_instances_across_its_own_runs(store: SqlStore) -> None:
    add_celery_job(store, max_instances=2)
    add_celery_job(store, "other", max_instances=1)
    beat(store, "w1", "w2")
    now = utcnow()
    elsewhere = store.add_run(run(scheduled_for=now - timedelta(seconds=9), node="leader"))
    assert store.start_on_worker(elsewhere.id, "w2", now).status is RunStatus.RUNNING
    sent = [
        store.add_run(run(scheduled_for=now - timedelta(seconds=i), node="leader"))
        for i in range(3)
    ]
    retry = store.add_run(
        run(scheduled_for=None, queued_at=now, node="leader").replace(
            trigger_source=TriggerSource.RETRY
        )
    )
    other = store.add_run(run(job_id="other", scheduled_for=now, node="leader"))
    ids = [s.id for s in sent] + [retry.id, other.id]
    results = store.start_on_workers(ids, "w1", now)
    # One slot of two is taken on w2: the batch's first run takes the other, in order.
    assert [r.status for r in results] == [
        RunStatus.RUNNING,
        RunStatus.SKIPPED,
        RunStatus.SKIPPED,
        None,
        RunStatus.RUNNING,
    ]
    assert store.get_run(sent[0].id).node == "w1"
    assert [store.get_run(s.id).reason for s in sent[1:]] == ["max_instances"] * 2
    released = store.get_run(retry.id)
    assert released.status is RunStatus.QUEUED and released.node is None
    assert results[3].why == "a retry over max_instances: it waits"


def test_a_run_delivered_twice_in_one_batch_starts_once(store: SqlStore) -> None:
    add_celery_job(store, max_instances=5)
    beat(store, "w1")
    now = utcnow()
    first = store.add_run(run(scheduled_for=now, node="leader"))
    second = store.add_run(run(scheduled_for=now - timedelta(seconds=1), node="leader"))
    results = store.start_on_workers([first.id, second.id, first.id], "w1", now)
    assert [r.status for r in results] == [RunStatus.RUNNING, RunStatus.RUNNING, None]
    assert results[2].why == "it was delivered twice"
    for started in (first, second):
        stored = store.get_run(started.id)
        assert stored.status is RunStatus.RUNNING and stored.node == "w1"
    # And again in a later batch: refused, still running once.
    assert [r.status for r in store.start_on_workers([first.id], "w1", now)] == [None]


def test_a_batch_closes_and_refuses_runs_as_single_starts_do(store: SqlStore) -> None:
    add_celery_job(store, max_instances=5, misfire_grace_time=30)
    beat(store, "w1")
    now = utcnow()
    late = store.add_run(run(scheduled_for=now - timedelta(seconds=31), node="leader"))
    cancelled = store.add_run(run(scheduled_for=now, node="leader", cancel_requested=True))
    untaken = store.add_run(run(scheduled_for=None, queued_at=now))
    on_time = store.add_run(run(scheduled_for=now - timedelta(seconds=2), node="leader"))
    ids = [late.id, "not-a-run", cancelled.id, "x" * 500, untaken.id, on_time.id]
    results = store.start_on_workers(ids, "w1", now)
    assert [r.status for r in results] == [
        RunStatus.MISSED,
        None,
        RunStatus.CANCELLED,
        None,
        None,
        RunStatus.RUNNING,
    ]
    assert [r.why for r in results[1:5:2]] == ["no such run", "no such run"]
    assert results[4].why == "it is queued and untaken"
    assert store.get_run(late.id).reason == "overloaded"
    assert store.get_run(untaken.id).status is RunStatus.QUEUED
    assert store.start_on_workers([], "w1", now) == []
