"""The scheduler in this process, on a real SQLite store: firing, manual runs, cancel, overlap."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from gnomon.domain import Run, RunStatus, TriggerSource, utcnow
from gnomon.engine.scheduler import STARTED_AHEAD_SLACK, Scheduler
from gnomon.engine.starts import AHEAD as START_AHEAD
from gnomon.services.runtime import Runtime
from gnomon.services.views import Actor
from tests.conftest import WriteConfig
from tests.e2e.procs import wait_for
from tests.engine import targets

TESTER = Actor("tester")
#: How long after a pause is committed a fire of the job may still start (see the pause test).
PAUSE_SETTLES = timedelta(seconds=2)

CONFIG = """
[scheduler]
timezone = "UTC"
poll_interval = 0.2
shutdown_grace = 1

[[jobs]]
id = "every-second"
command = ["sh", "-c", "echo tick"]
trigger = { type = "interval", seconds = 1 }  # fires: the tests count and pause its runs

[[jobs]]
id = "sleeper"
command = ["sleep", "30"]
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }

[[jobs]]
id = "held"
target = "tests.engine.targets:held"
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }

[[jobs]]
id = "interrupts"
target = "tests.engine.targets:interrupts"
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }

[[jobs]]
id = "overlapping"
command = ["sleep", "3"]
trigger = { type = "interval", seconds = 1 }  # fires: its runs overlap the next fire time

[[jobs]]
id = "gnomon.prune_runs"
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
"""


@pytest.fixture
def runtime(write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime]) -> Runtime:
    runtime = runtime_factory(write_config(CONFIG))
    runtime.start_scheduler()
    wait_for(runtime.jobs.scheduler_running, timeout=10, what="leadership")
    return runtime


def test_interval_job_fires_each_second_with_output(runtime: Runtime) -> None:
    def two_succeeded() -> list[Run] | None:
        page = runtime.runs.list_runs(job_id="every-second", status=RunStatus.SUCCEEDED)
        return page.items if len(page.items) >= 2 else None

    runs = wait_for(two_succeeded, timeout=10, what="two succeeded runs")
    full = runtime.runs.get_run(runs[0].id)
    assert full.output is not None and "tick" in full.output
    assert full.trigger_source == TriggerSource.SCHEDULED
    assert full.node == runtime.scheduler.node_id  # type: ignore[union-attr]


def test_manual_run_is_executed_in_a_thread_named_by_its_manual_job_id(runtime: Runtime) -> None:
    run = runtime.jobs.run_now("sleeper", TESTER)
    started = wait_for(
        lambda: r if (r := runtime.runs.get_run(run.id)).status == RunStatus.RUNNING else None,
        timeout=5,
        what="the manual run to start",
    )
    assert started.started_at is not None
    cancelled = runtime.runs.cancel_run(run.id, TESTER)
    assert cancelled.cancel_requested
    final = wait_for(
        lambda: r if (r := runtime.runs.get_run(run.id)).status.is_final else None,
        timeout=10,
        what="the cancelled run to end",
    )
    assert final.status == RunStatus.CANCELLED


def test_fire_beyond_max_instances_is_recorded_skipped(runtime: Runtime) -> None:
    skipped = wait_for(
        lambda: runtime.runs.list_runs(job_id="overlapping", status=RunStatus.SKIPPED).items,
        timeout=10,
        what="a skipped record",
    )
    assert skipped[0].reason == "max_instances"


def test_paused_job_does_not_fire_while_the_others_do(runtime: Runtime) -> None:
    def records(job_id: str) -> list[Run]:
        return runtime.runs.list_runs(job_id=job_id, limit=500).items

    def started(job_id: str) -> list[Run]:
        # started_at is written by the transaction that moves a run to running, before it runs.
        return [run for run in records(job_id) if run.started_at is not None]

    wait_for(lambda: started("every-second"), timeout=10, what="a fire before the pause")
    paused_at = runtime.jobs.pause("every-second", TESTER).record.updated_at
    assert paused_at is not None
    # A fire already committed to start as the pause reaches the scheduler (starts are committed
    # 0.15 s ahead) may still run: allow those of the next PAUSE_SETTLES, none later.
    settled = paused_at + PAUSE_SETTLES

    def handled_after_settled() -> int:
        # Fires of the job beside it, each run or recorded skipped (its 3 s runs overlap) at its
        # time: the scheduler has been through that time, and the paused job's fire with it.
        return sum(
            1
            for run in records("overlapping")
            if run.scheduled_for is not None
            and run.scheduled_for > settled
            and run.status is not RunStatus.QUEUED
        )

    # The scheduler kept firing meanwhile, for three seconds of fire times past `settled`...
    wait_for(lambda: handled_after_settled() >= 3, timeout=30, what="three later fires beside it")
    # ...and the paused job started none of them.
    late = [run for run in started("every-second") if (run.scheduled_for or settled) > settled]
    assert not late, (paused_at, late)


@pytest.fixture
def held() -> Iterator[threading.Event]:
    """The event the job `held` waits for: clear for the test, set after it."""
    targets.HELD.clear()
    targets.HELD_RUNNING.clear()
    yield targets.HELD
    targets.HELD.set()


def sleeping_here() -> bool:
    """Whether a child process of this one runs `sleep 30` (the job `sleeper`)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")[:-1]
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended meanwhile
        if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid() and argv == [b"sleep", b"30"]:
            return True
    return False


