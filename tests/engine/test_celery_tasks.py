"""celery_task jobs against a real Celery app: the leader sends each run's task by name, once,
after the run's guarded start, and the run follows the task's outcome through the result
backend (Redis), or says that it is not tracked."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import kombu
import pytest
import redis
from celery.contrib.testing.worker import start_worker

from gnomon.domain import (
    OUTCOME_NOT_TRACKED,
    JobDefinition,
    JobKind,
    JobRecord,
    Run,
    RunStatus,
    RunUpdate,
    TriggerSource,
    utcnow,
)
from gnomon.engine.celery_tasks import (
    CeleryTasks,
    SendNotMade,
    SendUncertain,
    TaskSender,
    send_failed_update,
)
from gnomon.engine.scheduler import Scheduler, SchedulerOptions
from gnomon.ids import new_run_id
from gnomon.store.base import JobWrite
from gnomon.store.sql import SqlStore
from gnomon.triggers import parse_trigger
from tests.celery_app.sample import create_app
from tests.e2e.brokers import broker, private_redis, unique
from tests.e2e.procs import wait_for

OPTIONS = SchedulerOptions(poll_interval=0.2, lease_ttl=2, claim_ahead=0.3, shutdown_grace=1)


def task_store(tmp_path: Path, queue: str, *, paused: bool = True, **tasks: Any) -> SqlStore:
    """A store with one celery_task job per keyword: job id → (task, args, kwargs[, timeout]),
    firing every second unless paused (runs are then asked for by hand)."""
    store = SqlStore(f"sqlite:///{tmp_path / 'gnomon.db'}")
    store.upgrade()
    now = utcnow()
    trigger = parse_trigger(
        {"trigger_type": "interval", "seconds": 1}, default_timezone="UTC", now=now
    )
    for job_id, (task, args, kwargs, *rest) in tasks.items():
        definition = JobDefinition(
            id=job_id,
            name=job_id,
            trigger=trigger.to_spec(),
            kind=JobKind.CELERY_TASK,
            task=task,
            args=tuple(args),
            kwargs=kwargs,
            queue=queue,
            timeout=rest[0] if rest else None,
        )
        first = None if paused else trigger.next_fire_time(now + timedelta(seconds=0.5))
        record = JobRecord(
            definition=definition, trigger=definition.trigger, paused=paused, next_fire_time=first
        )
        store.write_jobs([JobWrite(record)])
    return store


def ask(store: SqlStore, scheduler: Scheduler, job_id: str, run_id: str | None = None) -> str:
    """Queue a manual run of the job (with `run_id`, if given) and tell the scheduler."""
    run = store.add_run(
        Run(
            id=run_id or new_run_id(),
            job_id=job_id,
            trigger_source=TriggerSource.MANUAL,
            status=RunStatus.QUEUED,
            queued_at=utcnow(),
        )
    )
    scheduler.notify("manual_run")
    return run.id


def ended(store: SqlStore, run_id: str, timeout: float = 15) -> Run:
    return wait_for(
        lambda: (run := store.get_run(run_id)).status.is_final and run,
        timeout=timeout,
        what=f"run {run_id} to end",
    )


def wake_to_stop(worker: Any) -> None:
    """Ask Celery's test worker to stop and wake its event loop so that it sees the request.

    `start_worker` only sets the flag and waits 10 s; a loop asleep in a poll that one of its
    timers set to 10 s (a revoke sets one) sees the flag too late.
    """
    from celery.worker import state

    state.should_terminate = 0
    if worker.hub is not None:
        worker.hub.call_soon(lambda: None)


@contextmanager
def app_worker(url: str, queue: str) -> Iterator[Any]:
    """The sample app's worker, in threads of this process, taking tasks from `queue`."""
    app = create_app(url, "redis://127.0.0.1:6379/11", queue)
    # Celery's test worker sets up logging for a worker process: it sets the root logger's
    # level (ERROR), which would silence the warnings later tests in this process look for.
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        # shutdown_timeout: room for a loop asleep in its longest poll (10 s), should a kombu
        # not wake it on call_soon from another thread (wake_to_stop).
        with start_worker(
            app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=30
        ) as worker:
            try:
                yield app
            finally:
                wake_to_stop(worker)
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers


