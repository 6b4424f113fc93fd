"""Registering the declared jobs when a scheduler starts: from the configuration already loaded,
keeping each job's state."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gnomon.services.runtime import Runtime
from gnomon.services.views import Actor, JobState
from tests.conftest import WriteConfig

ADMIN = Actor("admin")

CONFIG = """
[scheduler]
timezone = "UTC"
shutdown_grace = 1

[[jobs]]
id = "daily"
command = ["true"]
trigger = { type = "cron", expression = "0 0 3 * * * 2099" }

[[jobs]]
id = "weekly"
command = ["true"]
trigger = { type = "cron", expression = "0 0 4 * * sun 2099" }

[[jobs]]
id = "gone"
command = ["true"]
trigger = { type = "interval", hours = 12, start_date = "2099-01-01T00:00:00Z" }

[[jobs]]
id = "gnomon.prune_runs"
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
"""


def test_start_registers_the_configuration_the_runtime_was_built_from(
    write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime]
) -> None:
    path = write_config(CONFIG)
    runtime = runtime_factory(path)
    write_config(CONFIG.replace('id = "gone"', 'id = "later"'))
    runtime.start_scheduler()
    ids = [view.id for view in runtime.jobs.list_jobs()]
    assert ids == ["daily", "gnomon.prune_runs", "gone", "weekly"]
    result = runtime.jobs.reload(ADMIN)  # a reload reads the file afresh
    assert result.added == ["later"] and result.removed == ["gone"]


def test_start_keeps_pause_override_and_next_fire_time_and_applies_changes(
    write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime]
) -> None:
    first = runtime_factory(write_config(CONFIG))
    first.start_scheduler()
    first.jobs.pause("daily", ADMIN)
    first.jobs.update_trigger("weekly", {"trigger_type": "interval", "hours": 1}, ADMIN)
    weekly_next = first.jobs.get_job("weekly").record.next_fire_time
    first.close(grace=1)

    changed = CONFIG.replace("0 0 3 * * *", "0 0 5 * * *").replace('id = "gone"', 'id = "new"')
    second = runtime_factory(write_config(changed))
    second.start_scheduler()
    daily = second.jobs.get_job("daily")
    assert daily.state == JobState.PAUSED
    assert daily.record.definition.trigger["expression"] == "0 0 5 * * * 2099"
    weekly = second.jobs.get_job("weekly")
    assert weekly.record.overridden and weekly.record.trigger["hours"] == 1
    assert weekly.record.next_fire_time == weekly_next
    ids = [view.id for view in second.jobs.list_jobs()]
    assert ids == ["daily", "gnomon.prune_runs", "new", "weekly"]