def start_run(runtime: Runtime, job_id: str, running: Callable[[], bool]) -> tuple[Run, Scheduler]:
    """Run the job now; its run once its code is `running` (the store says `running` as soon
    as the run is taken, before a worker starts it), and the scheduler running it."""
    run = runtime.jobs.run_now(job_id, TESTER)
    wait_for(running, timeout=10, what=f"the run of {job_id} to be executing")
    assert runtime.runs.get_run(run.id).status == RunStatus.RUNNING
    assert runtime.scheduler is not None
    return run, runtime.scheduler


def test_stop_cancels_runs_still_running_after_the_grace(runtime: Runtime) -> None:
    run, scheduler = start_run(runtime, "sleeper", sleeping_here)  # SIGTERM ends it at once
    scheduler.stop(grace=0.5)
    runtime.scheduler = None
    final = runtime.runs.get_run(run.id)
    assert final.status == RunStatus.CANCELLED, (final.reason, final.error_message, final.output)
    assert final.finished_at is not None
    assert not runtime.jobs.scheduler_running()  # a clean stop gives the lease up at once


def test_a_stop_starts_the_fire_it_had_moved_to_running_ahead_of_its_time(
    runtime: Runtime,
) -> None:
    # A fire claimed a moment before its time is moved to running by the claim's own write
    # (starts.AHEAD). Stopping then, the scheduler lets it start before it hands the lease
    # over: before, the worker found the lease gone at the fire's time and recorded the run
    # interrupted, on every clean stop that came in the quarter second before a fire.
    def started_ahead() -> Run | None:
        # Read from the store itself: the runs API shows no fire before its time.
        now = utcnow()
        active = runtime.store.active_runs("every-second")
        ahead = [
            r
            for r in active
            if r.status is RunStatus.RUNNING and r.scheduled_for and r.scheduled_for > now
        ]
        return ahead[0] if ahead else None

    run = wait_for(started_ahead, timeout=10, what="a fire moved to running early", every=0.002)
    assert runtime.scheduler is not None
    runtime.scheduler.stop(grace=5)
    runtime.scheduler = None
    final = runtime.runs.get_run(run.id)
    assert final.status == RunStatus.SUCCEEDED, (final.status, final.reason, final.output)
    assert final.output is not None and "tick" in final.output
    assert not runtime.jobs.scheduler_running()


