"""The scheduler loop on its own: fires claimed ahead start on time, and metrics are reported."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gnomon.domain import JobDefinition, JobKind, JobRecord, Run, RunStatus, utcnow
from gnomon.engine.observe import EngineMetricsProtocol, NullMetrics
from gnomon.engine.runlog import RunLogReports
from gnomon.engine.scheduler import Scheduler, SchedulerOptions
from gnomon.engine.starts import AHEAD as START_AHEAD
from gnomon.engine.starts import LEAD as START_LEAD
from gnomon.store.base import JobWrite, StartResult
from gnomon.store.sql import SqlStore
from gnomon.triggers import parse_trigger
from tests.e2e.procs import wait_for

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class RecordingMetrics(NullMetrics):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.fired_calls: list[tuple[str, float]] = []
        self.finished_calls: list[tuple[str, str]] = []
        self.leader: list[bool] = []
        self.depths: list[int] = []

    def fired(self, job_id: str, lateness_s: float, **run: Any) -> None:
        with self.lock:
            self.fired_calls.append((job_id, lateness_s))

    def finished(
        self, job_id: str, status: str, duration_s: float | None = None, **run: Any
    ) -> None:
        with self.lock:
            self.finished_calls.append((job_id, status))

    def set_leader(self, is_leader: bool) -> None:
        self.leader.append(is_leader)

    def set_queue_depth(self, depth: int) -> None:
        self.depths.append(depth)


def _store_with_ticking_job(tmp_path: Path) -> SqlStore:
    store = SqlStore(f"sqlite:///{tmp_path / 'gnomon.db'}")
    store.upgrade()
    trigger = parse_trigger(
        {"trigger_type": "interval", "seconds": 1, "start_date": "2026-01-01T00:00:00Z"},
        default_timezone="UTC",
        now=T0,
    )
    definition = JobDefinition(
        id="tick",
        name="tick",
        trigger=trigger.to_spec(),
        kind=JobKind.PYTHON,
        target="tests.engine.targets:ok",
    )
    first = trigger.next_fire_time(utcnow() + timedelta(seconds=0.5))
    record = JobRecord(definition=definition, trigger=definition.trigger, next_fire_time=first)
    store.write_jobs([JobWrite(record)])
    return store


def test_fires_claimed_ahead_start_at_their_time_and_metrics_see_them(tmp_path: Path) -> None:
    store = _store_with_ticking_job(tmp_path)
    metrics = RecordingMetrics()
    options = SchedulerOptions(poll_interval=0.2, lease_ttl=2, claim_ahead=0.3)
    scheduler = Scheduler(store, options, metrics=metrics)
    scheduler.start()
    try:
        wait_for(lambda: len(metrics.finished_calls) >= 3, timeout=15, what="three runs")
    finally:
        scheduler.stop(grace=2)
    runs = [r for r in store.list_runs(job_id="tick").items if r.status.is_final]
    assert runs and all(r.status is RunStatus.SUCCEEDED for r in runs)
    ahead = [r for r in runs if r.scheduled_for is not None and r.queued_at < r.scheduled_for]
    assert ahead, "no fire was claimed ahead of its time"
    for r in ahead:
        assert r.started_at is not None and r.scheduled_for is not None
        assert r.started_at >= r.scheduled_for  # never started early
    assert metrics.leader[0] is True
    assert metrics.depths
    assert all(job == "tick" and lateness >= 0 for job, lateness in metrics.fired_calls)
    assert {status for _, status in metrics.finished_calls} == {"succeeded"}


def test_scheduler_without_metrics_uses_the_null_implementation(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'gnomon.db'}")
    scheduler = Scheduler(store)
    # Always behind the run log, which logs what the metrics count.
    assert isinstance(scheduler.metrics, RunLogReports)
    assert isinstance(scheduler.metrics.inner, NullMetrics)
    hooks: EngineMetricsProtocol = RecordingMetrics()  # the protocol is structural
    reports = Scheduler(store, metrics=hooks).metrics
    assert isinstance(reports, RunLogReports) and reports.inner is hooks


class RefusalsCounted(NullMetrics):
    def __init__(self) -> None:
        self.refusals: list[tuple[str, int]] = []

    def refused(self, status: str, count: int) -> None:
        self.refusals.append((status, count))


def test_fire_claimed_ahead_of_a_job_paused_meanwhile_is_skipped_not_started(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = _store_with_ticking_job(tmp_path)
    # Claimed up to 3 s ahead: the next fire is in the store, waiting for its time, when the
    # job is paused (one at a time: a job's claimed fire counts as an active run). Paused as by
    # another process, which the scheduler does not hear of before the fire's time (it does not
    # poll in this test): its start is then tried and finds the run closed.
    options = SchedulerOptions(poll_interval=60, lease_ttl=5, claim_ahead=3, burst_fires=1)
    metrics = RefusalsCounted()
    scheduler = Scheduler(store, options, metrics=metrics)
    caplog.set_level(logging.INFO, logger="gnomon")
    scheduler.start()
    try:

        def claimed_ahead() -> list[str] | None:
            now = utcnow()
            waiting = [
                r.id
                for r in store.list_runs(job_id="tick").items
                if r.scheduled_for is not None and r.scheduled_for > now + timedelta(seconds=0.3)
            ]
            return waiting or None

        waiting = wait_for(claimed_ahead, timeout=10, what="a fire claimed ahead", every=0.05)
        record = store.get_job("tick")
        [paused] = store.write_jobs(
            [JobWrite(record.replace(paused=True), expected_revision=record.revision)]
        )
        paused_at = paused.updated_at
        assert paused_at is not None
        wait_for(
            lambda: all(store.get_run(i).status.is_final for i in waiting),
            timeout=10,
            what="the waiting fires to come due",
        )
        last = max(store.get_run(i).scheduled_for or paused_at for i in waiting)
        wait_for(lambda: utcnow() > last + timedelta(seconds=0.5), timeout=10, what="their time")
    finally:
        scheduler.stop(grace=2)
    for run_id in waiting:
        run = store.get_run(run_id)
        assert run.status is RunStatus.SKIPPED, run
        # Closed by the pausing write itself, before the scheduler heard of the pause.
        assert run.reason == "paused" and run.started_at is None
        assert run.error_message == "the job was paused before this run started"
    started_after = [
        r
        for r in store.list_runs(job_id="tick").items
        if r.started_at is not None and r.scheduled_for is not None and r.scheduled_for > paused_at
    ]
    assert started_after == []
    # The pause closed them: not a start refused, nor a warning about ownership.
    assert metrics.refusals == []
    assert not [r for r in caplog.records if "no longer this node's" in r.getMessage()]


def test_running_scheduler_raises_the_gc_threshold_and_restores_it(tmp_path: Path) -> None:
    import gc

    from gnomon.engine.scheduler import GC_THRESHOLD

    before = gc.get_threshold()
    gc.set_threshold(700, before[1], before[2])
    try:
        options = SchedulerOptions(lease_ttl=2, own_gc=True)
        scheduler = Scheduler(_store_with_ticking_job(tmp_path), options)
        scheduler.start()
        assert gc.get_threshold()[0] == GC_THRESHOLD
        scheduler.stop(grace=1)
        assert gc.get_threshold() == (700, before[1], before[2])
    finally:
        gc.set_threshold(*before)


def test_embedded_scheduler_leaves_the_applications_collector_alone(tmp_path: Path) -> None:
    import gc

    before = gc.get_threshold()
    gc.set_threshold(700, before[1], before[2])
    frozen = gc.get_freeze_count()
    try:
        store = _store_with_ticking_job(tmp_path)
        scheduler = Scheduler(store, SchedulerOptions(lease_ttl=2))
        scheduler.start()
        # Firing, so it has loaded the jobs (where a scheduler in its own process freezes).
        wait_for(lambda: store.list_runs(job_id="tick").items, timeout=10, what="a fire")
        assert gc.get_threshold() == (700, before[1], before[2])
        assert gc.get_freeze_count() == frozen
        scheduler.stop(grace=1)
    finally:
        gc.set_threshold(*before)


def test_fire_claimed_ahead_by_a_node_that_lost_the_lease_is_run_by_the_next_leader(
    tmp_path: Path,
) -> None:
    store = _store_with_ticking_job(tmp_path)
    options = SchedulerOptions(poll_interval=0.2, lease_ttl=5, claim_ahead=3, burst_fires=1)
    first = Scheduler(store, options, node_id="first")
    first.start()
    second = Scheduler(store, options, node_id="second")
    try:

        def claimed_ahead() -> list[str] | None:
            later = utcnow() + timedelta(seconds=0.3)
            runs = store.list_runs(job_id="tick").items
            return [r.id for r in runs if r.scheduled_for and r.scheduled_for > later] or None

        waiting = wait_for(claimed_ahead, timeout=10, what="a fire claimed ahead", every=0.05)
        # The first node loses the lease (as when a standby takes over): it may start nothing
        # it claimed, since the store moves a run to running only under the lease it holds.
        first._leadership.stop()
        wait_for(lambda: not first.is_leader, timeout=5, what="the lease to be gone")
        second.start()

        def all_final() -> list[Run] | None:
            runs = [store.get_run(i) for i in waiting]
            return runs if all(r.status.is_final for r in runs) else None

        runs = wait_for(all_final, timeout=15, what="the claimed fires to end")
    finally:
        second.stop(grace=2)
        first.stop(grace=2)
    # Adopted by the next leader and run there, at their time: once, and not by the first.
    assert [(r.status, r.node) for r in runs] == [(RunStatus.SUCCEEDED, "second")] * len(waiting)
    for r in runs:
        assert r.started_at is not None and r.scheduled_for is not None
        assert r.started_at >= r.scheduled_for


class RestartCounter(NullMetrics):
    def __init__(self) -> None:
        self.restarted: list[str] = []

    def thread_restarted(self, thread: str) -> None:
        self.restarted.append(thread)


# The recorder thread dying is the point: pytest notes the exception that ended it.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_background_thread_that_dies_is_reported_and_started_again(tmp_path: Path) -> None:
    store = _store_with_ticking_job(tmp_path)
    metrics = RestartCounter()
    scheduler = Scheduler(store, SchedulerOptions(poll_interval=0.2, lease_ttl=2), metrics=metrics)
    recorder = scheduler._recorder
    flush = recorder.flush
    crashed = threading.Event()

    def crash_once() -> None:
        if not crashed.is_set():
            crashed.set()
            raise SystemExit("the recorder thread dies")  # not an Exception: ends the thread
        flush()

    recorder.flush = crash_once  # type: ignore[method-assign]
    # The supervisor revives the thread within a second; held back until the test has seen it
    # down, so that a loaded machine cannot make the test miss the moment.
    seen_down = threading.Event()
    revive = scheduler._revive

    def revive_once_seen() -> None:
        if not crashed.is_set() or seen_down.is_set():
            revive()

    scheduler._revive = revive_once_seen  # type: ignore[method-assign]
    scheduler.start()
    try:
        wait_for(crashed.is_set, timeout=10, what="the recorder to crash")
        wait_for(lambda: "recorder" in scheduler.threads_down(), 5, "the crash to be seen")
        seen_down.set()
        wait_for(lambda: metrics.restarted == ["recorder"], 5, "the recorder to be restarted")
        assert scheduler.threads_down() == []
        before = len(store.list_runs(job_id="tick", statuses=[RunStatus.SUCCEEDED]).items)
        wait_for(
            lambda: (
                len(store.list_runs(job_id="tick", statuses=[RunStatus.SUCCEEDED]).items) > before
            ),
            timeout=10,
            what="runs recorded again",
        )
    finally:
        scheduler.stop(grace=2)


def _add_jobs_like_tick(store: SqlStore, ids: list[str]) -> None:
    """More jobs like "tick", firing on the same instants."""
    tick = store.get_job("tick")
    store.write_jobs(
        [
            JobWrite(JobRecord(definition=d, trigger=d.trigger, next_fire_time=tick.next_fire_time))
            for d in (replace(tick.definition, id=job_id, name=job_id) for job_id in ids)
        ]
    )


class CountingStore(SqlStore):
    """The real store, counting the calls the tests below are about."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.start_runs_calls = 0
        self.find_run_calls = 0

    def start_runs(self, *args: Any, **kwargs: Any) -> StartResult:
        self.start_runs_calls += 1
        return super().start_runs(*args, **kwargs)

    def find_run(self, run_id: str) -> Run | None:
        self.find_run_calls += 1
        return super().find_run(run_id)


