"""What add_job, get_job and get_jobs return: id, name, func, args, kwargs, trigger,
next_run_time (in the trigger's timezone) and paused."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import gnomon
from tests.engine import targets


def test_the_returned_job_says_when_it_runs_next(scheduler: gnomon.Scheduler) -> None:
    before = datetime.now(ZoneInfo("UTC"))
    job = scheduler.add_job(targets.add, "interval", [1], {"b": 2}, id="sum", minutes=10)
    assert (job.id, job.name, job.func) == ("sum", "sum", "tests.engine.targets:add")
    assert (job.args, job.kwargs, job.paused) == ((1,), {"b": 2}, False)
    assert job.next_run_time is not None
    assert before + timedelta(minutes=9) < job.next_run_time <= before + timedelta(minutes=10)
    assert job.trigger.summary() == "interval[0:10:00] UTC"

    paris = scheduler.add_job(targets.ok, "cron", hour=4, timezone="Europe/Paris", id="paris")
    when = paris.next_run_time
    assert when is not None
    assert when.tzinfo == ZoneInfo("Europe/Paris")
    assert (when.hour, when.minute, when.second) == (4, 0, 0)


def test_paused_jobs_have_no_next_run_time(scheduler: gnomon.Scheduler) -> None:
    scheduler.add_job(targets.ok, "interval", id="tick", seconds=30)
    paused = scheduler.pause_job("tick")
    assert paused.paused and paused.next_run_time is None
    assert scheduler.get_job("tick").next_run_time is None
    resumed = scheduler.resume_job("tick")
    assert not resumed.paused and resumed.next_run_time is not None
    [listed] = scheduler.get_jobs()
    assert listed.next_run_time == resumed.next_run_time


def test_its_repr_shows_what_matters(scheduler: gnomon.Scheduler) -> None:
    job = scheduler.add_job(
        targets.ok, "date", id="once", run_date="2099-01-01T09:00:00", timezone="Asia/Tokyo"
    )
    assert repr(job) == (
        "<Job id='once' name='once' func='tests.engine.targets:ok' "
        "trigger='date[2099-01-01T09:00:00+09:00] Asia/Tokyo' "
        "next_run_time='2099-01-01T09:00:00+09:00' paused=False>"
    )
