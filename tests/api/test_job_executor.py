"""The job object says where a job's runs execute: here, or on Celery workers (and the queue)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.api.conftest import JOBS, AuthActions, assert_ok

CONFIG = """
[scheduler]
timezone = "UTC"

[celery]
broker_url = "redis://127.0.0.1:1/0"

[[jobs]]
id = "report"
command = ["true"]
executor = "celery"
queue = "reports"
trigger = { type = "interval", hours = 1, start_date = "2099-01-01T00:00:00Z" }

[[jobs]]
id = "here"
command = ["true"]
trigger = { type = "interval", hours = 1, start_date = "2099-01-01T00:00:00Z" }

[[jobs]]
id = "gnomon.prune_runs"
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
"""


@pytest.fixture
def config_path(write_config: Callable[[str], Path]) -> Path:
    return write_config(CONFIG)


def test_the_job_object_names_its_executor_and_queue(admin: AuthActions) -> None:
    report = assert_ok(admin.get(f"{JOBS}/report"))
    assert (report["executor"], report["queue"]) == ("celery", "reports")
    listed = {job["id"]: job for job in assert_ok(admin.get(JOBS))}
    assert (listed["here"]["executor"], listed["here"]["queue"]) == ("local", None)
