"""The scheduler with jobs executed on Celery: runs are published at their time, once, under the
lease, and stay queued for a worker; a broker that cannot take them, or no worker taking them,
ends them `missed` with the reason."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from gnomon.domain import Executor, Run, RunStatus, TriggerSource, utcnow
from gnomon.engine.dispatch import Dispatcher, Publish
from gnomon.engine.scheduler import Scheduler, SchedulerOptions
from gnomon.ids import new_run_id
from gnomon.store.base import JobWrite
from gnomon.store.sql import SqlStore
from tests.e2e.procs import wait_for
from tests.engine.test_scheduler_firing import _store_with_ticking_job

OPTIONS = SchedulerOptions(poll_interval=0.2, lease_ttl=2, claim_ahead=0.3, shutdown_grace=1)


class Broker:
    """Stands in for the broker at the one call gnomon makes of it: publish(run_id, queue)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent: list[tuple[str, str, datetime]] = []
        self.refused = 0
        self.down = False

    def publish(self, run_id: str, queue: str) -> None:
        with self.lock:
            if self.down:
                self.refused += 1
                raise ConnectionRefusedError("[Errno 111] Connection refused")
            self.sent.append((run_id, queue, utcnow()))


def celery_store(tmp_path: Path, **changes: Any) -> SqlStore:
    store = _store_with_ticking_job(tmp_path)
    record = store.get_job("tick")
    definition = dataclasses.replace(
        record.definition, executor=Executor.CELERY, queue="reports", **changes
    )
    store.write_jobs([JobWrite(record.replace(definition=definition))])
    return store


def runs_of(store: SqlStore, status: RunStatus) -> list[Any]:
    return store.list_runs("tick", statuses=[status], limit=1000).items


def test_runs_are_published_once_at_their_time_and_left_queued_for_a_worker(
    tmp_path: Path,
) -> None:
    store = celery_store(tmp_path)
    broker = Broker()
    scheduler = Scheduler(store, OPTIONS, publish=broker.publish)
    scheduler.start()
    try:
        wait_for(lambda: len(broker.sent) >= 3, timeout=15, what="three runs sent")
    finally:
        scheduler.stop(grace=1)
    ids = [run_id for run_id, _, _ in broker.sent]
    assert len(ids) == len(set(ids))
    assert {queue for _, queue, _ in broker.sent} == {"reports"}
    for run_id, _, sent_at in broker.sent:
        run = store.get_run(run_id)
        # Nothing ran here: the run waits, the leader's, for a worker to move it on.
        assert run.status is RunStatus.QUEUED and run.node == scheduler.node_id
        assert run.started_at is None
        assert run.scheduled_for is not None
        assert run.scheduled_for <= sent_at < run.scheduled_for + timedelta(seconds=0.5)
    store.close()


def test_fires_the_broker_cannot_take_within_their_grace_are_missed_and_none_sent_later(
    tmp_path: Path,
) -> None:
    store = celery_store(tmp_path, misfire_grace_time=1)
    broker = Broker()
    broker.down = True
    scheduler = Scheduler(store, OPTIONS, publish=broker.publish)
    scheduler.start()
    try:
        wait_for(lambda: len(runs_of(store, RunStatus.MISSED)) >= 2, timeout=15, what="two misses")
        broker.down = False
        wait_for(lambda: len(broker.sent) >= 2, timeout=15, what="runs sent again")
    finally:
        scheduler.stop(grace=1)
    missed = runs_of(store, RunStatus.MISSED)
    assert broker.refused >= 2
    assert {run.reason for run in missed} == {"broker_unavailable"}
    sent = {run_id for run_id, _, _ in broker.sent}
    assert not sent & {run.id for run in missed}  # a fire recorded missed is never sent
    store.close()


def test_a_sent_run_no_worker_takes_within_its_grace_is_missed(tmp_path: Path) -> None:
    store = celery_store(tmp_path, misfire_grace_time=1)
    broker = Broker()
    scheduler = Scheduler(store, OPTIONS, publish=broker.publish)
    scheduler.start()
    try:
        wait_for(lambda: len(runs_of(store, RunStatus.MISSED)) >= 1, timeout=15, what="a miss")
    finally:
        scheduler.stop(grace=1)
    missed = runs_of(store, RunStatus.MISSED)
    sent = {run_id for run_id, _, _ in broker.sent}
    assert {run.reason for run in missed} == {"overloaded"}
    assert {run.id for run in missed} <= sent
    assert all("no worker took it" in (store.get_run(r.id).error_message or "") for r in missed)
    store.close()