def test_a_stop_hands_the_lease_over_in_bounded_time_when_no_worker_takes_such_a_fire(
    write_config: WriteConfig,
    runtime_factory: Callable[[Path], Runtime],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # One worker, busy with `sleeper`: a fire moved to running waits for it. The stop
    # waits at most starts.AHEAD + STARTED_AHEAD_SLACK for it, says so, hands the lease over,
    # and the fire ends interrupted (never run by this node once the lease is gone).
    runtime = runtime_factory(write_config(CONFIG.replace("shutdown_grace = 1", "pool_size = 1")))
    runtime.start_scheduler()
    wait_for(runtime.jobs.scheduler_running, timeout=10, what="leadership")
    run_now = runtime.jobs.run_now("sleeper", TESTER)
    wait_for(sleeping_here, timeout=10, what="the sleeper to take the only worker")
    # A second on, a fire of the 1 s job has been moved to running and waits for the worker
    # (and holds its one max_instances slot: the fires after it are skipped).
    time.sleep(1.2)

    def waiting_for_a_worker() -> Run | None:
        active = runtime.store.active_runs("every-second")
        waiting = [r for r in active if r.status is RunStatus.RUNNING]
        return waiting[0] if waiting else None

    run = wait_for(waiting_for_a_worker, timeout=10, what="a fire moved to running")
    assert runtime.scheduler is not None
    stopping = time.monotonic()
    with caplog.at_level("WARNING", logger="gnomon.engine.scheduler"):
        runtime.scheduler.stop(grace=0.5)
    runtime.scheduler = None
    assert time.monotonic() - stopping < START_AHEAD + STARTED_AHEAD_SLACK + 0.5 + 5 + 5
    assert "found no free worker when the lease was handed over" in caplog.text
    final = runtime.runs.get_run(run.id)
    assert final.status == RunStatus.INTERRUPTED, (final.status, final.reason)
    assert runtime.runs.get_run(run_now.id).status == RunStatus.CANCELLED


def test_stop_marks_interrupted_the_runs_that_outlast_their_cancel(
    runtime: Runtime, held: threading.Event
) -> None:
    # `held` cannot be asked to stop and is never released during the stop: cancelled after
    # the grace, it goes on running, and the stop gives up on it.
    run, scheduler = start_run(runtime, "held", targets.HELD_RUNNING.is_set)
    scheduler.stop(grace=0.5)
    runtime.scheduler = None
    final = runtime.runs.get_run(run.id)
    assert final.status == RunStatus.INTERRUPTED
    assert final.reason == "the scheduler stopped before the run finished"
    assert not runtime.jobs.scheduler_running()


def test_stopping_leader_hands_the_lease_over_while_its_runs_finish(
    runtime: Runtime, held: threading.Event
) -> None:
    run, scheduler = start_run(runtime, "held", targets.HELD_RUNNING.is_set)
    stopping = threading.Thread(target=scheduler.stop, kwargs={"grace": 60}, daemon=True)
    stopping.start()
    # Firing stopped, so a standby may take over now rather than after the grace...
    wait_for(lambda: not runtime.jobs.scheduler_running(), timeout=10, what="the lease to be free")
    assert stopping.is_alive()
    # ...while this node, still alive in the registry, gives its run the grace,
    assert scheduler.node_id in {node.id for node in runtime.store.list_nodes()}
    assert runtime.runs.get_run(run.id).status == RunStatus.RUNNING
    # in which the run ends by itself, and the stop with it.
    held.set()
    stopping.join(30)
    assert not stopping.is_alive()
    runtime.scheduler = None
    final = runtime.runs.get_run(run.id)
    assert final.status == RunStatus.SUCCEEDED


def test_a_job_raising_keyboard_interrupt_fails_and_the_pool_keeps_its_workers(
    runtime: Runtime,
) -> None:
    assert runtime.scheduler is not None
    pool = runtime.scheduler._pool
    for _ in range(3):
        run = runtime.jobs.run_now("interrupts", TESTER)
        final = wait_for(
            lambda run=run: r if (r := runtime.runs.get_run(run.id)).status.is_final else None,
            timeout=10,
            what="the interrupted job's run to end",
        )
        assert final.status is RunStatus.FAILED
        assert final.error_type == "KeyboardInterrupt"
    assert sum(t.is_alive() for t in pool._threads) == pool.size


def test_one_job_whose_trigger_fails_does_not_stop_the_others(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    assert runtime.scheduler is not None

    scheduler = runtime.scheduler
    real = wait_for(
        lambda: scheduler._triggers.get("overlapping"), timeout=10, what="the jobs loaded"
    )

    class Broken:
        def to_spec(self) -> object:
            return real.to_spec()

        def next_fire_time(self, after: object) -> None:
            raise RuntimeError("this trigger is broken")

    runtime.scheduler._triggers["overlapping"] = Broken()  # type: ignore[assignment]
    time.sleep(1.5)
    before = len(runtime.runs.list_runs(job_id="every-second", limit=500).items)
    wait_for(
        lambda: len(runtime.runs.list_runs(job_id="every-second", limit=500).items) >= before + 2,
        timeout=10,
        what="the other job to go on firing",
    )
    assert "job overlapping: its trigger failed" in caplog.text
