"""A command printing NUL bytes and undecodable bytes, next to a job every second: on SQLite and
PostgreSQL every run reaches its final status, the odd bytes stored visibly replaced."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from gnomon.domain import RunStatus, utcnow
from gnomon.services.runtime import Runtime
from gnomon.services.views import Actor
from tests.conftest import WriteConfig
from tests.e2e.pg import fresh_database
from tests.e2e.procs import wait_for

ADMIN = Actor("tester")

BODY = """
[scheduler]
timezone = "UTC"
poll_interval = 0.2
shutdown_grace = 1

[[jobs]]
id = "gnomon.prune_runs"
enabled = false

[[jobs]]
id = "nul"
command = ["sh", "-c", "printf 'a\\\\000b\\\\377c\\\\n'; printf 'x\\\\000y' >&2"]
trigger = { type = "interval", seconds = 1 }  # fires: dirty output every second

[[jobs]]
id = "tick"
command = ["true"]
trigger = { type = "interval", seconds = 1 }  # fires: the runs that must all end
"""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_line(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "sqlite":
        yield ""
        return
    with fresh_database("gnomon_nul") as url:
        yield f'[store]\nurl = "{url}"\n'


def test_nul_and_undecodable_output_never_stops_run_records(
    store_line: str, write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime]
) -> None:
    runtime = runtime_factory(write_config(store_line + BODY))
    runtime.start_scheduler()

    def ended(job: str) -> list[object]:
        page = runtime.runs.list_runs(job_id=job, limit=100)
        return [r for r in page.items if r.status.is_final]

    wait_for(lambda: len(ended("nul")) >= 3 and len(ended("tick")) >= 3, 20, "runs to end")
    stopped = utcnow()
    runtime.close(grace=5)
    # Every run ended, but the fires claimed ahead when the scheduler stopped (left queued for
    # the next leader to adopt).
    runs = runtime.runs.list_runs(limit=500).items
    settled = [
        r for r in runs if r.scheduled_for and r.scheduled_for < stopped - timedelta(seconds=1)
    ]
    assert settled and all(r.status.is_final for r in settled), [
        r for r in settled if not r.status.is_final
    ]
    dirty = [r for r in runs if r.job_id == "nul" and r.status is RunStatus.SUCCEEDED]
    assert dirty
    output = runtime.runs.get_run(dirty[0].id).output or ""
    assert "a\u2400b\ufffdc" in output and "x\u2400y" in output