def test_a_sent_run_asked_to_stop_before_any_worker_took_it_is_cancelled(
    tmp_path: Path,
) -> None:
    # A manual run has no grace: without a worker on its queue it would wait for ever.
    store = celery_store(tmp_path)
    record = store.get_job("tick")
    store.write_jobs([JobWrite(record.replace(paused=True), expected_revision=record.revision)])
    broker = Broker()
    scheduler = Scheduler(store, OPTIONS, publish=broker.publish)
    scheduler.start()
    try:
        manual = store.add_run(
            Run(
                id=new_run_id(),
                job_id="tick",
                trigger_source=TriggerSource.MANUAL,
                status=RunStatus.QUEUED,
                queued_at=utcnow(),
            )
        )
        scheduler.notify("manual_run")
        wait_for(lambda: len(broker.sent) == 1, timeout=10, what="the run sent")
        store.request_cancel(manual.id, utcnow())
        wait_for(
            lambda: store.get_run(manual.id).status is RunStatus.CANCELLED,
            timeout=10,
            what="the cancel",
        )
    finally:
        scheduler.stop(grace=1)
    assert broker.sent[0][0] == manual.id
    assert store.get_run(manual.id).error_message == "cancelled before a worker started it"
    store.close()


def _manual_run_of_n1(store: SqlStore) -> Run:
    """A manual run of "tick", picked up by node n1 (which takes the scheduler lease)."""
    assert store.acquire_lease("scheduler", "n1", 60) is not None
    return store.add_run(
        Run(
            id=new_run_id(),
            job_id="tick",
            trigger_source=TriggerSource.MANUAL,
            status=RunStatus.QUEUED,
            queued_at=utcnow(),
            node="n1",
        )
    )


def _dispatcher_of_n1(
    store: SqlStore, publish: Publish, *, sweep_every: float = 10.0, resend_first: float = 60.0
) -> Dispatcher:
    """Node n1's dispatcher, under the lease it holds, sending every run it is given."""
    lease = store.find_lease("scheduler")
    return Dispatcher(
        store,
        "n1",
        publish=publish,
        lease=lambda: lease,
        clock=utcnow,
        may_send=lambda record, run, ahead, now: record,
        end_unsent=lambda *args: None,
        cancel_unsent=lambda run: None,
        on_lease_lost=lambda: None,
        sweep_every=sweep_every,
        resend_first=resend_first,
    )


def test_a_manual_run_no_worker_takes_is_sent_again_less_and_less_often_until_one_does(
    tmp_path: Path,
) -> None:
    # A manual run has no grace: if its message was lost (a broker that lost its data), it
    # would wait queued for good. It is sent again, and a worker's guarded start runs it once.
    from gnomon.domain import Node

    store = celery_store(tmp_path)
    record = store.get_job("tick")
    manual = _manual_run_of_n1(store)
    broker = Broker()
    dispatcher = _dispatcher_of_n1(store, broker.publish, sweep_every=0.1, resend_first=0.6)
    dispatcher.start()
    try:
        dispatcher.expect([(record, manual, False, time.monotonic())])
        wait_for(lambda: len(broker.sent) >= 3, timeout=10, what="two sends after the first")
        first, second, third = (sent_at for _, _, sent_at in broker.sent[:3])
        assert (second - first).total_seconds() >= 0.6
        assert (third - second).total_seconds() >= 1.2  # twice as long
        now = store.current_time()
        store.heartbeat(Node("w1", "host", 1, now, now, roles=("worker",)))
        assert store.start_on_worker(manual.id, "w1", utcnow()).status is RunStatus.RUNNING
        sends = len(broker.sent)
        time.sleep(3)  # past the next resend: the run is taken now
        assert len(broker.sent) == sends
    finally:
        dispatcher.stop()
    assert {run_id for run_id, _, _ in broker.sent} == {manual.id}
    store.close()


def test_a_run_being_sent_is_still_this_nodes_business_for_the_reconciler(
    tmp_path: Path,
) -> None:
    # Between leaving the queue of runs to send and being recorded as sent, a run was in
    # neither: the reconciler, looking then, took it for lost and started it again.
    store = celery_store(tmp_path)
    record = store.get_job("tick")
    manual = _manual_run_of_n1(store)
    seen_while_publishing: list[set[str]] = []

    def publish(run_id: str, queue: str) -> None:
        seen_while_publishing.append(dispatcher.ids())

    dispatcher = _dispatcher_of_n1(store, publish)
    dispatcher.start()
    try:
        dispatcher.expect([(record, manual, False, time.monotonic())])
        wait_for(lambda: seen_while_publishing, timeout=10, what="the send")
        assert manual.id in seen_while_publishing[0]
        wait_for(lambda: manual.id in dispatcher.ids(), timeout=5, what="the run noted sent")
    finally:
        dispatcher.stop()
    store.close()
