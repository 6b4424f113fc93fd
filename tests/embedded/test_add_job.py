"""add_job's shapes: a trigger type with keywords (the configuration file's vocabulary, and
APScheduler's cron keywords where they mean the same), a Trigger, a mapping, or none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

import gnomon
from gnomon.domain import RunStatus
from gnomon.errors import JobExists, TriggerInvalid, ValidationFailed
from gnomon.triggers import CronTrigger, DateTrigger, IntervalTrigger
from tests.embedded.conftest import wait_for_run
from tests.engine import targets


def fields(error: ValidationFailed) -> list[str]:
    return [problem.field for problem in error.problems]


def test_the_shape_apscheduler_users_type_fires(scheduler: gnomon.Scheduler) -> None:
    with scheduler:
        view = scheduler.add_job(targets.ok, "interval", seconds=1)
        assert view.record.trigger["type"] == "interval"
        assert view.record.definition.name == "ok"  # the function's name, as APScheduler's
        assert len(view.id) == 32  # a new random id
        wait_for_run(scheduler, view.id)


def test_jobs_added_before_start_fire_once_started(scheduler: gnomon.Scheduler) -> None:
    early = scheduler.add_job(targets.ok, "interval", seconds=1, id="early")
    assert [job.id for job in scheduler.get_jobs()] == ["early"]
    with scheduler:
        late = scheduler.add_job(targets.ok, "cron", expression="* * * * * *", id="late")
        wait_for_run(scheduler, early.id)
        wait_for_run(scheduler, late.id)


def test_cron_in_the_configuration_files_words(scheduler: gnomon.Scheduler) -> None:
    view = scheduler.add_job(targets.ok, "cron", expression="*/5 * * * *", id="every5")
    assert view.record.trigger == {
        "type": "cron",
        "expression": "0 */5 * * * * *",
        "timezone": "UTC",
    }
    mapping = {"type": "cron", "expression": "*/5 * * * *", "timezone": "Europe/Paris"}
    view = scheduler.add_job(targets.ok, mapping, id="paris")
    assert view.record.trigger["timezone"] == "Europe/Paris"
    # The API's spelling, as the file accepts it too.
    api = {"trigger_type": "cron", "cron_expression": "*/5 * * * *"}
    assert scheduler.add_job(targets.ok, api, id="api").record.trigger["expression"] == (
        "0 */5 * * * * *"
    )


def test_apscheduler_cron_keywords_that_mean_the_same(scheduler: gnomon.Scheduler) -> None:
    view = scheduler.add_job(
        targets.ok, "cron", day_of_week="mon-fri", hour=3, minute="*/15", timezone=ZoneInfo("UTC")
    )
    assert view.record.trigger["expression"] == "0 */15 3 * * mon-fri *"
    # Fields smaller than the largest given start at their minimum, as APScheduler does.
    assert scheduler.add_job(targets.ok, "cron", hour=3).record.trigger["expression"] == (
        "0 0 3 * * * *"
    )


def test_apscheduler_keywords_that_differ_are_refused_by_name(
    scheduler: gnomon.Scheduler,
) -> None:
    with pytest.raises(TriggerInvalid) as info:
        scheduler.add_job(targets.ok, "cron", day_of_week="0-4")
    assert fields(info.value) == ["day_of_week"]
    assert "Monday" in str(info.value)
    with pytest.raises(TriggerInvalid) as info:
        scheduler.add_job(targets.ok, "cron", week=3, hour=1)
    assert fields(info.value) == ["week"]
    with pytest.raises(TriggerInvalid) as info:
        scheduler.add_job(targets.ok, "interval", seconds=5, end_date="2030-01-01")
    assert fields(info.value) == ["end_date"]
    with pytest.raises(ValidationFailed) as info:
        scheduler.add_job(targets.ok, "interval", seconds=5, jobstore="default")
    assert fields(info.value) == ["jobstore"]
    assert "one store" in str(info.value)
    with pytest.raises(ValidationFailed) as info:
        scheduler.add_job(targets.ok, "interval", seconds=5, sekonds=1)
    assert fields(info.value) == ["sekonds"]
    assert "unknown keyword" in str(info.value)


def test_trigger_errors_name_the_keyword_as_written(scheduler: gnomon.Scheduler) -> None:
    with pytest.raises(TriggerInvalid) as info:
        scheduler.add_job(targets.ok, "cron", minute="61")
    assert fields(info.value) == ["minute"]
    with pytest.raises(TriggerInvalid) as info:
        scheduler.add_job(targets.ok, "cron", expression="nonsense")
    assert fields(info.value) == ["expression"]
    with pytest.raises(TriggerInvalid) as info:
        scheduler.add_job(targets.ok, "hourly")
    assert fields(info.value) == ["trigger"]
    with pytest.raises(TriggerInvalid) as info:
        scheduler.add_job(targets.ok, "interval", seconds=5, minute="1")
    assert fields(info.value) == ["minute"]
    with pytest.raises(TriggerInvalid) as info:
        scheduler.add_job(targets.ok, {"type": "interval", "seconds": 5}, minutes=1)
    assert fields(info.value) == ["minutes"]
    with pytest.raises(TriggerInvalid) as info:
        scheduler.add_job(targets.ok, "cron", expression="* * * * *", cron_expression="1 * * * *")
    assert fields(info.value) == ["cron_expression"]


def test_date_and_interval_take_python_datetimes(scheduler: gnomon.Scheduler) -> None:
    soon = datetime(2099, 6, 1, 9, 30)  # naive: in the trigger's timezone
    view = scheduler.add_job(targets.ok, "date", run_date=soon, timezone="Asia/Tokyo")
    assert view.record.next_fire_time == datetime(2099, 6, 1, 0, 30, tzinfo=UTC)
    start = datetime(2030, 1, 1, tzinfo=UTC)
    view = scheduler.add_job(targets.ok, "interval", hours=1, start_date=start)
    assert view.record.next_fire_time == start
    with pytest.raises(TriggerInvalid) as info:
        scheduler.add_job(targets.ok, "date", run_date=datetime(2001, 1, 1, tzinfo=UTC))
    assert "in the past" in str(info.value)


def test_a_trigger_object(scheduler: gnomon.Scheduler) -> None:
    trigger = CronTrigger("30 2 * * mon-fri", "Asia/Shanghai")
    view = scheduler.add_job(targets.ok, trigger, id="nightly")
    assert view.trigger == trigger
    start = datetime.now(UTC) + timedelta(hours=1)
    every = IntervalTrigger(start_date=start, timezone="UTC", minutes=10)
    assert scheduler.add_job(targets.ok, every).record.next_fire_time == start
    with pytest.raises(TriggerInvalid) as info:
        scheduler.add_job(targets.ok, trigger, hour=3)
    assert fields(info.value) == ["hour"]


def test_no_trigger_runs_once_now(scheduler: gnomon.Scheduler) -> None:
    with scheduler:
        view = scheduler.add_job(targets.ok, id="once")
        run = wait_for_run(scheduler, "once")
        assert isinstance(view.trigger, DateTrigger)
        assert run.scheduled_for == view.trigger.run_date
        assert scheduler.get_job("once").record.next_fire_time is None


def test_ids_and_replacing(scheduler: gnomon.Scheduler) -> None:
    scheduler.add_job("tests.engine.targets:ok", "interval", minutes=1, id="same")
    with pytest.raises(JobExists):
        scheduler.add_job(targets.ok, "interval", minutes=2, id="same")
    view = scheduler.add_job(targets.ok, "interval", minutes=2, id="same", replace_existing=True)
    assert view.record.trigger["minutes"] == 2
    assert view.record.definition.name == "same"
    with pytest.raises(ValidationFailed, match="not a valid job id"):
        scheduler.add_job(targets.ok, "interval", minutes=1, id="Not Valid")


def test_the_first_shapes_still_work(scheduler: gnomon.Scheduler) -> None:
    view = scheduler.add_job(
        targets.ok, {"trigger_type": "interval", "seconds": 30}, id="old", kwargs={}
    )
    assert view.record.trigger["seconds"] == 30
    assert scheduler.get_job("old").state.value == "scheduled"
    with scheduler:
        scheduler.run_job("old")
        wait_for_run(scheduler, "old", RunStatus.SUCCEEDED)


def test_the_decorator_adds_the_function_and_returns_it(scheduler: gnomon.Scheduler) -> None:
    decorate = scheduler.scheduled_job("interval", seconds=1, id="decorated", max_instances=2)
    assert decorate(targets.ok) is targets.ok
    job = scheduler.get_job("decorated")
    assert job.record.definition.target == "tests.engine.targets:ok"
    assert job.record.definition.max_instances == 2
    with scheduler:
        wait_for_run(scheduler, "decorated")
    with pytest.raises(ValueError, match="module-level"):

        @scheduler.scheduled_job("interval", seconds=1)
        def local() -> None:
            pass


def test_job_options_are_checked_as_the_files_are(scheduler: gnomon.Scheduler) -> None:
    with pytest.raises(ValidationFailed) as info:
        scheduler.add_job(
            targets.ok,
            "interval",
            seconds=5,
            max_instances="2",
            misfire_grace_time=None,  # APScheduler's "no limit": gnomon has none
            timeout=0,
            coalesce=1,
            env={"A": 1},
        )
    assert fields(info.value) == [
        "max_instances",
        "misfire_grace_time",
        "timeout",
        "coalesce",
        "env",
    ]
    job = scheduler.add_job(
        targets.ok, "interval", seconds=5, max_instances=3, timeout=1.5, notify=None
    )
    assert (job.record.definition.max_instances, job.record.definition.timeout) == (3, 1.5)
