"""A leader SIGKILLed while it sends a celery_task run's task, or while it follows it: the next
scheduler records the run `interrupted` (its node is gone) and never sends the task again."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from gnomon.domain import RunStatus
from gnomon.services.runtime import Runtime
from gnomon.services.views import Actor
from tests.conftest import WriteConfig
from tests.e2e.brokers import broker, unique
from tests.e2e.procs import SchedulerProcess, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("processes")]

TESTER = Actor("tester")


def task_job(broker_url: str, queue: str) -> str:
    return f"""
        [scheduler]
        timezone = "UTC"
        lease_ttl = 3

        [celery]
        broker_url = "{broker_url}"
        result_backend = "{broker_url}"

        [[jobs]]
        id = "report"
        kind = "celery_task"
        task = "proj.tasks.report"
        queue = "{queue}"
        trigger = {{ type = "date", run_date = "2099-01-01T00:00:00Z" }}

        [[jobs]]
        id = "gnomon.prune_runs"
        enabled = false
        """


@contextmanager
def silent_broker() -> Iterator[tuple[str, list[bytes]]]:
    """A Redis address that takes connections and what is written to them, and never answers:
    a broker hanging mid-send. Yields its URL and the bytes received."""
    server = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)
            threading.Thread(target=read, args=(conn,), daemon=True).start()

    def read(conn: socket.socket) -> None:
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            received.append(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0", received
    finally:
        stop.set()
        thread.join(5)
        server.close()
        for conn in held:
            conn.close()


def test_a_leader_killed_while_following_a_task_leaves_its_run_interrupted_and_sent_once(
    write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime], tmp_path: Path
) -> None:
    queue = unique("gnomon_tasks")  # no worker consumes it: the task waits there
    with broker("redis", [queue]) as url:
        config = write_config(task_job(url, queue))
        runtime = runtime_factory(config)
        messages = redis.Redis.from_url(url)
        proc = SchedulerProcess(config, tmp_path / "s1.log")
        try:
            wait_for(runtime.jobs.scheduler_running, timeout=20, what="the scheduler to start")
            run = runtime.jobs.run_now("report", TESTER)
            # Sent and followed: running, its task in the queue, no outcome yet.
            wait_for(lambda: messages.llen(queue) == 1, timeout=20, what="the task to be sent")
            assert runtime.runs.get_run(run.id).status is RunStatus.RUNNING
        finally:
            proc.kill()  # the crash, or, when something above failed, no process left behind
        proc = SchedulerProcess(config, tmp_path / "s2.log")
        try:

            def ended() -> bool:
                return runtime.runs.get_run(run.id).status is not RunStatus.RUNNING

            wait_for(ended, timeout=30, what="the followed run of the node gone to be ended")
            final = runtime.runs.get_run(run.id)
            # The next leader runs on: the task is not sent again, nor a second run made.
            wait_for(runtime.jobs.scheduler_running, timeout=20, what="the second scheduler")
            assert messages.llen(queue) == 1
        finally:
            proc.stop()
            messages.close()
    assert final.status is RunStatus.INTERRUPTED, final
    assert final.finished_at is not None
    assert final.reason == "the node executing it stopped or was lost"
    assert [r.id for r in runtime.runs.list_runs(job_id="report").items] == [run.id]


def test_a_leader_killed_while_sending_a_task_leaves_its_run_interrupted_never_sent_again(
    write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime], tmp_path: Path
) -> None:
    with silent_broker() as (url, received):
        config = write_config(task_job(url, unique("gnomon_tasks")))
        runtime = runtime_factory(config)
        proc = SchedulerProcess(config, tmp_path / "s1.log")
        try:
            wait_for(runtime.jobs.scheduler_running, timeout=20, what="the scheduler to start")
            run = runtime.jobs.run_now("report", TESTER)
            # Started (the fenced start is written before any send), then the send hangs.
            wait_for(
                lambda: runtime.runs.get_run(run.id).status is RunStatus.RUNNING,
                timeout=20,
                what="the run to start",
            )
            wait_for(lambda: received, timeout=20, what="the send to reach the broker")
        finally:
            proc.kill()  # the crash mid-send
        sent_before = b"".join(received).count(run.id.encode())
        proc = SchedulerProcess(config, tmp_path / "s2.log")
        try:

            def ended() -> bool:
                return runtime.runs.get_run(run.id).status is not RunStatus.RUNNING

            wait_for(ended, timeout=30, what="the run of the node gone to be ended")
            final = runtime.runs.get_run(run.id)
            wait_for(runtime.jobs.scheduler_running, timeout=20, what="the second scheduler")
            sent_after = b"".join(received).count(run.id.encode())
        finally:
            proc.stop()
    assert final.status is RunStatus.INTERRUPTED, final
    assert final.reason == "the node executing it stopped or was lost"
    # Whatever the first leader wrote of its task, the next one wrote nothing more of it.
    assert sent_after == sent_before
    assert [r.id for r in runtime.runs.list_runs(job_id="report").items] == [run.id]
