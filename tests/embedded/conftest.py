"""Fixtures of the embedding API's tests: gnomon.Scheduler on a store of the test's own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import gnomon
from gnomon.domain import Run, RunStatus
from tests.conftest import WriteConfig
from tests.e2e.procs import wait_for

CONFIG = """
[scheduler]
timezone = "UTC"
poll_interval = 0.2

[[jobs]]
id = "gnomon.prune_runs"
enabled = false
"""


@pytest.fixture
def scheduler(write_config: WriteConfig) -> Iterator[gnomon.Scheduler]:
    """A scheduler on a SQLite file of the test's, not started; shut down at the end."""
    made = gnomon.Scheduler(write_config(CONFIG), env={})
    try:
        yield made
    finally:
        made.shutdown(grace=5)


def runs_of(scheduler: gnomon.Scheduler, job_id: str, status: RunStatus) -> list[Run]:
    return scheduler.runtime.runs.list_runs(job_id=job_id, status=status).items


def wait_for_run(
    scheduler: gnomon.Scheduler,
    job_id: str,
    status: RunStatus = RunStatus.SUCCEEDED,
    timeout: float = 10,
) -> Run:
    """The first run of `job_id` to end `status`, once there is one."""

    def found() -> list[Run]:
        return runs_of(scheduler, job_id, status)

    return wait_for(found, timeout=timeout, what=f"a {status} run of {job_id}")[0]