@contextmanager
def running(store: SqlStore, tasks: CeleryTasks) -> Iterator[Scheduler]:
    scheduler = Scheduler(store, OPTIONS, celery_tasks=tasks)
    scheduler.start()
    try:
        yield scheduler
    finally:
        scheduler.stop(grace=1)


BACKEND = "redis://127.0.0.1:6379/11"


def test_succeeded_and_failed_tasks_are_recorded_with_their_result_and_traceback(
    tmp_path: Path,
) -> None:
    queue = unique("tasks")
    store = task_store(
        tmp_path,
        queue,
        report=("sample.report", ["monday"], {"pages": 2}),
        broken=("sample.fail", ["the printer is on fire"], {}),
    )
    with (
        broker("redis", [queue]) as url,
        app_worker(url, queue),
        running(store, CeleryTasks(url, BACKEND, env={})) as scheduler,
    ):
        good, bad = ask(store, scheduler, "report"), ask(store, scheduler, "broken")
        succeeded, failed = ended(store, good), ended(store, bad)
    assert succeeded.status is RunStatus.SUCCEEDED
    assert succeeded.node == scheduler.node_id
    assert f"celery: sent sample.report to queue {queue!r} as task {good}" in succeeded.output
    assert 'result: {"day": "monday", "pages": 2}' in (succeeded.output or "")
    assert succeeded.started_at is not None and succeeded.duration_ms is not None
    assert failed.status is RunStatus.FAILED
    assert (failed.error_type, failed.error_message) == ("ValueError", "the printer is on fire")
    assert "raise ValueError(message)" in (failed.traceback or "")
    store.close()


def test_a_task_retried_by_celery_shows_its_retries(tmp_path: Path) -> None:
    queue = unique("tasks")
    store = task_store(tmp_path, queue, flaky=("sample.flaky", [2], {}))
    with (
        broker("redis", [queue]) as url,
        app_worker(url, queue),
        running(store, CeleryTasks(url, BACKEND, env={})) as scheduler,
    ):
        run = ended(store, ask(store, scheduler, "flaky"))
    assert run.status is RunStatus.SUCCEEDED
    output = run.output or ""
    assert "celery: retry 1 (RuntimeError: not yet)" in output
    assert "celery: retried 2 time(s) before this outcome" in output
    assert 'result: "ok after 2 retries"' in output
    store.close()


def test_a_task_revoked_in_celery_ends_its_run_cancelled(tmp_path: Path) -> None:
    queue = unique("tasks")
    store = task_store(tmp_path, queue, add=("sample.add", [1, 2], {}))
    with (
        broker("redis", [queue]) as url,
        app_worker(url, queue) as app,
        running(store, CeleryTasks(url, BACKEND, env={})) as scheduler,
    ):
        run_id = new_run_id()
        # Revoked (from outside gnomon) before it is sent: the worker discards it on arrival.
        app.control.revoke(run_id)
        ask(store, scheduler, "add", run_id)
        run = ended(store, run_id)
    assert run.status is RunStatus.CANCELLED
    assert (run.error_type, run.error_message) == ("Revoked", "the task was revoked in Celery")
    store.close()


def test_without_a_result_backend_each_fire_is_sent_once_and_says_its_outcome_is_not_tracked(
    tmp_path: Path,
) -> None:
    queue = unique("tasks")
    store = task_store(tmp_path, queue, paused=False, add=("sample.add", [1, 2], {}))
    with broker("redis", [queue]) as url:
        with running(store, CeleryTasks(url, None, env={})):  # read after the stop
            wait_for(
                lambda: len(store.list_runs("add", statuses=[RunStatus.SUCCEEDED]).items) >= 2,
                timeout=15,
                what="two fires sent",
            )
        runs = store.list_runs("add", limit=100).items
        sent = queued_task_ids(url, queue)
    assert runs and {run.status for run in runs} == {RunStatus.SUCCEEDED}
    # No worker ran them: each fire's task waits in the queue once, under its run's id.
    assert sorted(sent) == sorted(run.id for run in runs)
    for run in runs:
        assert run.reason == OUTCOME_NOT_TRACKED
        assert (run.error_message or "").startswith("outcome not tracked: sent to the broker")
        assert run.scheduled_for is not None
    store.close()


