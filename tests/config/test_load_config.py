"""Loading the configuration: job definitions built once, their triggers shared with later loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from gnomon.config import load_config
from gnomon.errors import ConfigInvalid
from gnomon.triggers import load_trigger
from tests.conftest import WriteConfig

CONFIG = """
[scheduler]
timezone = "UTC"

[[jobs]]
id = "tick"
command = ["true"]
trigger = { type = "interval", seconds = 5 }

[[jobs]]
id = "nightly"
command = ["true"]
trigger = { type = "cron", expression = "0 30 2 * * mon-fri", timezone = "Asia/Shanghai" }

[[jobs]]
id = "off"
command = ["true"]
trigger = { type = "interval", minutes = 1 }
enabled = false
"""


@pytest.fixture
def config_path(write_config: WriteConfig) -> Path:
    return write_config(CONFIG)


def test_loaded_config_carries_the_enabled_definitions_sorted_with_shipped_jobs(
    config_path: Path,
) -> None:
    loaded = load_config(config_path, env={})
    assert [job.id for job in loaded.jobs] == ["gnomon.prune_runs", "nightly", "tick"]
    tick = next(job for job in loaded.jobs if job.id == "tick")
    assert tick.trigger["type"] == "interval" and tick.trigger["seconds"] == 5
    assert tick.misfire_grace_time == 300  # the scheduler default applied


def test_loaded_config_does_not_keep_the_declarations_twice(config_path: Path) -> None:
    loaded = load_config(config_path, env={})
    assert loaded.settings.jobs == []
    assert loaded.settings.scheduler.timezone == "UTC"


def test_declared_triggers_are_reused_by_load_trigger(config_path: Path) -> None:
    loaded = load_config(config_path, env={})
    for job in loaded.jobs:
        trigger = load_trigger(dict(job.trigger))
        assert trigger is load_trigger(dict(job.trigger))
        assert trigger.to_spec() == job.trigger


def test_a_bad_job_names_its_key_and_the_file(write_config: WriteConfig) -> None:
    path = write_config(CONFIG.replace("seconds = 5", "seconds = 0"))
    with pytest.raises(ConfigInvalid) as info:
        load_config(path, env={})
    assert [p.field for p in info.value.problems] == ["jobs[0].trigger.seconds"]
    assert str(path.resolve()) in str(info.value)
