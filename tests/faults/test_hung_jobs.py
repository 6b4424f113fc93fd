"""A Python job that hangs past its timeout, every second, in both isolation modes: never two
copies at once; a process-isolated run is ended by timeout and by cancel."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gnomon.domain import RunStatus
from gnomon.services.runtime import Runtime
from gnomon.services.views import Actor
from tests.conftest import WriteConfig
from tests.e2e.procs import wait_for

ADMIN = Actor("tester")


# A copy every second, each hanging past its timeout: the copies would overlap.
HUNG_TRIGGER = 'trigger = { type = "interval", seconds = 1 }'  # fires: to overlap its copies
QUIET_TRIGGER = 'trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }'


def config(lock: Path, isolation: str, seconds: float, trigger: str = HUNG_TRIGGER) -> str:
    return (
        f"""
[scheduler]
timezone = "UTC"
poll_interval = 0.2
shutdown_grace = 1

[[jobs]]
id = "gnomon.prune_runs"
enabled = false

[[jobs]]
id = "hung"
target = "tests.engine.targets:hangs_alone"
kwargs = {{ lock = "{lock}", seconds = {seconds} }}
isolation = "{isolation}"
"""
        + trigger
        + "\n"
    )


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_a_job_hanging_past_its_timeout_never_runs_twice_at_once(
    isolation: str,
    tmp_path: Path,
    write_config: WriteConfig,
    runtime_factory: Callable[[Path], Runtime],
) -> None:
    lock = tmp_path / "hung.lock"
    runtime = runtime_factory(
        write_config(config(lock, isolation, seconds=2.5) + "timeout = 0.5\n")
    )
    runtime.start_scheduler()
    starts = Path(f"{lock}.starts")
    wait_for(
        lambda: starts.exists() and len(starts.read_text().split()) >= 2,
        timeout=20,
        what="two runs of the hung job",
    )
    runtime.close(grace=5)
    assert not Path(f"{lock}.overlap").exists(), "two copies of the job ran at once"
    runs = runtime.runs.list_runs(job_id="hung", limit=100).items
    timed_out = [r for r in runs if r.status is RunStatus.TIMED_OUT]
    assert len(timed_out) >= 2
    if isolation == "thread":
        # The record says the thread was still running; the next fires were skipped meanwhile.
        assert all("still running" in (r.error_message or "") for r in timed_out)
        assert any(r.status is RunStatus.SKIPPED for r in runs)


def test_cancel_ends_a_process_isolated_run_within_a_second(
    tmp_path: Path, write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime]
) -> None:
    lock = tmp_path / "hung.lock"
    runtime = runtime_factory(write_config(config(lock, "process", 30, QUIET_TRIGGER)))
    runtime.start_scheduler()
    wait_for(runtime.jobs.scheduler_running, timeout=10, what="leadership")
    run = runtime.jobs.run_now("hung", ADMIN)
    starts = Path(f"{lock}.starts")
    wait_for(starts.exists, timeout=20, what="the run's code to start")
    asked = time.monotonic()
    runtime.runs.cancel_run(run.id, ADMIN)
    final = wait_for(
        lambda: r if (r := runtime.runs.get_run(run.id)).status.is_final else None,
        timeout=10,
        what="the cancelled run to end",
        every=0.02,
    )
    took = time.monotonic() - asked
    print(f"\ncancel of a process-isolated run: {took:.2f}s to its final record")
    assert final.status is RunStatus.CANCELLED
    assert took < 1.0, f"cancel took {took:.2f}s"
