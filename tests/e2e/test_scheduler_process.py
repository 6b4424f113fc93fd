"""End-to-end: real `gnomon scheduler` processes on a real SQLite file."""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gnomon.domain import Run, RunStatus
from gnomon.services.runtime import Runtime
from gnomon.services.views import Actor
from tests.conftest import WriteConfig
from tests.e2e.procs import SchedulerProcess, wait_for, wait_until_stopped

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("processes")]

TESTER = Actor("tester")
SECOND = timedelta(seconds=1)


def runs_of(runtime: Runtime, job_id: str, status: RunStatus | None = None) -> list[Run]:
    # Straight from the store: the job may not be registered yet by the starting process.
    page = runtime.store.list_runs(job_id=job_id, statuses=(status,) if status else (), limit=500)
    return page.items


@pytest.fixture
def every_two_seconds(write_config: WriteConfig) -> Path:
    """`tick` every two seconds, and `tock` beside it: a test that pauses `tick` shows by
    `tock` that the scheduler went on firing."""
    return write_config(
        """
        [scheduler]
        timezone = "UTC"
        shutdown_grace = 2

        [[jobs]]
        id = "tick"
        command = ["true"]
        trigger = { type = "interval", seconds = 2 }  # fires: the tests count its runs
        misfire_grace_time = 1

        [[jobs]]
        id = "tock"
        command = ["true"]
        trigger = { type = "interval", seconds = 2 }  # fires: the control of the pause test
        misfire_grace_time = 1

        [[jobs]]
        id = "gnomon.prune_runs"
        trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
        """
    )


def test_job_every_two_seconds_fires_repeatedly_with_records(
    every_two_seconds: Path, runtime_factory: Callable[[Path], Runtime], tmp_path: Path
) -> None:
    runtime = runtime_factory(every_two_seconds)
    proc = SchedulerProcess(every_two_seconds, tmp_path / "s1.log")
    try:
        done = wait_for(
            lambda: (
                [r for r in runs_of(runtime, "tick", RunStatus.SUCCEEDED)][:3]
                if len(runs_of(runtime, "tick", RunStatus.SUCCEEDED)) >= 3
                else None
            ),
            timeout=20,
            what="three succeeded runs of 'tick'",
        )
    finally:
        assert proc.stop() == 0, proc.output()
    times = sorted(r.scheduled_for for r in done if r.scheduled_for)
    gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(times)}
    assert gaps == {2.0}
    for run in done:
        assert run.started_at and run.finished_at and run.duration_ms is not None
        assert run.exit_code == 0
        assert run.started_at >= run.scheduled_for  # type: ignore[operator]


def test_paused_job_stays_paused_after_restart(
    every_two_seconds: Path, runtime_factory: Callable[[Path], Runtime], tmp_path: Path
) -> None:
    proc = SchedulerProcess(every_two_seconds, tmp_path / "s1.log")
    runtime = runtime_factory(every_two_seconds)
    try:
        wait_for(lambda: runs_of(runtime, "tick"), timeout=20, what="a first run")
        runtime.jobs.pause("tick", TESTER)
    finally:
        proc.stop()
    proc = SchedulerProcess(every_two_seconds, tmp_path / "s2.log")
    try:
        wait_for(runtime.jobs.scheduler_running, timeout=20, what="the scheduler to start")
        before = len(runs_of(runtime, "tick"))
        window = datetime.now(UTC)
        # The restarted scheduler fires the job beside it, on the same two-second rhythm: once
        # it has started two of its fires scheduled after the restart, it has been through the
        # times `tick` would have fired at too.
        wait_for(
            lambda: (
                len(
                    [
                        r
                        for r in runs_of(runtime, "tock")
                        if r.started_at and r.scheduled_for and r.scheduled_for > window
                    ]
                )
                >= 2
            ),
            timeout=30,
            what="two fires of tock after the restart",
        )
        assert runtime.jobs.get_job("tick").state == "paused"
        assert len(runs_of(runtime, "tick")) == before
    finally:
        proc.stop()


