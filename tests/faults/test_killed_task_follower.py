"""A leader SIGKILLed while it follows a celery_task run's task: the next scheduler records the
run `interrupted` (its node is gone) and never sends the task a second time."""

from __future__ import annotations

from collections.abc import Callable
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


def test_a_leader_killed_while_following_a_task_leaves_its_run_interrupted_and_sent_once(
    write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime], tmp_path: Path
) -> None:
    queue = unique("gnomon_tasks")  # no worker consumes it: the task waits there
    with broker("redis", [queue]) as url:
        config = write_config(
            f"""
            [scheduler]
            timezone = "UTC"
            lease_ttl = 3

            [celery]
            broker_url = "{url}"
            result_backend = "{url}"

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
        )
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
