"""Positional `args` beside `kwargs`: stored as JSON with the job, passed to the target in a
thread or a child process; what JSON cannot hold is refused naming where it is."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

import gnomon
from gnomon.config import load_config
from gnomon.errors import ConfigInvalid, ValidationFailed
from tests.conftest import WriteConfig
from tests.embedded.conftest import wait_for_run
from tests.engine import targets


def output_of(scheduler: gnomon.Scheduler, job_id: str) -> str:
    run = wait_for_run(scheduler, job_id)
    return scheduler.runtime.runs.get_run(run.id).output or ""


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_args_and_kwargs_reach_the_target(scheduler: gnomon.Scheduler, isolation: str) -> None:
    with scheduler:
        view = scheduler.add_job(
            targets.shows,
            "interval",
            [1, "two", (3, 4), {"five": 5}],
            {"six": [6]},
            id="shows",
            seconds=1,
            isolation=isolation,
        )
        assert view.record.definition.args == (1, "two", [3, 4], {"five": 5})
        out = output_of(scheduler, "shows")
    # Tuples come back as JSON gives them: lists.
    assert "(1, 'two', [3, 4], {'five': 5}) six=[6]" in out


def test_args_by_keyword_and_in_the_decorator(scheduler: gnomon.Scheduler) -> None:
    with scheduler:
        scheduler.add_job(targets.add, "interval", seconds=1, args=(2,), kwargs={"b": 3}, id="sum")
        scheduler.scheduled_job("interval", [40, 2], seconds=1, id="deco")(targets.add)
        assert "return value: 5" in output_of(scheduler, "sum")
        assert "return value: 42" in output_of(scheduler, "deco")
    assert scheduler.get_job("sum").record.definition.args == (2,)


def test_what_json_cannot_hold_is_refused_by_name(scheduler: gnomon.Scheduler) -> None:
    with pytest.raises(ValidationFailed) as info:
        scheduler.add_job(
            targets.shows,
            "interval",
            [object(), [1, {2: "x"}], math.nan],
            {"when": datetime.now(UTC), "path": Path("/tmp"), "ok": 1},
            seconds=5,
        )
    fields = [problem.field for problem in info.value.problems]
    assert fields == ["args[0]", "args[1][1][2]", "args[2]", "kwargs.when", "kwargs.path"]
    message = str(info.value)
    assert message.startswith("arguments that cannot be stored as JSON")
    assert "a datetime is not JSON data" in message
    with pytest.raises(ValidationFailed, match="args: must be a list or tuple, not str"):
        scheduler.add_job(targets.shows, "interval", "abc", seconds=5)
    assert scheduler.get_jobs() == []


NEVER = 'trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }\n'


def test_args_in_the_configuration_file(write_config: WriteConfig) -> None:
    config = write_config(
        '[[jobs]]\nid = "sum"\ntarget = "tests.engine.targets:add"\nargs = [2, 3]\n' + NEVER
    )
    [job] = [job for job in load_config(config, {}).jobs if job.id == "sum"]
    assert job.args == (2, 3)
    bad = write_config(
        '[[jobs]]\nid = "cmd"\ncommand = ["true"]\nargs = [1]\n'
        + NEVER
        + '[[jobs]]\nid = "ref"\ntarget = "tests.engine.targets:add"\nargs = ["${env:1X}"]\n'
        + NEVER
        # TOML has datetimes, JSON has not: refused here rather than failing the store write.
        + '[[jobs]]\nid = "when"\ntarget = "tests.engine.targets:add"\n'
        + "args = [2026-01-01T00:00:00Z]\nkwargs = { at = { time = 09:30:00 } }\n"
        + NEVER
    )
    with pytest.raises(ConfigInvalid) as info:
        load_config(bad, {})
    assert [p.field for p in info.value.problems] == [
        "jobs[0].args",
        "jobs[1].args[0]",
        "jobs[2].args[0]",
        "jobs[2].kwargs.at.time",
    ]
    assert "a datetime is not JSON data" in str(info.value)
