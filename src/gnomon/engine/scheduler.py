"""The scheduler: fires due jobs from the store, claims each fire time once, executes runs.

The store is the source of truth. The scheduler keeps a heap of next fire times built from the
store, reloads it whenever the store's change counter moves (changes made by the API or the CLI,
in this process or another), and writes every firing through `Store.claim_fires`, whose unique
(job_id, scheduled_for) claim guarantees one run per fire time however many schedulers run.
Only the lease holder fires (see leadership.py).
"""

from __future__ import annotations

import heapq
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from gnomon.domain import JobRecord, Lease, Run, RunStatus, RunUpdate, TriggerType, utcnow
from gnomon.engine.executors import install_output_routing, run_job, uninstall_output_routing
from gnomon.engine.leadership import Leadership, new_node_id
from gnomon.engine.planning import FirePlan, plan_fires
from gnomon.engine.pool import WorkerPool
from gnomon.engine.recorder import RunRecorder
from gnomon.store.base import FireClaim, LeaseLost, Store
from gnomon.triggers import Trigger, load_trigger

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SchedulerOptions:
    pool_size: int = 16
    lease_ttl: float = 10.0
    poll_interval: float = 1.0
    shutdown_grace: float = 30.0


@dataclass
class _ActiveRun:
    run: Run
    cancel: threading.Event


