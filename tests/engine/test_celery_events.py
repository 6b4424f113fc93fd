"""celery_task jobs whose outcome is followed through the Celery workers' events ([celery]
track = "events"), against the sample app's workers running as processes of their own, started
with -E (or without, for what happens then), on the machine's RabbitMQ and Redis."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from gnomon.domain import Run, RunStatus, TaskTracking, TriggerSource, utcnow
from gnomon.engine.celery_tasks import CeleryTasks
from gnomon.ids import new_run_id
from tests.celery_app.sample import create_app
from tests.e2e.brokers import broker, unique
from tests.e2e.procs import wait_for
from tests.engine.test_celery_tasks import ask, ended, running, task_store

ROOT = Path(__file__).resolve().parents[2]
# One test process runs them all: the virtual host and the worker they share are made once.
pytestmark = pytest.mark.xdist_group("celery_events")


@contextmanager
def worker_process(url: str, queue: str, log: Path, *, events: bool = True) -> Iterator[Any]:
    """`celery worker` of the sample app on `queue`, with -E unless told; yields a client app
    of the same broker once the worker answers a ping."""
    name = unique("sample")
    env = dict(os.environ, SAMPLE_BROKER=url, SAMPLE_QUEUE=queue, SAMPLE_SENT_EVENTS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = [
        sys.executable, "-m", "celery", "-A", "tests.celery_app.from_env:app", "worker",
        "-P", "threads", "-c", "2", "-Q", queue, "-n", f"{name}@%h",
        "--without-mingle", "--without-gossip", "-l", "INFO",
    ]  # fmt: skip
    if events:
        command.append("-E")
    client = create_app(url, None, queue)
    with log.open("ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        try:
            wait_for(
                lambda: any(
                    reply_from.startswith(f"{name}@")
                    for reply in client.control.ping(timeout=0.5)
                    for reply_from in reply
                ),
                timeout=30,
                what=f"the worker to answer (log: {log})",
            )
            yield client
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            client.close()


def events(url: str) -> CeleryTasks:
    return CeleryTasks(url, None, env={}, track=TaskTracking.EVENTS)


@pytest.fixture(scope="module")
def rabbitmq() -> Iterator[str]:
    """A RabbitMQ virtual host for the tests of this module (making one takes seconds)."""
    with broker("rabbitmq", []) as url:
        yield url


@pytest.fixture(scope="module")
def rabbitmq_worker(
    rabbitmq: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Any]]:
    """The queue of a worker started with -E on `rabbitmq`, and a client app."""
    queue = unique("tasks")
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    with worker_process(rabbitmq, queue, log) as client:
        yield queue, client


def check_succeeded_and_failed(tmp_path: Path, url: str, queue: str) -> None:
    store = task_store(
        tmp_path,
        queue,
        report=("sample.report", ["monday"], {"pages": 2}),
        broken=("sample.fail", ["the printer is on fire"], {}),
    )
    with running(store, events(url)) as scheduler:
        good, bad = ask(store, scheduler, "report"), ask(store, scheduler, "broken")
        succeeded, failed = ended(store, good), ended(store, bad)
    output = succeeded.output or ""
    assert succeeded.status is RunStatus.SUCCEEDED, succeeded
    assert f"celery: sent sample.report to queue {queue!r} as task {good}" in output
    assert "celery: received by sample_" in output and "celery: started on sample_" in output
    assert 'result: {"day": "monday", "pages": 2}' in output
    assert succeeded.duration_ms is not None and succeeded.reason is None
    assert failed.status is RunStatus.FAILED, failed
    assert (failed.error_type, failed.error_message) == ("ValueError", "the printer is on fire")
    assert "raise ValueError(message)" in (failed.traceback or "")
    assert "celery: failed on sample_" in (failed.output or "")
    store.close()


def test_events_on_rabbitmq_record_succeeded_and_failed_tasks_with_result_and_traceback(
    tmp_path: Path, rabbitmq: str, rabbitmq_worker: tuple[str, Any]
) -> None:
    check_succeeded_and_failed(tmp_path, rabbitmq, rabbitmq_worker[0])


def test_events_on_redis_record_succeeded_and_failed_tasks_with_result_and_traceback(
    tmp_path: Path,
) -> None:
    queue = unique("tasks")
    with broker("redis", [queue]) as url, worker_process(url, queue, tmp_path / "worker.log"):
        check_succeeded_and_failed(tmp_path, url, queue)


def test_events_show_the_retries_of_a_task_retried_by_celery(
    tmp_path: Path, rabbitmq: str, rabbitmq_worker: tuple[str, Any]
) -> None:
    store = task_store(tmp_path, rabbitmq_worker[0], flaky=("sample.flaky", [2], {}))
    with running(store, events(rabbitmq)) as scheduler:
        run = ended(store, ask(store, scheduler, "flaky"))
    assert run.status is RunStatus.SUCCEEDED, run
    output = run.output or ""
    assert "celery: retry 1 (RuntimeError: not yet)" in output
    assert "celery: retry 2 (RuntimeError: not yet)" in output
    assert "celery: retried 2 time(s) before this outcome" in output
    assert 'result: "ok after 2 retries"' in output
    # Each attempt is heard (the task-sent events of the retries themselves are not noted).
    assert output.count("celery: started on") == 3, output
    store.close()


def test_a_task_revoked_in_celery_ends_its_run_cancelled_through_events(
    tmp_path: Path, rabbitmq: str, rabbitmq_worker: tuple[str, Any]
) -> None:
    queue, app = rabbitmq_worker
    store = task_store(tmp_path, queue, add=("sample.add", [1, 2], {}))
    with running(store, events(rabbitmq)) as scheduler:
        run_id = new_run_id()
        # Revoked (from outside gnomon) before it is sent: the worker discards it on arrival.
        app.control.revoke(run_id)
        ask(store, scheduler, "add", run_id)
        run = ended(store, run_id)
    assert run.status is RunStatus.CANCELLED, run
    assert (run.error_type, run.error_message) == ("Revoked", "the task was revoked in Celery")
    store.close()


def test_a_task_whose_worker_sends_no_events_ends_timed_out_saying_so(
    tmp_path: Path, rabbitmq: str
) -> None:
    queue = unique("tasks")
    store = task_store(tmp_path, queue, add=("sample.add", [1, 2], {}, 2.0))
    with (
        worker_process(rabbitmq, queue, tmp_path / "worker.log", events=False),
        running(store, events(rabbitmq)) as scheduler,
    ):
        run = ended(store, ask(store, scheduler, "add"))
    # The task ran on the worker, but nothing said so: the run does not claim an outcome.
    assert run.status is RunStatus.TIMED_OUT, run
    assert "did not end within its timeout of 2s" in (run.error_message or "")
    assert "no event of its outcome came: are the Celery app's workers started with -E?" in (
        run.error_message or ""
    )
    assert "celery: started on" not in (run.output or "")
    store.close()


def test_the_receiver_leaves_when_idle_and_listens_again_before_the_next_send(
    tmp_path: Path,
    rabbitmq: str,
    rabbitmq_worker: tuple[str, Any],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gnomon.engine import celery_events

    monkeypatch.setattr(celery_events, "IDLE_AFTER", 0.5)
    caplog.set_level(logging.INFO, logger="gnomon.engine.celery_events")
    store = task_store(tmp_path, rabbitmq_worker[0], add=("sample.add", [1, 2], {}))
    with running(store, events(rabbitmq)) as scheduler:
        assert ended(store, ask(store, scheduler, "add")).status is RunStatus.SUCCEEDED
        wait_for(
            lambda: "no longer listening to the Celery workers' events" in caplog.text,
            timeout=10,
            what="the idle receiver to leave",
        )
        again = ended(store, ask(store, scheduler, "add"))
    assert again.status is RunStatus.SUCCEEDED, again
    assert "celery: started on" in (again.output or "")
    store.close()


def test_the_receiver_reconnects_after_its_connection_is_closed(
    tmp_path: Path,
    rabbitmq: str,
    rabbitmq_worker: tuple[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gnomon.engine.celery_events")
    store = task_store(tmp_path, rabbitmq_worker[0], add=("sample.add", [1, 2], {}))
    with running(store, events(rabbitmq)) as scheduler:
        assert ended(store, ask(store, scheduler, "add")).status is RunStatus.SUCCEEDED
        vhost = rabbitmq.rsplit("/", 1)[1]
        subprocess.run(
            ["rabbitmqctl", "-q", "close_all_connections", "--vhost", vhost, "test"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        wait_for(
            lambda: "listening to the Celery workers' events again" in caplog.text,
            timeout=20,
            what="the receiver back",
        )
        # The sender's own connection was closed too: it connects again before its next send,
        # rather than sending into the closed one.
        again = ended(store, ask(store, scheduler, "add"), timeout=30)
    assert again.status is RunStatus.SUCCEEDED, again
    assert "could not listen to the Celery workers' events" in caplog.text
    store.close()


def test_events_heard_before_the_run_is_followed_are_kept_for_it_and_others_dropped() -> None:
    """A fast worker's events can arrive between the send and the run being followed: they
    are kept for it (the tracker's source, fed as its receiver feeds it, without a broker)."""
    import threading
    import time

    from gnomon.domain import JobDefinition, JobKind, RunUpdate
    from gnomon.engine.celery_events import EventSource
    from gnomon.engine.celery_tracking import TaskTracker

    source = EventSource("amqp://guest:guest@127.0.0.1:5672//")  # never connected here
    ended: dict[str, RunUpdate] = {}
    tracker = TaskTracker(
        source,
        finish=lambda run, definition, update: ended.__setitem__(run.id, update),
        revoke=lambda task_id: None,
        clock=utcnow,
    )
    definition = JobDefinition(
        id="add", name="add", trigger={}, kind=JobKind.CELERY_TASK, task="sample.add"
    )
    run, other = (
        Run(
            id=new_run_id(),
            job_id="add",
            trigger_source=TriggerSource.MANUAL,
            status=RunStatus.RUNNING,
            queued_at=utcnow(),
        )
        for _ in range(2)
    )
    started = utcnow()
    source.listening()  # as the receiver says once its queue is bound
    tracker.expect(run.id)  # just before the send
    for kind, fields in [
        ("task-received", {}),
        ("task-started", {}),
        ("task-retried", {"exception": "Retry(Retry(...), KeyError('k'), 1)"}),
        ("task-failed", {"exception": "Boom('x', 2)", "traceback": "...\nproj.errors.Boom: x"}),
    ]:
        for task_id in (run.id, other.id):  # the other task: not this node's, dropped
            source.heard(
                {"type": kind, "uuid": task_id, "hostname": "w1@host", "timestamp": time.time()}
                | fields
            )
    tracker.poll()  # the tracker's pass comes first: the run is not followed yet
    assert ended == {}
    tracker.follow(run, definition, threading.Event(), started, "sent")
    tracker.follow(other, definition, threading.Event(), started, "sent")
    tracker.poll()
    assert list(ended) == [run.id]
    update = ended[run.id]
    assert update.status is RunStatus.FAILED
    assert (update.error_type, update.error_message) == ("proj.errors.Boom", "x, 2")
    assert update.output == (
        "sent\ncelery: received by w1@host\ncelery: started on w1@host\n"
        "celery: retry 1 (KeyError: k)\ncelery: retried 1 time(s) before this outcome\n"
        "celery: failed on w1@host\n"
    )
    assert update.finished_at is not None and update.finished_at >= started

    # Stopping (leadership lost) forgets every task it waited for: the runs still followed
    # are handed back, and a tracker started again later begins idle, its receiver free to
    # disconnect.
    left = tracker.stop()
    assert [r.id for r in left] == [other.id]
    assert (source._wanted, source._held, list(source._heard)) == ({}, {}, [])