def test_changed_trigger_survives_restart(
    every_two_seconds: Path, runtime_factory: Callable[[Path], Runtime], tmp_path: Path
) -> None:
    runtime = runtime_factory(every_two_seconds)
    proc = SchedulerProcess(every_two_seconds, tmp_path / "s1.log")
    try:
        wait_for(runtime.jobs.scheduler_running, timeout=20, what="the scheduler to start")
        runtime.jobs.update_trigger(
            "tick", {"trigger_type": "cron", "cron_expression": "0 0 3 * * * 2099"}, TESTER
        )
    finally:
        proc.stop()
    proc = SchedulerProcess(every_two_seconds, tmp_path / "s2.log")
    try:
        wait_for(runtime.jobs.scheduler_running, timeout=20, what="the scheduler to restart")
        view = runtime.jobs.get_job("tick")
        assert view.trigger.summary() == "cron[0 0 3 * * * 2099] UTC"
        assert view.record.overridden
        assert view.record.next_fire_time is not None
        assert (view.record.next_fire_time.hour, view.record.next_fire_time.minute) == (3, 0)
    finally:
        proc.stop()


def test_downtime_longer_than_grace_records_missed(
    every_two_seconds: Path, runtime_factory: Callable[[Path], Runtime], tmp_path: Path
) -> None:
    runtime = runtime_factory(every_two_seconds)
    proc = SchedulerProcess(every_two_seconds, tmp_path / "s1.log")
    try:
        wait_for(lambda: runs_of(runtime, "tick"), timeout=20, what="a first run")
    finally:
        proc.stop()
    time.sleep(7)  # >= two fire times pass, each more than the 1 s grace late by the restart
    proc = SchedulerProcess(every_two_seconds, tmp_path / "s2.log")
    try:
        missed = wait_for(
            lambda: runs_of(runtime, "tick", RunStatus.MISSED), timeout=20, what="a missed record"
        )
    finally:
        proc.stop()
    # A fire the first process had claimed ahead when it stopped is adopted by the second and,
    # past its 1 s grace, recorded missed for that reason; the downtime is one span of its own.
    adopted = [r for r in missed if r.reason == "leader_lost"]
    assert all(r.fire_count == 1 for r in adopted) and len(adopted) <= 1
    [record] = [r for r in missed if r not in adopted]
    assert record.reason == "scheduler_down"
    assert record.fire_count + len(adopted) >= 2  # the fire times of the 5 s down
    assert record.scheduled_for is not None
    # A span of one fire time has no last one; a longer span ends 2 s per fire time later.
    last = record.last_scheduled_for or record.scheduled_for
    assert (record.last_scheduled_for is None) == (record.fire_count == 1)
    span = (last - record.scheduled_for).total_seconds()
    assert span == 2.0 * (record.fire_count - 1)


def test_kill_during_run_leaves_run_interrupted_after_restart(
    write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime], tmp_path: Path
) -> None:
    config = write_config(
        """
        [scheduler]
        timezone = "UTC"
        lease_ttl = 3

        [[jobs]]
        id = "slow"
        command = ["sleep", "60"]
        trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }

        [[jobs]]
        id = "gnomon.prune_runs"
        trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
        """
    )
    runtime = runtime_factory(config)
    proc = SchedulerProcess(config, tmp_path / "s1.log")
    try:
        wait_for(runtime.jobs.scheduler_running, timeout=20, what="the scheduler to start")
        run = runtime.jobs.run_now("slow", TESTER)
        wait_for(
            lambda: runtime.runs.get_run(run.id).status == RunStatus.RUNNING,
            timeout=20,
            what="the run to start",
        )
    finally:
        proc.kill()  # the crash, or, when something above failed, no process left behind
    assert runtime.runs.get_run(run.id).status == RunStatus.RUNNING
    proc = SchedulerProcess(config, tmp_path / "s2.log")
    try:
        final = wait_for(
            lambda: (
                runtime.runs.get_run(run.id)
                if runtime.runs.get_run(run.id).status != RunStatus.RUNNING
                else None
            ),
            timeout=30,
            what="the orphaned run to be marked",
        )
    finally:
        proc.stop()
    assert final.status == RunStatus.INTERRUPTED
    assert final.finished_at is not None