class Scheduler:
    """Fires jobs while this process holds the scheduler lease. `start()`, then `stop()`."""

    def __init__(
        self,
        store: Store,
        options: SchedulerOptions | None = None,
        *,
        node_id: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.options = options or SchedulerOptions()
        self.node_id = node_id or new_node_id()
        self._clock = clock
        self._leadership = Leadership(
            store,
            self.node_id,
            ttl=self.options.lease_ttl,
            on_elected=self._elected,
            on_deposed=self._deposed,
            clock=clock,
        )
        self._recorder = RunRecorder(store)
        self._pool = WorkerPool(self.options.pool_size)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # State rebuilt from the store whenever leadership is gained or the store changes.
        self._jobs: dict[str, JobRecord] = {}
        self._triggers: dict[str, Trigger] = {}
        self._heap: list[tuple[datetime, str, int]] = []
        self._seen_changes: int | None = None
        self._took_over_at: datetime | None = None
        self._needs_takeover = False
        self._manual_hint = True
        self._next_poll = 0.0
        self._next_orphan_check = 0.0
        self._active: dict[str, _ActiveRun] = {}
        self._active_per_job: Counter[str] = Counter()

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self._leadership.is_leader()

    def start(self) -> None:
        install_output_routing()
        self._recorder.start()
        self._pool.start()
        self._leadership.start()
        self._thread = threading.Thread(target=self._loop, name="gnomon-scheduler", daemon=True)
        self._thread.start()
        log.info("scheduler started on node %s", self.node_id)

    def stop(self, grace: float | None = None) -> None:
        """Stop firing at once; give running runs `grace` seconds, then cancel and mark them."""
        grace = self.options.shutdown_grace if grace is None else grace
        self._stopping.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=30)
        if not self._pool.wait_idle(grace):
            with self._lock:
                still = list(self._active.values())
            log.warning("%d run(s) still running after %.0fs; cancelling", len(still), grace)
            for active in still:
                active.cancel.set()
            if not self._pool.wait_idle(5.0):
                self._interrupt_active("the scheduler stopped before the run finished")
        self._pool.shutdown()
        self._recorder.stop()
        self._leadership.stop()
        uninstall_output_routing()
        log.info("scheduler on node %s stopped", self.node_id)

    def notify(self, what: str = "jobs") -> None:
        """Tell the scheduler of a change made in this process: "jobs" or "manual_run"."""
        if what == "manual_run":
            self._manual_hint = True
        else:
            self._next_poll = 0.0
        self._wake.set()

    # --- leadership callbacks (leadership thread) ----------------------------------------------

    def _elected(self, lease: Lease) -> None:
        self._needs_takeover = True
        self._wake.set()

    def _deposed(self) -> None:
        self._wake.set()

    # --- the loop ------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                timeout = self._iteration()
            except Exception:
                log.exception("scheduler iteration failed; reloading state from the store")
                self._seen_changes = None
                timeout = self.options.poll_interval
            self._wake.wait(timeout)
            self._wake.clear()

    def _iteration(self) -> float:
        """One pass: take over if elected, reload if changed, fire what is due. Returns the wait."""
        lease = self._leadership.lease
        if lease is None:
            self._heap.clear()
            self._jobs.clear()
            return self.options.poll_interval
        if self._needs_takeover:
            self._take_over()
        if time.monotonic() >= self._next_poll:
            self._poll()
        self._fire_due(lease)
        if self._manual_hint:
            self._manual_hint = False
            self._start_manual_runs()
        now = self._clock()
        timeout = max(0.0, self._next_poll - time.monotonic())
        if self._heap:
            timeout = min(timeout, max(0.0, (self._heap[0][0] - now).total_seconds()))
        return timeout

    def _take_over(self) -> None:
        self._needs_takeover = False
        now = self._clock()
        self._took_over_at = now
        self._interrupt_orphans(now)
        self._seen_changes = None
        self._manual_hint = True
        self._poll()

    def _poll(self) -> None:
        """Reload jobs when the store changed; pick up manual runs and cancellations."""
        self._next_poll = time.monotonic() + self.options.poll_interval
        counter = self.store.change_counter()
        if counter != self._seen_changes:
            self._seen_changes = counter
            self._reload_jobs()
        self._start_manual_runs()
        self._apply_cancellations()
        if time.monotonic() >= self._next_orphan_check:
            self._interrupt_orphans(self._clock())

    def _reload_jobs(self) -> None:
        records = self.store.list_jobs()
        triggers: dict[str, Trigger] = {}
        for record in records:
            previous = self._triggers.get(record.id)
            if previous is not None and previous.to_spec() == record.trigger:
                triggers[record.id] = previous
                continue
            try:
                triggers[record.id] = load_trigger(record.trigger)
            except Exception:
                log.exception("job %s has an unreadable trigger; not scheduling it", record.id)
        self._jobs = {r.id: r for r in records}
        self._triggers = triggers
        self._heap = [
            (r.next_fire_time, r.id, r.revision)
            for r in records
            if not r.paused and r.next_fire_time is not None and r.id in triggers
        ]
        heapq.heapify(self._heap)
        log.debug("loaded %d job(s), %d scheduled", len(records), len(self._heap))

    def _fire_due(self, lease: Lease) -> None:
        now = self._clock()
        plans: list[tuple[JobRecord, FirePlan]] = []
        while self._heap and self._heap[0][0] <= now:
            when, job_id, revision = heapq.heappop(self._heap)
            record = self._jobs.get(job_id)
            if record is None or record.revision != revision or record.next_fire_time != when:
                continue  # stale heap entry
            with self._lock:
                active = self._active_per_job[job_id]
            plan = plan_fires(
                record,
                self._triggers[job_id],
                now,
                active=active,
                node=self.node_id,
                down_until=self._took_over_at or now,
            )
            plans.append((record, plan))
        if not plans:
            return
        claims = [
            FireClaim(
                run=run, expected_revision=record.revision, next_fire_time=plan.next_fire_time
            )
            for record, plan in plans
            for run in plan.records
        ]
        try:
            inserted = {run.id for run in self.store.claim_fires(claims, fence=lease)}
        except LeaseLost:
            log.warning("lease lost while firing; %d claim(s) not written", len(claims))
            self._heap.clear()
            return
        except Exception:
            # Nothing was written: the store still has the old next fire times, so a reload
            # re-plans these fire times (late runs or `missed` records) instead of losing them.
            log.exception("recording %d fire(s) failed; will re-plan from the store", len(claims))
            self._seen_changes = None
            self._next_poll = time.monotonic() + min(1.0, self.options.poll_interval)
            return
        for record, plan in plans:
            updated = record.replace(next_fire_time=plan.next_fire_time)
            self._jobs[record.id] = updated
            if plan.next_fire_time is not None:
                heapq.heappush(self._heap, (plan.next_fire_time, record.id, record.revision))
            for run in plan.to_execute:
                if run.id in inserted:
                    self._submit(updated, run)

    # --- runs ----------------------------------------------------------------------------------

    def _start_manual_runs(self) -> None:
        for run in self.store.claim_queued_manual_runs(self.node_id):
            record = self._jobs.get(run.job_id) or self.store.find_job(run.job_id)
            if record is None:
                now = self._clock()
                self._recorder.record(
                    RunUpdate(
                        run_id=run.id,
                        status=RunStatus.FAILED,
                        finished_at=now,
                        error_type="JobNotFound",
                        error_message=f"job {run.job_id!r} no longer exists",
                    )
                )
                continue
            self._submit(record, run)

    def _submit(self, record: JobRecord, run: Run) -> None:
        cancel = threading.Event()
        with self._lock:
            self._active[run.id] = _ActiveRun(run, cancel)
            self._active_per_job[run.job_id] += 1
        jitter = 0.0
        if record.trigger.get("type") == TriggerType.INTERVAL and run.scheduled_for is not None:
            jitter = random.uniform(0, float(record.trigger.get("jitter") or 0))  # noqa: S311
        self._pool.submit(lambda: self._execute(record, run, cancel, jitter))

    def _execute(self, record: JobRecord, run: Run, cancel: threading.Event, jitter: float) -> None:
        thread = threading.current_thread()
        pool_name = thread.name
        thread.name = run.manual_job_id or f"gnomon-run-{run.id[:8]}"
        try:
            if jitter and cancel.wait(jitter):
                pass
            if cancel.is_set():
                now = self._clock()
                self._recorder.record(
                    RunUpdate(run_id=run.id, status=RunStatus.CANCELLED, finished_at=now)
                )
                return
            started = self._clock()
            self._recorder.record(
                RunUpdate(
                    run_id=run.id, status=RunStatus.RUNNING, started_at=started, node=self.node_id
                )
            )
            outcome = run_job(record.definition, run, cancel, clock=self._clock, store=self.store)
            self._recorder.record(outcome.to_update(run.id))
        finally:
            thread.name = pool_name
            with self._lock:
                self._active.pop(run.id, None)
                self._active_per_job[run.job_id] -= 1
                if self._active_per_job[run.job_id] <= 0:
                    del self._active_per_job[run.job_id]

    def _apply_cancellations(self) -> None:
        with self._lock:
            active = dict(self._active)
        if not active:
            return
        for run_id in self.store.cancel_requested(active.keys()):
            active[run_id].cancel.set()

    def _interrupt_orphans(self, now: datetime) -> None:
        """Runs left active by nodes that are gone can never finish: mark them interrupted.

        Checked on taking over and then once per lease time: a node counts as gone when its
        heartbeat is older than two lease times.
        """
        self._next_orphan_check = time.monotonic() + self.options.lease_ttl
        horizon = now - timedelta(seconds=self.options.lease_ttl * 2)
        live = {n.id for n in self.store.list_nodes() if n.last_seen >= horizon}
        live.add(self.node_id)
        runs = self.store.interrupt_runs(
            now, "the node executing it stopped or was lost", keep_nodes=live
        )
        if runs:
            log.warning("marked %d orphaned run(s) interrupted", len(runs))

    def _interrupt_active(self, reason: str) -> None:
        now = self._clock()
        with self._lock:
            still = list(self._active.values())
        for active in still:
            self._recorder.record(
                RunUpdate(
                    run_id=active.run.id,
                    status=RunStatus.INTERRUPTED,
                    finished_at=now,
                    reason=reason,
                )
            )
