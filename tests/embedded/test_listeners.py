"""add_listener: runs started, finished and failed, fire times missed and skipped, told to the
application in the process where they happen; a listener that raises breaks nothing."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest

import gnomon
from gnomon import Events, RunEvent
from gnomon.domain import RunStatus
from gnomon.embedded import APPLICATION
from tests.e2e.procs import wait_for
from tests.embedded.conftest import wait_for_run
from tests.engine import targets


class Recorder:
    """A listener keeping what it was told, and on which thread."""

    def __init__(self) -> None:
        self.events: list[RunEvent] = []
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, event: RunEvent) -> None:
        with self._lock:
            self.events.append(event)
            self.threads.add(threading.current_thread().name)

    def of(self, job_id: str, kind: Events | None = None) -> list[RunEvent]:
        with self._lock:
            return [
                e for e in self.events if e.job_id == job_id and (kind is None or e.kind is kind)
            ]

    def wait(self, job_id: str, kind: Events, timeout: float = 10) -> RunEvent:
        found = wait_for(lambda: self.of(job_id, kind), timeout, f"{kind.name} of {job_id}")
        return found[0]


def test_a_run_is_told_started_then_finished(scheduler: gnomon.Scheduler) -> None:
    heard = Recorder()
    scheduler.add_listener(heard)
    with scheduler:
        scheduler.add_job(targets.ok, "interval", id="tick", seconds=1)
        finished = heard.wait("tick", Events.FINISHED)
        started = heard.of("tick", Events.STARTED)[0]
    assert (started.run_id, started.status) == (finished.run_id, RunStatus.RUNNING)
    assert finished.status is RunStatus.SUCCEEDED
    assert finished.scheduled_for is not None and finished.scheduled_for == started.scheduled_for
    assert finished.error is None
    run = scheduler.runtime.runs.get_run(finished.run_id or "")
    assert run.scheduled_for == finished.scheduled_for
    assert heard.threads == {"gnomon-events"}


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_failures_carry_the_error(scheduler: gnomon.Scheduler, isolation: str) -> None:
    heard = Recorder()
    scheduler.add_listener(heard, Events.FAILED)
    with scheduler:
        scheduler.add_job(targets.fails, id="broken", isolation=isolation)
        failed = heard.wait("broken", Events.FAILED)
        scheduler.add_job(targets.naps, kwargs={"seconds": 5}, id="slow", timeout=0.2)
        timed_out = heard.wait("slow", Events.FAILED)
    assert failed.status is RunStatus.FAILED
    assert failed.error == "boom: the backup disk is full"
    assert failed.error_type == "tests.engine.targets.JobError"
    assert failed.traceback is not None and "JobError" in failed.traceback
    assert timed_out.status is RunStatus.TIMED_OUT
    assert {e.kind for e in heard.events} == {Events.FAILED}  # only what was asked for


def test_manual_runs_have_no_scheduled_time(scheduler: gnomon.Scheduler) -> None:
    heard = Recorder()
    scheduler.add_listener(heard, Events.ENDED)
    with scheduler:
        scheduler.add_job(targets.ok, "interval", id="later", hours=1)
        run = scheduler.run_job("later")
        finished = heard.wait("later", Events.FINISHED)
    assert finished.run_id == run.id
    assert finished.scheduled_for is None


def test_missed_fire_times(scheduler: gnomon.Scheduler) -> None:
    heard = Recorder()
    scheduler.add_listener(heard, Events.MISSED)
    # A job whose fire times came while no scheduler ran: ten minutes of them, past the grace.
    jobs = scheduler.runtime.jobs
    ago = jobs.now() - timedelta(minutes=10)
    view = scheduler.add_job(
        targets.ok, "interval", id="late", minutes=1, start_date=ago, misfire_grace_time=5
    )
    jobs.add_job(view.record.definition, APPLICATION, replace_existing=True, after=ago)
    with scheduler:
        missed = heard.wait("late", Events.MISSED)
    assert missed.status is RunStatus.MISSED
    assert missed.reason == "scheduler_down"
    assert missed.scheduled_for is not None and missed.scheduled_for < jobs.now()
    assert missed.fire_count >= 9
    assert missed.run_id is not None


def test_skipped_fire_times(scheduler: gnomon.Scheduler) -> None:
    heard = Recorder()
    scheduler.add_listener(heard, Events.SKIPPED)
    with scheduler:
        scheduler.add_job(targets.naps, "interval", id="overrun", kwargs={"seconds": 3}, seconds=1)
        skipped = heard.wait("overrun", Events.SKIPPED)
    assert skipped.status is RunStatus.SKIPPED
    assert skipped.reason == "max_instances"
    assert skipped.scheduled_for is not None


def test_a_listener_that_raises_is_logged_and_breaks_nothing(
    scheduler: gnomon.Scheduler, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: RunEvent) -> None:
        raise RuntimeError("the application's bug")

    heard = Recorder()
    scheduler.add_listener(broken)
    scheduler.add_listener(heard)
    with caplog.at_level(logging.ERROR, logger="gnomon.events"), scheduler:
        scheduler.add_job(targets.ok, "interval", id="tick", seconds=1)
        wait_for(lambda: len(heard.of("tick", Events.FINISHED)) >= 2, 10, "two runs")
        wait_for_run(scheduler, "tick")
    failures = [r for r in caplog.records if r.name == "gnomon.events"]
    assert failures and "the application's bug" in (failures[0].exc_text or "")
    assert "listener" in failures[0].getMessage()


def test_removed_listeners_hear_nothing_more(scheduler: gnomon.Scheduler) -> None:
    gone, kept = Recorder(), Recorder()
    scheduler.add_listener(gone)
    scheduler.add_listener(kept, Events.FINISHED)
    scheduler.remove_listener(gone)
    with scheduler:
        scheduler.add_job(targets.ok, id="once")
        kept.wait("once", Events.FINISHED)
    assert gone.events == []
    with pytest.raises(TypeError, match=r"gnomon\.Events"):
        scheduler.add_listener(kept, 1)  # type: ignore[arg-type]


def test_events_of_runs_ending_during_shutdown_are_delivered(scheduler: gnomon.Scheduler) -> None:
    heard = Recorder()
    scheduler.add_listener(heard)
    scheduler.start()
    scheduler.add_job(targets.naps, kwargs={"seconds": 0.5}, id="nap")
    heard.wait("nap", Events.STARTED)
    scheduler.shutdown(grace=5)
    assert [e.kind for e in heard.of("nap")] == [Events.STARTED, Events.FINISHED]
