"""Job use cases on a real SQLite store: trigger changes, pause/resume, run now, reload, audit."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gnomon.domain import JobDefinition, JobKind, RunStatus
from gnomon.errors import (
    ConfigInvalid,
    JobAlreadyRunning,
    JobExists,
    JobHasNoNextRun,
    JobNotEditable,
    JobNotFound,
    SchedulerNotRunning,
    TriggerInvalid,
)
from gnomon.services.runtime import Runtime
from gnomon.services.views import Actor, JobState
from tests.conftest import WriteConfig

ADMIN = Actor("admin", user_id=1, client="127.0.0.1")

CONFIG = """
[scheduler]
timezone = "UTC"

[[jobs]]
id = "every-minute"
command = ["true"]
trigger = { type = "cron", expression = "0 * * * * * 2099" }

[[jobs]]
id = "locked-job"
command = ["true"]
trigger = { type = "interval", minutes = 5, start_date = "2099-01-01T00:00:00Z" }
locked = true

[[jobs]]
id = "once"
command = ["true"]
trigger = { type = "date", run_date = "2020-01-01T00:00:00Z" }

[[jobs]]
id = "gnomon.prune_runs"
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
"""


@pytest.fixture
def runtime(write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime]) -> Runtime:
    runtime = runtime_factory(write_config(CONFIG))
    runtime.jobs.sync_declared(ADMIN)
    return runtime


def test_declared_and_shipped_jobs_are_registered_sorted(runtime: Runtime) -> None:
    ids = [v.id for v in runtime.jobs.list_jobs()]
    assert ids == ["every-minute", "gnomon.prune_runs", "locked-job", "once"]
    once = runtime.jobs.get_job("once")
    assert once.state == JobState.FINISHED


def test_update_trigger_keeps_pause_and_audits(runtime: Runtime) -> None:
    runtime.jobs.pause("every-minute", ADMIN)
    view = runtime.jobs.update_trigger(
        "every-minute",
        {"trigger_type": "interval", "seconds": 30},
        ADMIN,
    )
    assert view.state == JobState.PAUSED
    assert view.record.overridden
    assert view.trigger.timezone.key == "UTC"  # timezone omitted: the job keeps its own
    entry = runtime.store.list_audit(limit=1)[0]
    assert (entry.actor, entry.action, entry.target) == (
        "admin",
        "job.update_trigger",
        "every-minute",
    )
    assert entry.before is not None and entry.before["trigger"]["type"] == "cron"
    assert entry.after is not None and entry.after["trigger"]["type"] == "interval"
    assert entry.client == "127.0.0.1"


def test_update_trigger_rejects_locked_and_ad_hoc_jobs(runtime: Runtime) -> None:
    with pytest.raises(JobNotEditable):
        runtime.jobs.update_trigger("locked-job", {"trigger_type": "interval", "seconds": 5}, ADMIN)
    adhoc = JobDefinition(
        id="adhoc",
        name="adhoc",
        kind=JobKind.COMMAND,
        command=("true",),
        trigger=runtime.jobs.get_job("every-minute").record.trigger,
    )
    runtime.jobs.add_job(adhoc, ADMIN)
    with pytest.raises(JobNotEditable):
        runtime.jobs.update_trigger("adhoc", {"trigger_type": "interval", "seconds": 5}, ADMIN)
    with pytest.raises(JobExists):
        runtime.jobs.add_job(adhoc, ADMIN)


def test_update_trigger_validates(runtime: Runtime) -> None:
    with pytest.raises(TriggerInvalid) as info:
        runtime.jobs.update_trigger(
            "every-minute", {"trigger_type": "cron", "cron_expression": "0 0 * * 8"}, ADMIN
        )
    assert info.value.problems[0].field == "cron_expression"
    with pytest.raises(JobNotFound):
        runtime.jobs.update_trigger("nope", {"trigger_type": "interval", "seconds": 5}, ADMIN)


def test_pause_and_resume_are_idempotent(runtime: Runtime) -> None:
    first = runtime.jobs.pause("every-minute", ADMIN)
    second = runtime.jobs.pause("every-minute", ADMIN)
    assert first.state == second.state == JobState.PAUSED
    assert second.record.next_fire_time is None
    resumed = runtime.jobs.resume("every-minute", ADMIN)
    assert resumed.state == JobState.SCHEDULED
    assert resumed.record.next_fire_time is not None
    assert runtime.jobs.resume("every-minute", ADMIN).state == JobState.SCHEDULED
    actions = [e.action for e in runtime.store.list_audit(limit=10)]
    assert actions.count("job.pause") == 1 and actions.count("job.resume") == 1


def test_resume_without_future_fire_time_is_refused_and_job_kept(runtime: Runtime) -> None:
    with pytest.raises(JobHasNoNextRun):  # not paused, but finished: still refused
        runtime.jobs.resume("once", ADMIN)
    runtime.jobs.pause("once", ADMIN)
    with pytest.raises(JobHasNoNextRun):
        runtime.jobs.resume("once", ADMIN)
    assert runtime.jobs.get_job("once").state == JobState.PAUSED


def test_run_now_queues_a_manual_run_and_respects_max_instances(runtime: Runtime) -> None:
    run = runtime.jobs.run_now("locked-job", ADMIN)
    assert run.status == RunStatus.QUEUED
    assert run.trigger_source == "manual"
    assert run.created_by == 1
    assert run.manual_job_id and run.manual_job_id.startswith("manual-locked-job-")
    with pytest.raises(JobAlreadyRunning) as info:
        runtime.jobs.run_now("locked-job", ADMIN)
    assert info.value.run_id == run.id


def test_manual_runs_get_version_7_ids_like_scheduled_ones(runtime: Runtime) -> None:
    first = runtime.jobs.run_now("every-minute", ADMIN)
    assert uuid.UUID(first.id).version == 7
    assert first.manual_job_id == f"manual-every-minute-{first.id[-12:]}"


def test_run_now_works_on_paused_jobs(runtime: Runtime) -> None:
    runtime.jobs.pause("every-minute", ADMIN)
    assert runtime.jobs.run_now("every-minute", ADMIN).status == RunStatus.QUEUED


def test_no_scheduler_running_is_reported(runtime: Runtime) -> None:
    assert not runtime.jobs.scheduler_running()
    with pytest.raises(SchedulerNotRunning):
        runtime.jobs.require_scheduler()


def test_reload_resets_overrides_and_pauses_and_reports_the_diff(
    runtime: Runtime, write_config: WriteConfig
) -> None:
    runtime.jobs.pause("locked-job", ADMIN)
    runtime.jobs.update_trigger("every-minute", {"trigger_type": "interval", "hours": 1}, ADMIN)
    runtime.jobs.add_job(
        JobDefinition(
            id="adhoc",
            name="adhoc",
            kind=JobKind.COMMAND,
            command=("true",),
            trigger=runtime.jobs.get_job("locked-job").record.trigger,
        ),
        ADMIN,
    )
    write_config(CONFIG.replace('id = "once"', 'id = "once-again"'))
    result = runtime.jobs.reload(ADMIN)
    assert result.added == ["once-again"]
    assert result.removed == ["adhoc", "once"]
    assert result.changed == ["every-minute", "locked-job"]
    assert set(result.deleted) == {
        "adhoc",
        "every-minute",
        "gnomon.prune_runs",
        "locked-job",
        "once",
    }
    assert result.reloaded == ["every-minute", "gnomon.prune_runs", "locked-job", "once-again"]
    assert not runtime.jobs.get_job("every-minute").record.overridden
    assert runtime.jobs.get_job("locked-job").state == JobState.SCHEDULED


def test_reload_with_broken_config_changes_nothing(
    runtime: Runtime, write_config: WriteConfig
) -> None:
    runtime.jobs.pause("every-minute", ADMIN)
    before = {v.id: (v.record.trigger, v.record.paused) for v in runtime.jobs.list_jobs()}
    write_config(CONFIG + '\n[[jobs]]\nid = "Bad Id"\ncommand = ["true"]\n')
    with pytest.raises(ConfigInvalid) as info:
        runtime.jobs.reload(ADMIN)
    fields = {p.field for p in info.value.problems}
    assert "jobs[4].id" in fields
    after = {v.id: (v.record.trigger, v.record.paused) for v in runtime.jobs.list_jobs()}
    assert after == before


def test_restart_sync_keeps_state_and_follows_declaration_changes(
    runtime: Runtime, write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime]
) -> None:
    runtime.jobs.pause("every-minute", ADMIN)
    path = write_config(CONFIG.replace("minutes = 5", "minutes = 7"))
    again = runtime_factory(path)
    result = again.jobs.sync_declared(ADMIN)
    assert result.changed == ["locked-job"]
    assert again.jobs.get_job("every-minute").state == JobState.PAUSED
    locked = again.jobs.get_job("locked-job")
    assert locked.record.trigger["minutes"] == 7
    assert not locked.record.overridden


def test_preview_trigger_gives_next_times_without_changing_anything(runtime: Runtime) -> None:
    trigger, times = runtime.jobs.preview_trigger(
        {"trigger_type": "cron", "cron_expression": "0 0 12 * * *", "timezone": "UTC"}, count=3
    )
    assert len(times) == 3
    assert all(t.hour == 12 and t.minute == 0 for t in times)
    assert times[1] - times[0] == timedelta(days=1)
    assert trigger.timezone.key == "UTC"
    assert times[0] > datetime.now(UTC)
