"""Changes to jobs reach a running scheduler one job at a time, not by reloading every job."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gnomon.domain import RunStatus, TriggerSource
from gnomon.services.runtime import Runtime
from gnomon.services.views import Actor
from tests.conftest import WriteConfig
from tests.e2e.procs import wait_for
from tests.store.test_store_contract import run

TESTER = Actor("tester")

HEADER = """
[scheduler]
timezone = "UTC"
poll_interval = 0.2
shutdown_grace = 1

[[jobs]]
id = "gnomon.prune_runs"
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
"""
# Never fires while a test runs (an hourly job would, at the top of the hour).
LATER = 'trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }'
#: How long after a change is committed a fire under the job's old state may still start: one
#: committed to start (0.15 s ahead) before the change reached the scheduler.
SETTLES = timedelta(seconds=2)
SECONDLY = 'trigger = { type = "interval", seconds = 1 }'  # fires: the tests watch it fire


def job(job_id: str, trigger: str) -> str:
    return f'\n[[jobs]]\nid = "{job_id}"\ncommand = ["true"]\n{trigger}\n'


def started_runs(runtime: Runtime, job_id: str) -> int:
    # From the store: the runs of a removed job stay, though the service no longer knows it.
    page = runtime.store.list_runs(job_id=job_id, trigger_source=TriggerSource.SCHEDULED, limit=500)
    return sum(1 for run in page.items if run.started_at is not None)


def assert_silent_after(runtime: Runtime, job_id: str, since: datetime, while_firing: str) -> None:
    """`job_id` starts no fire scheduled after `since`, judged once the scheduler has started
    three fires of `while_firing` scheduled after it (it has been through those times, and
    would have started a fire of `job_id` due then)."""

    def fired_since(job: str) -> list[datetime]:
        page = runtime.store.list_runs(
            job_id=job, trigger_source=TriggerSource.SCHEDULED, limit=500
        )
        return [
            run.scheduled_for
            for run in page.items
            if run.started_at is not None and run.scheduled_for and run.scheduled_for > since
        ]

    wait_for(
        lambda: len(fired_since(while_firing)) >= 3,
        timeout=30,
        what=f"{while_firing} to fire three times after {since:%H:%M:%S.%f}",
    )
    assert fired_since(job_id) == [], f"{job_id} fired after {since}"


@pytest.fixture
def full_reloads(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Times the scheduler rebuilt its whole state from the store."""
    from gnomon.engine.scheduler import Scheduler

    calls: list[float] = []
    original = Scheduler._reload_jobs

    def counted(self: Scheduler) -> None:
        calls.append(time.monotonic())
        original(self)

    monkeypatch.setattr(Scheduler, "_reload_jobs", counted)
    return calls


def test_trigger_change_pause_and_reload_apply_without_a_full_reload(
    write_config: WriteConfig,
    runtime_factory: Callable[[Path], Runtime],
    full_reloads: list[float],
) -> None:
    path = write_config(HEADER + job("slow", LATER) + job("doomed", SECONDLY))
    runtime = runtime_factory(path)
    runtime.start_scheduler()
    wait_for(lambda: started_runs(runtime, "doomed") >= 1, timeout=10, what="doomed fires")
    loads_at_start = len(full_reloads)
    assert loads_at_start >= 1  # taking over loads everything once

    # A trigger change: the job now fires every second.
    runtime.jobs.update_trigger("slow", {"trigger_type": "interval", "seconds": 1}, TESTER)
    wait_for(lambda: started_runs(runtime, "slow") >= 1, timeout=5, what="slow to fire")

    # A pause: no fire started after it, while `doomed` goes on firing.
    paused_at = runtime.jobs.pause("slow", TESTER).record.updated_at
    assert paused_at is not None
    assert_silent_after(runtime, "slow", paused_at + SETTLES, while_firing="doomed")

    # A reload removing one job and adding another.
    write_config(HEADER + job("slow", LATER) + job("added", SECONDLY))
    reloaded_at = datetime.now(UTC)
    result = runtime.jobs.reload(TESTER)
    assert result.removed == ["doomed"] and result.added == ["added"]
    assert_silent_after(runtime, "doomed", reloaded_at + SETTLES, while_firing="added")

    assert len(full_reloads) == loads_at_start
    runs = runtime.runs.list_runs(job_id="added", limit=10).items
    assert all(run.status is not RunStatus.FAILED for run in runs)


def test_a_leader_adopting_fires_claimed_under_an_earlier_trigger_does_not_run_them(
    write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime]
) -> None:
    """A node claimed two fires ahead and stopped; the job's trigger then changed. The next
    leader adopts both: the one the trigger still fires at runs, the other is skipped."""
    minutely = 'trigger = { type = "cron", expression = "* * * * *" }'  # fires: changed first
    path = write_config(HEADER + job("minutely", minutely))
    runtime = runtime_factory(path)
    runtime.jobs.sync_declared(TESTER)
    record = runtime.store.get_job("minutely")
    now = datetime.now(UTC)
    soon = now.replace(microsecond=0) + timedelta(seconds=2)  # well within the misfire grace
    kept = run("minutely", soon, node="gone", lease_token=1, queued_at=now)
    void = run("minutely", soon + timedelta(seconds=1), node="gone", lease_token=1, queued_at=now)
    for claimed in (kept, void):
        runtime.store.add_run(claimed)
    every_second = {"trigger_type": "cron", "cron_expression": f"{soon.second} * * * * * *"}
    runtime.jobs.update_trigger("minutely", every_second | {"timezone": "UTC"}, TESTER)
    assert runtime.store.get_job("minutely").revision != record.revision

    runtime.start_scheduler()
    wait_for(
        lambda: (
            runtime.store.get_run(void.id).status.is_final
            and runtime.store.get_run(kept.id).status.is_final
        ),
        timeout=15,
        what="both adopted fires to end",
    )
    skipped = runtime.store.get_run(void.id)
    assert (skipped.status, skipped.reason) == (RunStatus.SKIPPED, "job_changed")
    assert "no longer fires" in (skipped.error_message or "")
    assert runtime.store.get_run(kept.id).status is RunStatus.SUCCEEDED
