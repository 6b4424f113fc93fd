"""Retries with a real `gnomon scheduler` process and a real webhook receiver: a job failing twice
then succeeding leaves three chained, backed-off attempts and tells nobody; a job failing every
time tells `failed` once, for its last attempt."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gnomon.domain import RunStatus
from gnomon.services.runtime import Runtime
from tests.conftest import WriteConfig
from tests.e2e.procs import SchedulerProcess, wait_for
from tests.engine.notify.receivers import HttpReceiver
from tests.engine.test_scheduler_retries import HEADER, attempts, ended, failing_until, job, once_at


def test_a_scheduler_process_retries_with_backoff_and_tells_only_the_last_outcome(
    write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime], tmp_path: Path
) -> None:
    with HttpReceiver().start() as receiver:
        soon = datetime.now(UTC) + timedelta(seconds=4)  # after the process has started
        config = (
            HEADER.replace("RECEIVER_URL", receiver.url)
            + job(
                "flaky",
                failing_until(tmp_path / "flaky.count", 3),
                once_at(soon),
                retries=3,
                retry_backoff=1.0,
            )
            + job("broken", 'command = ["false"]', once_at(soon), retries=2, retry_backoff=0.5)
        )
        path = write_config(config)
        runtime = runtime_factory(path)
        scheduler = SchedulerProcess(path, tmp_path / "scheduler.log")
        try:
            wait_for(runtime.jobs.scheduler_running, timeout=20, what="the scheduler to lead")
            wait_for(lambda: ended(runtime, "flaky", 3), timeout=40, what="flaky's attempts")
            wait_for(lambda: ended(runtime, "broken", 3), timeout=40, what="broken's attempts")
            wait_for(lambda: receiver.requests(), timeout=20, what="broken's failed event")
        finally:
            scheduler.stop()
        flaky = attempts(runtime, "flaky")
        assert [(r.attempt, r.status) for r in flaky] == [
            (1, RunStatus.FAILED),
            (2, RunStatus.FAILED),
            (3, RunStatus.SUCCEEDED),
        ]
        assert [r.retry_of for r in flaky] == [None, flaky[0].id, flaky[1].id]
        for previous, retry in itertools.pairwise(flaky):
            assert previous.finished_at is not None and retry.started_at is not None
            assert (retry.started_at - previous.finished_at).total_seconds() >= 1.0
        broken = attempts(runtime, "broken")
        assert [r.status for r in broken] == [RunStatus.FAILED] * 3
        told = [
            (r.json["job"]["id"], r.json["event"], r.json["run"]["id"]) for r in receiver.requests()
        ]
        assert told == [("broken", "failed", broken[2].id)]
        log = scheduler.output()
        assert "will retry in" in log and "as attempt 2" in log
