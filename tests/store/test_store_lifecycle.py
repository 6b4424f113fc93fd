"""The fenced run lifecycle in the store, on SQLite and PostgreSQL: starts under the lease,
max_instances across nodes, adoption by a new leader, manual runs admitted atomically."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from gnomon.domain import Lease, Node, RunStatus, utcnow
from gnomon.errors import JobAlreadyRunning
from gnomon.store.base import LeaseLost, RunStart
from gnomon.store.sql import SqlStore
from tests.store.test_store_contract import T0, add_job, run
from tests.store.test_store_deliveries import statements


def lease(store: SqlStore, holder: str) -> Lease:
    taken = store.acquire_lease("scheduler", holder, 30)
    assert taken is not None
    return taken


def test_a_node_starts_its_queued_runs_while_it_holds_the_lease(store: SqlStore) -> None:
    add_job(store)
    fence = lease(store, "n1")
    mine = store.add_run(run(scheduled_for=T0, node="n1"))
    theirs = store.add_run(run(scheduled_for=T0 + timedelta(seconds=1), node="n2"))
    ended = store.add_run(
        run(scheduled_for=T0 + timedelta(seconds=2), node="n1", status=RunStatus.CANCELLED)
    )
    result = store.start_runs(
        [RunStart(r.id, r.job_id, 5) for r in (mine, theirs, ended)], "n1", fence, T0
    )
    assert result.started == {mine.id} and result.skipped == set()
    # Not this node's (another owns it) is told apart from already over (nothing to start).
    assert result.ended == {ended.id}
    assert store.get_run(mine.id).status is RunStatus.RUNNING
    assert store.get_run(mine.id).started_at == T0
    assert store.get_run(theirs.id).status is RunStatus.QUEUED
    assert store.get_run(ended.id).status is RunStatus.CANCELLED


def test_a_node_that_lost_the_lease_starts_nothing(store: SqlStore) -> None:
    add_job(store)
    old = lease(store, "n1")
    queued = store.add_run(run(scheduled_for=T0, node="n1"))
    store.release_lease("scheduler", "n1")
    lease(store, "n2")
    with pytest.raises(LeaseLost):
        store.start_runs([RunStart(queued.id, queued.job_id, 1)], "n1", old, T0)
    assert store.get_run(queued.id).status is RunStatus.QUEUED


def test_max_instances_is_judged_across_nodes_when_runs_start(store: SqlStore) -> None:
    add_job(store)
    fence = lease(store, "n2")
    store.add_run(run(scheduled_for=T0, node="n1", status=RunStatus.RUNNING))  # elsewhere
    store.add_run(run(scheduled_for=T0 - timedelta(1), node="gone", status=RunStatus.RUNNING))
    now = store.current_time()
    store.heartbeat(Node("n1", "host", 1, now, now))  # heard from: its run counts
    old = now - timedelta(seconds=60)
    store.heartbeat(Node("gone", "host", 2, old, old))  # silent past the lease time: not
    first = store.add_run(run(scheduled_for=T0 + timedelta(seconds=1), node="n2"))
    second = store.add_run(run(scheduled_for=T0 + timedelta(seconds=2), node="n2"))
    result = store.start_runs(
        [RunStart(r.id, r.job_id, 2) for r in (first, second)], "n2", fence, T0
    )
    assert result.started == {first.id} and result.skipped == {second.id}
    skipped = store.get_run(second.id)
    assert skipped.status is RunStatus.SKIPPED and skipped.reason == "max_instances"


def test_a_new_leader_adopts_every_queued_run_of_other_nodes_and_they_cannot_start_them(
    store: SqlStore,
) -> None:
    add_job(store)
    old = lease(store, "n1")
    claimed = store.add_run(run(scheduled_for=T0, node="n1", lease_token=old.token))
    picked = store.add_run(run(scheduled_for=None, node="n1", lease_token=old.token))
    running = store.add_run(
        run(scheduled_for=T0 + timedelta(seconds=1), node="n1", status=RunStatus.RUNNING)
    )
    untaken = store.add_run(run(scheduled_for=None, queued_at=T0 + timedelta(seconds=2)))
    store.release_lease("scheduler", "n1")
    new = lease(store, "n2")
    adopted = store.adopt_runs("n2", new)
    assert {r.id for r in adopted} == {claimed.id, picked.id}
    assert all(r.node == "n2" and r.lease_token == new.token for r in adopted)
    assert store.get_run(running.id).node == "n1"  # a running run stays its node's
    assert store.get_run(untaken.id).node is None  # picked up as usual, not adopted
    assert store.owned_active_ids("n1") == {running.id: RunStatus.RUNNING}
    # The old node, even if it got the lease back, no longer owns them.
    store.release_lease("scheduler", "n2")
    again = lease(store, "n1")
    result = store.start_runs([RunStart(claimed.id, claimed.job_id, 1)], "n1", again, T0)
    assert result.started == set()


def test_adoption_is_fenced(store: SqlStore) -> None:
    old = lease(store, "n1")
    store.release_lease("scheduler", "n1")
    lease(store, "n2")
    with pytest.raises(LeaseLost):
        store.adopt_runs("n1", old)


def test_manual_runs_are_admitted_against_max_instances_in_one_transaction(
    store: SqlStore,
) -> None:
    add_job(store)
    now = utcnow()
    # A fire claimed ahead of its time does not count; one due now does.
    store.add_run(run(scheduled_for=now + timedelta(seconds=1), node="n1"))
    first = store.add_manual_run(run(scheduled_for=None, queued_at=now), 2, now)
    due = store.add_run(run(scheduled_for=now - timedelta(seconds=1), node="n1"))
    with pytest.raises(JobAlreadyRunning) as refused:
        store.add_manual_run(run(scheduled_for=None, queued_at=now), 2, now)
    assert refused.value.run_id == due.id  # the oldest of the two counted
    assert first.id in {r.id for r in store.active_runs("backup")}


def test_a_run_started_a_moment_after_the_requests_clock_still_counts(store: SqlStore) -> None:
    # The scheduler starts a run with its own reading of the clock, which may come a moment
    # after the one the next run-now request took: that run is running all the same.
    add_job(store)
    now = utcnow()
    later = now + timedelta(milliseconds=5)
    manual = run(scheduled_for=None, queued_at=now - timedelta(seconds=1), node="n1")
    store.add_run(manual.replace(status=RunStatus.RUNNING, started_at=later))
    with pytest.raises(JobAlreadyRunning) as refused:
        store.add_manual_run(run(scheduled_for=None, queued_at=now), 1, now)
    assert refused.value.run_id == manual.id
    scheduled = run(scheduled_for=now - timedelta(seconds=1), node="n1")
    store.add_run(scheduled.replace(status=RunStatus.RUNNING, started_at=later))
    with pytest.raises(JobAlreadyRunning):
        store.add_manual_run(run(scheduled_for=None, queued_at=now), 2, now)
    # A fire claimed ahead and moved to running just ahead of its time still does not count.
    ahead = run(scheduled_for=now + timedelta(seconds=1), node="n1")
    store.add_run(ahead.replace(status=RunStatus.RUNNING, started_at=ahead.scheduled_for))
    store.add_manual_run(run(scheduled_for=None, queued_at=now), 3, now)


def test_claiming_manual_runs_when_none_waits_writes_nothing(store: SqlStore) -> None:
    # The scheduler asks at every poll; with nothing waiting it must not take the write lock
    # that the API's writers wait for.
    add_job(store)
    store.add_run(run(scheduled_for=None, node="n2"))  # queued, but another node's
    with statements(store) as seen:
        assert store.claim_queued_manual_runs("n1") == []
    assert not [s for s in seen if s.startswith("BEGIN IMMEDIATE") or "UPDATE runs" in s], seen
    waiting = store.add_manual_run(run(scheduled_for=None), 5, utcnow())
    assert [r.id for r in store.claim_queued_manual_runs("n1")] == [waiting.id]


def test_of_many_simultaneous_run_now_requests_only_max_instances_pass(store: SqlStore) -> None:
    add_job(store)
    now = utcnow()
    admitted: list[str] = []
    refused: list[str] = []
    start = threading.Barrier(8)

    def ask() -> None:
        start.wait()
        try:
            admitted.append(store.add_manual_run(run(scheduled_for=None), 3, now).id)
        except JobAlreadyRunning:
            refused.append("refused")

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(admitted) == 3 and len(refused) == 5


def test_manual_runs_are_picked_up_only_under_the_lease(store: SqlStore) -> None:
    add_job(store)
    old = lease(store, "n1")
    waiting = store.add_run(run(scheduled_for=None))
    store.release_lease("scheduler", "n1")
    new = lease(store, "n2")
    with pytest.raises(LeaseLost):
        store.claim_queued_manual_runs("n1", fence=old)
    [picked] = store.claim_queued_manual_runs("n2", fence=new)
    assert (picked.id, picked.node, picked.lease_token) == (waiting.id, "n2", new.token)
