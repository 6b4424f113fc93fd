"""`gnomon import celery-beat MODULE:APP`: a sample app's beat_schedule becomes celery_task jobs
that gnomon's own configuration loader accepts, firing when beat would."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path

from celery.schedules import crontab
from click.testing import CliRunner

from gnomon.cli import cli
from gnomon.config import load_config
from gnomon.domain import JobKind
from gnomon.services.celery_beat import convert_beat_schedule
from gnomon.triggers import load_trigger
from tests.celery_app.sample import create_app

SAMPLE = "tests.celery_app.sample:app"


def test_the_sample_schedule_becomes_celery_task_jobs_gnomon_loads(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["import", "celery-beat", SAMPLE])
    assert result.exit_code == 0, result.output
    jobs = tomllib.loads(result.output)["jobs"]
    assert [job["id"] for job in jobs] == [
        "nightly-report",
        "add-every-10s",
        "add-every-90m",
        "monthly",
    ]
    config = tmp_path / "gnomon.toml"
    config.write_text('[celery]\nbroker_url = "redis://127.0.0.1:6379/11"\n\n' + result.output)
    loaded = {job.id: job for job in load_config(config, env={}).jobs}
    nightly = loaded["nightly-report"]
    assert (nightly.kind, nightly.task, nightly.name) == (
        JobKind.CELERY_TASK,
        "sample.report",
        "nightly report",
    )
    assert (nightly.args, nightly.kwargs, nightly.queue) == (("monday",), {"pages": 3}, "reports")
    assert nightly.task_options == {"routing_key": "reports.nightly"}
    assert loaded["add-every-10s"].args == (1, 2)
    assert loaded["add-every-10s"].queue == "celery"
    assert loaded["add-every-90m"].trigger["type"] == "interval"
    # Fires when beat would: 02:30 Paris time on weekdays; 06:00 on the first of each quarter.
    after = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)  # a Friday
    trigger = load_trigger(nightly.trigger)
    assert trigger.next_fire_time(after) == datetime(2026, 3, 9, 1, 30, tzinfo=UTC)  # Monday
    monthly = load_trigger(loaded["monthly"].trigger)
    assert monthly.next_fire_time(after) == datetime(2026, 4, 1, 4, 0, tzinfo=UTC)  # CEST
    interval = load_trigger(loaded["add-every-90m"].trigger)
    first = interval.next_fire_time(after)
    assert first is not None
    assert (interval.next_fire_time(first) - first).total_seconds() == 5400


def test_output_writes_a_new_file_and_never_overwrites_one(tmp_path: Path) -> None:
    target = tmp_path / "jobs.toml"
    runner = CliRunner()
    result = runner.invoke(cli, ["import", "celery-beat", SAMPLE, "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert len(tomllib.loads(target.read_text())["jobs"]) == 4
    again = runner.invoke(cli, ["import", "celery-beat", SAMPLE, "--output", str(target)])
    assert again.exit_code != 0
    assert "exists" in again.output


def test_a_solar_schedule_is_refused_saying_why() -> None:
    result = CliRunner().invoke(cli, ["import", "celery-beat", "tests.celery_app.sample:solar_app"])
    assert result.exit_code == 1
    assert "not converted: 'at dawn': solar schedules" in result.output
    assert "# NOT CONVERTED 'at dawn'" in result.output


def test_a_crontab_restricting_both_days_is_refused_and_dropped_options_are_noted() -> None:
    app = create_app("memory://", None)
    app.conf.beat_schedule = {
        "both": {"task": "sample.add", "schedule": crontab(day_of_month="1", day_of_week="mon")},
        "ok": {
            "task": "sample.add",
            "schedule": crontab(minute="*/15"),
            "options": {"expires": 30, "priority": 5},
        },
    }
    conversion = convert_beat_schedule(app, "test:app")
    assert [name for name, _ in conversion.refused] == ["both"]
    assert "matching both" in conversion.refused[0][1]
    assert conversion.jobs[0]["trigger"]["expression"] == "0 0,15,30,45 * * * *"
    assert "# options not carried over: expires, priority" in conversion.to_toml()


def test_an_app_that_cannot_be_loaded_is_named_with_why() -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["import", "celery-beat", "tests.celery_app.nowhere:app"])
    assert result.exit_code != 0
    assert "cannot import 'tests.celery_app.nowhere'" in result.output
    result = runner.invoke(cli, ["import", "celery-beat", "tests.celery_app.sample"])
    assert "give the app as MODULE:APP" in result.output