def test_fire_claimed_within_the_start_lead_is_started_by_its_claim_at_its_time(
    tmp_path: Path,
) -> None:
    _store_with_ticking_job(tmp_path)
    store = CountingStore(f"sqlite:///{tmp_path / 'gnomon.db'}")
    metrics = RecordingMetrics()
    # Claimed at most 0.1 s ahead: always within the start gate's lead, so the claim's own
    # transaction moves each fire to running (no second write), timed for its instant.
    assert START_LEAD > 0.1
    options = SchedulerOptions(poll_interval=0.2, lease_ttl=2, claim_ahead=0.1)
    scheduler = Scheduler(store, options, metrics=metrics)
    scheduler.start()
    try:
        wait_for(lambda: len(metrics.finished_calls) >= 3, timeout=15, what="three runs")
    finally:
        scheduler.stop(grace=2)
    runs = [r for r in store.list_runs(job_id="tick").items if r.status.is_final]
    ahead = [r for r in runs if r.scheduled_for is not None and r.queued_at < r.scheduled_for]
    assert ahead, "no fire was claimed ahead of its time"
    assert all(r.status is RunStatus.SUCCEEDED for r in runs)
    for r in ahead:
        assert r.started_at is not None and r.scheduled_for is not None
        assert r.started_at >= r.scheduled_for  # started by its claim, yet never early
    assert all(lateness >= 0 for _, lateness in metrics.fired_calls)
    assert store.start_runs_calls == 0