def test_two_schedulers_on_one_sqlite_file_never_double_fire(
    write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime], tmp_path: Path
) -> None:
    config = write_config(
        """
        [scheduler]
        timezone = "UTC"
        lease_ttl = 3

        [[jobs]]
        id = "a"
        command = ["true"]
        trigger = { type = "interval", seconds = 1 }  # fires: both schedulers fire it in turn

        [[jobs]]
        id = "b"
        command = ["true"]
        trigger = { type = "cron", expression = "* * * * * *" }  # fires: likewise, as cron

        [[jobs]]
        id = "gnomon.prune_runs"
        trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
        """
    )
    runtime = runtime_factory(config)
    procs = [SchedulerProcess(config, tmp_path / f"s{i}.log") for i in (1, 2)]
    try:
        wait_for(runtime.jobs.scheduler_running, timeout=30, what="a leader")
        wait_for(
            lambda: all(len(runs_of(runtime, job, RunStatus.SUCCEEDED)) >= 3 for job in "ab"),
            timeout=30,
            what="three runs of each job",
        )
        # Kill whichever process leads (node ids are host-pid-suffix); the other must take over.
        lease = runtime.store.find_lease("scheduler")
        assert lease is not None
        leader_pid = int(lease.holder.rsplit("-", 2)[1])
        [leader] = [p for p in procs if p.proc.pid == leader_pid]
        leader.kill()
        killed_at = datetime.now(UTC)
        wait_for(
            lambda: all(
                len(
                    [
                        r
                        for r in runs_of(runtime, job, RunStatus.SUCCEEDED)
                        if r.queued_at > killed_at and r.node != lease.holder
                    ]
                )
                >= 2
                for job in "ab"
            ),
            timeout=30,
            what="the surviving scheduler to run each job twice",
        )
    finally:
        # Whatever failed above, no process outlives the test (the killed one has exited).
        for proc in procs:
            if proc.proc.poll() is None:
                proc.stop()
    for job_id in ("a", "b"):
        runs = runs_of(runtime, job_id)
        counts = Counter(r.scheduled_for for r in runs)
        assert counts, f"job {job_id} never fired"
        assert max(counts.values()) == 1, f"job {job_id} fired a scheduled time twice"
        assert len({r.node for r in runs}) == 2, "both schedulers should have fired in turn"
        # Every second from the first fire time to the last is covered by exactly one record
        # (a run, a coalesced run or a missed span): nothing lost, nothing doubled.
        covered = sorted(
            r.scheduled_for + timedelta(seconds=i)
            for r in runs
            if r.scheduled_for is not None
            for i in range(r.fire_count)
        )
        assert len(covered) == len(set(covered))
        assert (covered[-1] - covered[0]).total_seconds() == len(covered) - 1


def every_second(write_config: WriteConfig, *, grace: int, lease_ttl: float = 10) -> Path:
    """`tick` every second, with this misfire grace; coalescing (the default), and up to five
    runs at once, so a late batch is never refused for an earlier run still going."""
    return write_config(
        f"""
        [scheduler]
        timezone = "UTC"
        shutdown_grace = 2
        lease_ttl = {lease_ttl}

        [[jobs]]
        id = "tick"
        command = ["true"]
        misfire_grace_time = {grace}
        max_instances = 5
        """
        """
        trigger = { type = "interval", seconds = 1 }  # fires: the tests count its fire times

        [[jobs]]
        id = "gnomon.prune_runs"
        trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
        """
    )


def assert_every_second_recorded_once(runs: list[Run]) -> None:
    """From the first fire time to the last, every second is covered by exactly one record
    (a run, a coalesced run or a missed span)."""
    covered = sorted(
        r.scheduled_for + SECOND * i for r in runs if r.scheduled_for for i in range(r.fire_count)
    )
    assert len(covered) == len(set(covered)), "a fire time recorded twice"
    assert covered[-1] - covered[0] == SECOND * (len(covered) - 1), "a fire time lost"
    for run in runs:
        if run.fire_count > 1:
            assert run.last_scheduled_for == run.scheduled_for + SECOND * (run.fire_count - 1)


def test_fire_times_passed_while_down_within_grace_coalesce_into_one_run(
    write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime], tmp_path: Path
) -> None:
    config = every_second(write_config, grace=60)
    runtime = runtime_factory(config)
    proc = SchedulerProcess(config, tmp_path / "s1.log")
    try:
        wait_for(
            lambda: runs_of(runtime, "tick", RunStatus.SUCCEEDED), timeout=20, what="a first run"
        )
    finally:
        assert proc.stop() == 0, proc.output()
    # The first fire time nobody claimed; three more pass while no scheduler runs.
    down_from = runtime.store.get_job("tick").next_fire_time
    assert down_from is not None
    wait_for(lambda: datetime.now(UTC) > down_from + 3 * SECOND, timeout=10, what="four fire times")
    proc = SchedulerProcess(config, tmp_path / "s2.log")
    try:
        coalesced = wait_for(
            lambda: next(
                (
                    r
                    for r in runs_of(runtime, "tick")
                    if r.scheduled_for == down_from and r.status.is_final
                ),
                None,
            ),
            timeout=20,
            what="the run of the fire times passed while down",
        )
    finally:
        assert proc.stop() == 0, proc.output()
    # One run stands for every fire time from the first one missed on, all within the grace.
    assert coalesced.status is RunStatus.SUCCEEDED
    assert coalesced.fire_count >= 4
    assert coalesced.trigger_source == "scheduled" and coalesced.exit_code == 0
    runs = runs_of(runtime, "tick")
    assert not [r for r in runs if r.status is RunStatus.MISSED]
    assert_every_second_recorded_once(runs)