def test_a_task_with_no_outcome_within_its_timeout_is_revoked_and_timed_out(
    tmp_path: Path,
) -> None:
    queue = unique("tasks")  # no worker listens on it
    store = task_store(tmp_path, queue, waits=("sample.add", [1, 2], {}, 1.0))
    with (
        broker("redis", [queue]) as url,
        running(store, CeleryTasks(url, BACKEND, env={})) as scheduler,
    ):
        run = ended(store, ask(store, scheduler, "waits"))
    assert run.status is RunStatus.TIMED_OUT
    assert "did not end within its timeout of 1s; revoke sent" in (run.error_message or "")
    assert run.duration_ms is not None and run.duration_ms >= 1000
    store.close()


def test_a_cancel_revokes_the_task_and_a_stop_leaves_the_followed_run_interrupted(
    tmp_path: Path,
) -> None:
    queue = unique("tasks")  # no worker listens on it
    store = task_store(tmp_path, queue, waits=("sample.add", [1, 2], {}))
    with (
        broker("redis", [queue]) as url,
        running(store, CeleryTasks(url, BACKEND, env={})) as scheduler,
    ):
        cancelled = ask(store, scheduler, "waits")
        wait_for(lambda: store.get_run(cancelled).status is RunStatus.RUNNING, 10, "start")
        store.request_cancel(cancelled, utcnow())
        scheduler.notify("runs")
        ended(store, cancelled)
        left = ask(store, scheduler, "waits")
        wait_for(lambda: store.get_run(left).status is RunStatus.RUNNING, 10, "start")
    run = store.get_run(cancelled)
    assert run.status is RunStatus.CANCELLED
    assert (run.error_message or "").startswith("cancelled: revoke sent to the Celery workers")
    # The scheduler stopped: the task is not revoked, and the run does not claim an outcome.
    stopped = store.get_run(left)
    assert stopped.status is RunStatus.INTERRUPTED
    assert "the task was sent and may still finish" in (stopped.reason or "")
    store.close()


def test_the_tracker_reads_every_followed_task_in_turn_and_bounds_a_wait_without_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gnomon.engine import celery_results, celery_tracking

    monkeypatch.setattr(celery_results, "MAX_PER_PASS", 2)
    ended: dict[str, RunUpdate] = {}
    tracker = celery_tracking.TaskTracker(
        celery_results.ResultBackendSource(BACKEND, "redis://127.0.0.1:6379/12"),
        finish=lambda run, definition, update: ended.__setitem__(run.id, update),
        revoke=lambda task_id: None,
        clock=utcnow,
    )
    definition = JobDefinition(
        id="report", name="Report", trigger={}, kind=JobKind.CELERY_TASK, task="sample.report"
    )
    runs = [
        Run(
            id=new_run_id(),
            job_id="report",
            trigger_source=TriggerSource.MANUAL,
            status=RunStatus.RUNNING,
            queued_at=utcnow(),
        )
        for _ in range(3)
    ]
    for run in runs:
        tracker.follow(run, definition, threading.Event(), utcnow(), "sent")
    # Only the last followed task has ended: with two states read a pass, the second pass
    # reads it (the first reads the first two, which are still pending).
    client = redis.Redis.from_url(BACKEND)
    key = f"celery-task-meta-{runs[2].id}"
    client.set(key, json.dumps({"status": "SUCCESS", "result": 7, "task_id": runs[2].id}))
    try:
        tracker.poll()
        assert ended == {}
        tracker.poll()
        assert list(ended) == [runs[2].id] and ended[runs[2].id].status is RunStatus.SUCCEEDED
        # No timeout on the job: the wait is still bounded (FOLLOW_LIMIT).
        monkeypatch.setattr(celery_tracking, "FOLLOW_LIMIT", 0.0)
        late = runs[0].replace(id=new_run_id())
        tracker.follow(late, definition, threading.Event(), utcnow(), "sent")
        tracker.poll()
        assert ended[late.id].status is RunStatus.TIMED_OUT
        assert "celery_task job without a timeout" in (ended[late.id].error_message or "")
    finally:
        client.delete(key)


