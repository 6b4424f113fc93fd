"""Live output: a run's output reaches its record while it runs (a command, a Python target in a
thread and one in a child process), and the final output replaces it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from gnomon.domain import RunStatus
from gnomon.services.runtime import Runtime
from gnomon.services.views import Actor
from tests.conftest import WriteConfig
from tests.e2e.procs import wait_for

STEPS = "echo first; sleep 2.5; echo second"  # the first line is out long before the end

CONFIG = f"""
[scheduler]
timezone = "UTC"
poll_interval = 0.2
shutdown_grace = 1

[[jobs]]
id = "gnomon.prune_runs"
trigger = {{ type = "date", run_date = "2099-01-01T00:00:00Z" }}

[[jobs]]
id = "command"
command = {json.dumps(STEPS)}
shell = true
trigger = {{ type = "date", run_date = "2099-01-01T00:00:00Z" }}

[[jobs]]
id = "thread"
target = "tests.engine.targets:prints_slowly"
trigger = {{ type = "date", run_date = "2099-01-01T00:00:00Z" }}

[[jobs]]
id = "process"
target = "tests.engine.targets:prints_slowly"
isolation = "process"
trigger = {{ type = "date", run_date = "2099-01-01T00:00:00Z" }}
"""


@pytest.mark.parametrize("job_id", ["command", "thread", "process"])
def test_a_runs_output_is_in_its_record_before_it_ends(
    job_id: str, write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime]
) -> None:
    runtime = runtime_factory(write_config(CONFIG))
    runtime.start_scheduler()
    wait_for(runtime.jobs.scheduler_running, timeout=10, what="the scheduler to lead")
    started = runtime.jobs.run_now(job_id, Actor("tester"))

    def live() -> bool:
        seen = runtime.store.get_run(started.id)
        return seen.status is RunStatus.RUNNING and "first" in (seen.output or "")

    wait_for(live, timeout=10, what="the first line while the run runs")
    assert "second" not in (runtime.store.get_run(started.id).output or "")
    wait_for(lambda: runtime.store.get_run(started.id).status.is_final, timeout=15, what="the end")
    ended = runtime.store.get_run(started.id)
    assert ended.status is RunStatus.SUCCEEDED
    assert ended.output is not None
    assert ended.output.index("first") < ended.output.index("second")