def test_spread_fires_are_claimed_just_before_their_time_by_the_write_that_starts_them(
    tmp_path: Path,
) -> None:
    _store_with_ticking_job(tmp_path)
    store = CountingStore(f"sqlite:///{tmp_path / 'gnomon.db'}")
    metrics = RecordingMetrics()
    # The defaults: fires up to a second ahead, but one job is no burst.
    scheduler = Scheduler(store, SchedulerOptions(poll_interval=0.2, lease_ttl=2), metrics=metrics)
    scheduler.start()
    try:
        wait_for(lambda: len(metrics.finished_calls) >= 3, timeout=15, what="three runs")
    finally:
        scheduler.stop(grace=2)
    runs = [r for r in store.list_runs(job_id="tick").items if r.status.is_final]
    assert len(runs) >= 3 and all(r.status is RunStatus.SUCCEEDED for r in runs)
    for r in runs:
        assert r.scheduled_for is not None and r.started_at is not None
        assert r.scheduled_for - r.queued_at <= timedelta(seconds=START_AHEAD)
        assert r.started_at >= r.scheduled_for
    assert store.start_runs_calls == 0  # each started by its claim: one write a fire


def test_a_burst_is_claimed_claim_ahead_early_and_started_at_its_time_by_the_start_gate(
    tmp_path: Path,
) -> None:
    _store_with_ticking_job(tmp_path)
    store = CountingStore(f"sqlite:///{tmp_path / 'gnomon.db'}")
    _add_jobs_like_tick(store, ["tick1", "tick2", "tick3"])
    metrics = RecordingMetrics()
    # Four jobs due on the same instants; four fires in one slot make a burst here.
    options = SchedulerOptions(poll_interval=0.2, lease_ttl=2, claim_ahead=0.8, burst_fires=4)
    scheduler = Scheduler(store, options, metrics=metrics)
    scheduler.start()
    try:
        wait_for(lambda: len(metrics.finished_calls) >= 12, timeout=15, what="three bursts")
    finally:
        scheduler.stop(grace=2)
    runs = [r for r in store.list_runs().items if r.status.is_final]
    assert len(runs) >= 12 and all(r.status is RunStatus.SUCCEEDED for r in runs)
    early = [
        r
        for r in runs
        if r.scheduled_for is not None
        and r.scheduled_for - r.queued_at > timedelta(seconds=START_AHEAD)
    ]
    assert len(early) >= 8, "bursts were not claimed claim_ahead early"
    for r in runs:
        assert r.started_at is not None and r.scheduled_for is not None
        assert r.started_at >= r.scheduled_for  # never early
    assert store.start_runs_calls > 0  # started by the gate, just before their time