def running_report() -> Run:
    """A manual run of job "report", started: what a sender is handed."""
    return Run(
        id=new_run_id(),
        job_id="report",
        trigger_source=TriggerSource.MANUAL,
        status=RunStatus.RUNNING,
        queued_at=utcnow(),
    )


def test_a_send_that_timed_out_is_not_taken_for_a_send_that_failed() -> None:
    run = running_report()
    now = utcnow()
    refused = send_failed_update(run, ConnectionRefusedError("refused"), now, now)
    assert refused.status is RunStatus.FAILED  # not sent: a retry may send it
    try:
        try:
            raise TimeoutError("no publisher confirm within 4s")
        except TimeoutError as exc:
            raise RuntimeError("publish failed") from exc  # as a client library wraps it
    except RuntimeError as wrapped:
        unsure = send_failed_update(run, wrapped, now, now)
    # Perhaps sent: interrupted, which a celery_task job never retries.
    assert unsure.status is RunStatus.INTERRUPTED
    assert "may have been sent" in (unsure.error_message or "")


def queued_task_ids(url: str, queue: str) -> list[str]:
    """The task ids of the messages waiting in `queue` (taken off it, on RabbitMQ)."""
    if url.startswith("redis"):
        client = redis.Redis.from_url(url)
        try:
            return [json.loads(raw)["headers"]["id"] for raw in client.lrange(queue, 0, -1)]
        finally:
            client.close()
    with kombu.Connection(url) as connection, connection.SimpleQueue(queue) as waiting:
        ids = []
        while True:
            try:
                message = waiting.get(timeout=1)
            except waiting.Empty:
                return ids
            ids.append(message.headers["id"])
            message.ack()


@pytest.mark.parametrize("kind", ["rabbitmq", "redis"])
def test_the_first_send_after_the_broker_dropped_the_connection_reaches_it_once(
    tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The sender's pooled connection dates from before the drop: it must not be written into (a
    # send lost, or failed for nothing), nor the task sent twice.
    caplog.set_level(logging.INFO, logger="gnomon.engine.celery_app")
    queue = unique("gnomon_tasks")
    definition = JobDefinition(
        id="report", name="report", trigger={}, kind=JobKind.CELERY_TASK, task="sample.add",
        args=[1, 2], queue=queue,
    )  # fmt: skip
    with contextlib.ExitStack() as stack:
        if kind == "redis":
            server = stack.enter_context(private_redis(tmp_path / "redis"))
            url = server.url

            def drop() -> None:  # restarted; its data kept on disk
                server.stop()
                server.start()
        else:
            url = stack.enter_context(broker("rabbitmq", [queue]))

            def drop() -> None:  # every connection to the virtual host closed by the broker
                vhost = url.rsplit("/", 1)[1]
                command = ["rabbitmqctl", "-q", "close_all_connections", "--vhost", vhost, "test"]
                subprocess.run(command, check=True, capture_output=True, timeout=60)
                time.sleep(0.5)  # the broker's close reaches the sender's socket

        sender = TaskSender(url, {})
        try:
            first, second = running_report(), running_report()
            sender.send(definition, first)
            drop()
            sender.send(definition, second)
        finally:
            sender.close()
        sent = queued_task_ids(url, queue)
    assert sorted(sent) == sorted([first.id, second.id])
    if kind == "rabbitmq":  # Redis's client reconnects by itself
        assert "the broker had closed the connection to send on" in caplog.text


@pytest.mark.parametrize("scheme", ["amqp://guest:guest@", "redis://"])
def test_a_send_with_no_broker_to_connect_to_fails_and_may_be_retried(scheme: str) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = TaskSender(f"{scheme}127.0.0.1:{port}/0", {})
    definition = JobDefinition(
        id="report", name="report", trigger={}, kind=JobKind.CELERY_TASK, task="sample.add"
    )
    run = running_report()
    try:
        with pytest.raises(SendNotMade) as raised:
            sender.send(definition, run)
    finally:
        sender.close()
    now = utcnow()
    assert send_failed_update(run, raised.value, now, now).status is RunStatus.FAILED
    # A send that failed once its message was being written may have reached the broker.
    uncertain = SendUncertain("Server unexpectedly closed connection")
    assert send_failed_update(run, uncertain, now, now).status is RunStatus.INTERRUPTED