def test_a_frozen_scheduler_records_the_late_fire_times_overloaded_and_coalesces_the_rest(
    write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime], tmp_path: Path
) -> None:
    # The process stops for 8 s while it leads (its 60 s lease outlasts that): it was not down,
    # it could not keep up. Of the fire times it finds due on waking, those more than the 2 s
    # grace late make one missed span, reason `overloaded`; the rest one coalesced run.
    config = every_second(write_config, grace=2, lease_ttl=60)
    runtime = runtime_factory(config)
    proc = SchedulerProcess(config, tmp_path / "s1.log")
    pid = proc.proc.pid
    try:
        wait_for(
            lambda: len(runs_of(runtime, "tick", RunStatus.SUCCEEDED)) >= 2,
            timeout=20,
            what="two runs",
        )
        os.kill(pid, signal.SIGSTOP)
        try:
            wait_until_stopped(pid)
            frozen_at = datetime.now(UTC)
            wait_for(
                lambda: datetime.now(UTC) > frozen_at + 8 * SECOND, timeout=20, what="8 s frozen"
            )
        finally:
            os.kill(pid, signal.SIGCONT)
        thawed_at = datetime.now(UTC)

        def span_and_run() -> tuple[Run, Run] | None:
            runs = runs_of(runtime, "tick")
            spans = [
                r
                for r in runs
                if r.status is RunStatus.MISSED
                and r.fire_count > 1
                and r.scheduled_for is not None
                and r.scheduled_for >= frozen_at - SECOND
            ]
            if not spans:
                return None
            after = spans[0].last_scheduled_for
            assert after is not None
            run = [r for r in runs if r.scheduled_for == after + SECOND and r.status.is_final]
            return (spans[0], run[0]) if run else None

        span, coalesced = wait_for(span_and_run, timeout=20, what="the span and the late run")
    finally:
        assert proc.stop() == 0, proc.output()
    assert span.reason == "overloaded"
    assert span.scheduled_for is not None and span.last_scheduled_for is not None
    assert span.last_scheduled_for < thawed_at
    # The fire times still within the grace on waking: one run, right after the span.
    assert coalesced.status is RunStatus.SUCCEEDED
    assert coalesced.fire_count > 1
    runs = runs_of(runtime, "tick")
    # The lease was held all along: nothing is put down to a scheduler down or a lost lease.
    assert {r.reason for r in runs} <= {None, "overloaded"}, {r.reason for r in runs}
    assert_every_second_recorded_once(runs)