def test_reconciling_reads_no_run_in_full_while_every_owned_run_is_accounted_for(
    tmp_path: Path,
) -> None:
    _store_with_ticking_job(tmp_path)
    store = CountingStore(f"sqlite:///{tmp_path / 'gnomon.db'}")
    metrics = RecordingMetrics()
    # A lease time of 1 s: the node reconciles about once a second, each time with a fire
    # claimed ahead (queued, owned) and, often, one running.
    options = SchedulerOptions(poll_interval=0.2, lease_ttl=1, claim_ahead=0.5, burst_fires=1)
    scheduler = Scheduler(store, options, metrics=metrics)
    scheduler.start()
    try:
        wait_for(lambda: len(metrics.finished_calls) >= 4, timeout=15, what="four runs")
    finally:
        scheduler.stop(grace=2)
    assert store.find_run_calls == 0
    assert {status for _, status in metrics.finished_calls} == {"succeeded"}


class CountingScheduler(Scheduler):
    """The real scheduler, counting its loop's passes."""

    passes = 0

    def _iteration(self) -> float:
        type(self).passes += 1
        return super()._iteration()


@pytest.mark.parametrize("claim_ahead", [0.05, 1.0])
def test_the_loop_waits_between_bursts_instead_of_spinning(
    tmp_path: Path, claim_ahead: float
) -> None:
    store = _store_with_ticking_job(tmp_path)
    _add_jobs_like_tick(store, ["tock"])
    metrics = RecordingMetrics()
    # Two jobs on the same instants make a burst; after each burst is claimed, the loop has
    # nothing to do until the next one (a lease renewal, a poll: a few passes a second).
    options = SchedulerOptions(
        poll_interval=0.5, lease_ttl=5, claim_ahead=claim_ahead, burst_fires=2
    )
    CountingScheduler.passes = 0
    scheduler = CountingScheduler(store, options, metrics=metrics)
    scheduler.start()
    try:
        wait_for(lambda: len(metrics.finished_calls) >= 2, timeout=15, what="a first burst")
        before = CountingScheduler.passes
        wait_for(lambda: len(metrics.finished_calls) >= 8, timeout=15, what="three more bursts")
        passes = CountingScheduler.passes - before
    finally:
        scheduler.stop(grace=2)
    # Three seconds of firing: a spinning loop makes thousands of passes.
    assert passes < 200, f"{passes} passes of the loop for three bursts"