def test_a_cleanly_stopped_leader_hands_over_to_the_other_process_losing_and_doubling_nothing(
    write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime], tmp_path: Path
) -> None:
    # A 12 s lease: the standby retries every 3 s, and the leader's lease, renewed every 3 s,
    # runs 9-12 s past the stop. `slow` runs on the leader until the test releases it, so the
    # stopping process is still there, giving its run the grace, when the other one takes over.
    # Up to five runs of `tick` at once: one slowed past the next fire time by a busy machine
    # does not make that one `skipped`.
    started, release = tmp_path / "started", tmp_path / "release"
    config = write_config(
        """
        [scheduler]
        timezone = "UTC"
        lease_ttl = 12
        shutdown_grace = 30

        [[jobs]]
        id = "tick"
        command = ["true"]
        trigger = { type = "interval", seconds = 1 }  # fires: both processes fire it in turn
        misfire_grace_time = 60
        max_instances = 5

        [[jobs]]
        id = "gnomon.prune_runs"
        trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }

        [[jobs]]
        id = "slow"
        trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
        """
        f"""
        command = ["sh", "-c", "touch '{started}'; while [ ! -e '{release}' ]; do sleep 0.1; done"]
        """
    )
    runtime = runtime_factory(config)
    first = SchedulerProcess(config, tmp_path / "s1.log")
    procs = [first]

    def node_of(proc: SchedulerProcess) -> str | None:
        return next((n.id for n in runtime.store.list_nodes() if n.pid == proc.proc.pid), None)

    def fired_by(node: str) -> list[Run]:
        return [r for r in runs_of(runtime, "tick") if r.node == node and r.started_at]

    try:
        wait_for(runtime.jobs.scheduler_running, timeout=30, what="the first process to lead")
        old = wait_for(lambda: node_of(first), timeout=10, what="the first node")
        second = SchedulerProcess(config, tmp_path / "s2.log")
        procs.append(second)
        new = wait_for(lambda: node_of(second), timeout=30, what="the second node")
        wait_for(lambda: len(fired_by(old)) >= 3, timeout=20, what="the leader to fire")
        slow = runtime.jobs.run_now("slow", TESTER)
        # Its command runs (the store says `running` a moment before).
        wait_for(started.exists, timeout=20, what="the slow run's command to start")
        assert runtime.runs.get_run(slow.id).status == RunStatus.RUNNING
        lease = runtime.store.find_lease("scheduler")
        assert lease is not None and lease.holder == old
        first.proc.send_signal(signal.SIGTERM)
        stops = {old: datetime.now(UTC)}
        took_over = wait_for(
            lambda: min((r.started_at for r in fired_by(new) if r.started_at), default=None),
            timeout=30,
            what="the second process to fire",
            every=0.05,
        )
        # Handed over, not lapsed: before the old lease's end, while the old process still runs.
        assert first.proc.poll() is None, first.output()
        assert took_over < lease.expires_at
        release.touch()
        assert first.stop() == 0, first.output()
        wait_for(lambda: len(fired_by(new)) >= 3, timeout=20, what="the new leader to go on")
        stops[new] = datetime.now(UTC)
        assert second.stop() == 0, second.output()
    finally:
        release.touch()
        for proc in procs:
            if proc.proc.poll() is None:
                proc.stop()
    finished = runtime.runs.get_run(slow.id)
    assert (finished.status, finished.node) == (RunStatus.SUCCEEDED, old)
    runs = runs_of(runtime, "tick")
    assert {r.node for r in runs} == {old, new}
    # Every fire ran but, at each stop, the few a process had claimed ahead of their time and
    # not moved to running yet: they wait, queued, for the next leader, which adopts and runs
    # them (the first process's) or is yet to come (the second's). One already moved to
    # running (within starts.AHEAD of its time) started before the lease was handed over,
    # unless no worker took it in time: then the process said so, and it ended interrupted.
    outputs = {old: first.output(), new: second.output()}
    for run in runs:
        if run.status is RunStatus.SUCCEEDED:
            continue
        seen = (run.status, run.reason, run.node, run.scheduled_for)
        assert run.node in stops and run.scheduled_for is not None, seen
        assert stops[run.node] - SECOND < run.scheduled_for < stops[run.node] + 5 * SECOND, seen
        if run.status is RunStatus.INTERRUPTED:
            assert run.reason == "this node lost the scheduler lease just before the run's time"
            assert "found no free worker when the lease was handed over" in outputs[run.node]
        else:
            assert (run.status, run.node) == (RunStatus.QUEUED, new), seen
    assert_every_second_recorded_once(runs)


def test_sigterm_as_soon_as_the_process_leads_is_a_clean_stop(
    every_two_seconds: Path, runtime_factory: Callable[[Path], Runtime], tmp_path: Path
) -> None:
    # A service manager may stop the scheduler the moment it is up: from the moment it leads,
    # SIGTERM is a clean stop (exit 0, the lease given up), never the signal's default death.
    runtime = runtime_factory(every_two_seconds)
    for attempt in range(3):
        proc = SchedulerProcess(every_two_seconds, tmp_path / f"s{attempt}.log")
        try:
            wait_for(runtime.jobs.scheduler_running, timeout=30, what="leadership", every=0.005)
            proc.proc.send_signal(signal.SIGTERM)
            code = proc.proc.wait(30)
        finally:
            proc.stop()
        assert code == 0, proc.output()
        assert "received SIGTERM; stopping" in proc.output()
        assert not runtime.jobs.scheduler_running()
