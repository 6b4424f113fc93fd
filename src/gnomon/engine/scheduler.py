"""The scheduler: fires due jobs from the store, claims each fire time once, executes runs.

The store is the source of truth. The scheduler keeps a heap of next fire times built from the
store, reloads it whenever the store's change counter moves (changes made by the API or the CLI,
in this process or another), and writes every firing through `Store.claim_fires`, whose unique
(job_id, scheduled_for) claim guarantees one run per fire time however many schedulers run.
Only the lease holder fires (see leadership.py).

Fires are claimed ahead of their time, in batches, and handed to the worker pool to start at
their scheduled instant, so the store write is not between a fire time and its run's start. How
far ahead depends on how they bunch up. A burst (`burst_fires` or more fires due within one
fireheap.SLOT) is claimed `claim_ahead` early, 1 s by default: 10,000 jobs due at the same
instant are all claimed before it comes. Other fires are claimed just before their time (within
starts.AHEAD), so that one write claims and starts them.
When its time comes, a fire claimed ahead starts only if it still belongs to its job as the
scheduler knows it then: a job paused, removed or given a trigger that no longer fires at that
time in the meantime records the fire `skipped` (reason `job_changed`) instead.

A claimed run then starts only through the store (starts.py): moved to running under the lease
it was claimed under, with max_instances judged across every node, just before its time; a fire
claimed that close to its time (or late) is moved to running by its claim's own transaction. A
fire of a job with a run going here is started at its time, so `max_instances` judges it then.
A node elected leader first
adopts the runs its predecessors claimed and never started; every node reconciles what the store
says it owns with what it executes, once per lease time.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gnomon.alerts import Notifications
from gnomon.domain import (
    Executor,
    JobRecord,
    Lease,
    MissReason,
    Run,
    RunStatus,
    RunUpdate,
    utcnow,
)
from gnomon.engine.celery_tasks import CeleryTasks
from gnomon.engine.clock import steady
from gnomon.engine.dispatch import Publish
from gnomon.engine.executors import install_output_routing, uninstall_output_routing
from gnomon.engine.fireheap import FireHeap
from gnomon.engine.leadership import Leadership, new_node_id
from gnomon.engine.live import LiveOutput
from gnomon.engine.notify.deliverer import Deliverer
from gnomon.engine.observe import EngineMetricsProtocol, NullMetrics
from gnomon.engine.overdue import OverdueWatch
from gnomon.engine.planning import FirePlan, no_longer_due, plan_ahead, plan_fires
from gnomon.engine.pool import WorkerPool
from gnomon.engine.reconciler import Reconciler
from gnomon.engine.recorder import RunRecorder
from gnomon.engine.runlog import RunLogReports
from gnomon.engine.runs import ActiveRuns
from gnomon.engine.starts import AHEAD as START_AHEAD
from gnomon.store.base import FireClaim, LeaseLost, RunStart, Store
from gnomon.triggers import Trigger, load_trigger

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SchedulerOptions:
    pool_size: int = 16
    lease_ttl: float = 10.0
    poll_interval: float = 1.0
    shutdown_grace: float = 30.0
    #: How long before their time the fires of a burst are claimed (0: when due). Claims are
    #: written in small steps (every CLAIM_STEP, or half of claim_ahead when that is shorter),
    #: so each pass claims the fires of one step, between claim_ahead - step and claim_ahead
    #: ahead of their time. Fires not in a burst are claimed at most starts.AHEAD ahead.
    claim_ahead: float = 1.0
    #: How many fires due within one fireheap.SLOT (0.1 s) make a burst, claimed claim_ahead
    #: early. Fewer are claimed and started by one write just before their time; claiming and
    #: starting costs about 50 us a fire, so 1,500 take about half of the time left then
    #: (starts.AHEAD - CLAIM_STEP), and more would start late. 1 claims every fire early.
    burst_fires: int = 1500
    #: The process is the scheduler's own (`gnomon scheduler`, `gnomon serve`): tune the cyclic
    #: garbage collector for firing (GC_THRESHOLD, and the heap frozen at every full load). An
    #: application embedding gnomon keeps its collector as it set it.
    own_gc: bool = False


#: How long past starts.AHEAD a stopping scheduler waits for the runs it moved to running ahead
#: of their time to start (each needs a free worker then).
STARTED_AHEAD_SLACK = 0.5
#: Fire records per claim transaction: when many fires are due at once, the first batches are
#: handed to workers while the next are written. Measured at 10,000 fires/s: 1,000 per
#: transaction held the GIL in stretches that made 1 % of runs start 10-28 ms late (spread)
#: and 250 made claiming the next of 10,000 fires sharing an instant too slow (p99 0.9 s);
#: 500 gave p99 7-9 ms spread and 0.38-0.47 s aligned.
CLAIM_BATCH = 500
#: How often claims are written when fires are spread out: short passes keep the scheduler
#: loop from holding the GIL for long while workers wait to start runs.
CLAIM_STEP = timedelta(seconds=0.1)
#: While the pool is behind (runs due and not started), claims of fires further ahead than half
#: of claim_ahead wait, retried this often: starting due runs comes first. When 10,000 fires
#: share an instant, the next instant's claims thus wait until this one's runs have started.
BEHIND_RETRY = 0.01
#: The cyclic garbage collector's first threshold while a scheduler runs (Python's default is
#: 700). Every fire allocates a few tracked objects, so at thousands of fires a second the
#: default ran about 140 collections a second, the full ones walking every run waiting in the
#: pool (up to 65 ms, all threads stopped; 10 % of the process's time at 10,000 fires/s). At
#: this threshold a collection happens a few times a minute, and memory held by reference
#: cycles until then stays small (reference counting frees everything else at once).
GC_THRESHOLD = 20_000
#: Before any fire time.
NEVER = datetime.min.replace(tzinfo=UTC)


class Scheduler:
    """Fires jobs while this process holds the scheduler lease. `start()`, then `stop()`."""

    def __init__(
        self,
        store: Store,
        options: SchedulerOptions | None = None,
        *,
        node_id: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        metrics: EngineMetricsProtocol | None = None,
        notifications: Notifications | None = None,
        env: Mapping[str, str] | None = None,
        publish: Publish | None = None,
        celery_tasks: CeleryTasks | None = None,
    ) -> None:
        """`notifications`: the channels this node delivers to while it leads; `env`: where
        their secret references are resolved (default: none resolve). `publish(run_id,
        queue)`: sends a run of a job executed on Celery to the broker (see dispatch.py).
        `celery_tasks`: the broker (and result backend) of celery_task jobs' tasks."""
        self.store = store
        self.metrics: EngineMetricsProtocol = RunLogReports(metrics or NullMetrics())
        self.options = options or SchedulerOptions()
        self.node_id = node_id or new_node_id()
        # Never going back, so a wall-clock step back cannot stall firing (see clock.py).
        clock = self._clock = steady(clock)
        self._leadership = Leadership(
            store,
            self.node_id,
            ttl=self.options.lease_ttl,
            on_elected=self._elected,
            on_deposed=self._deposed,
            clock=clock,
        )
        self._pool = WorkerPool(self.options.pool_size)
        # While runs wait to start, the GIL goes to starting them: their records wait (0.5 s at
        # most), which took a third off the time 10,000 runs due at one instant take to start.
        self._recorder = RunRecorder(
            store,
            hold=self._pool.behind,
            on_refused=self._count_refused,
            on_flushed=self._flushed,
        )
        self._deliverer = Deliverer(
            store,
            notifications or Notifications(channels={}),
            is_leader=lambda: self._leadership.lease is not None,
            clock=clock,
            env=env or {},
            poll_interval=self.options.poll_interval,
            metrics=self.metrics,
        )
        self._runs = ActiveRuns(
            store,
            self._pool,
            self._recorder,
            self.metrics,
            node_id=self.node_id,
            clock=clock,
            lease=lambda: self._leadership.lease,
            on_lease_lost=self._lease_lost,
            live_within=self._live_within(),
            still_due=self._still_due,
            publish=publish,
            celery_tasks=celery_tasks,
        )
        self._keeper = Reconciler(
            store,
            self._runs,
            self._recorder,
            self.metrics,
            node_id=self.node_id,
            lease_ttl=self.options.lease_ttl,
            job_of=lambda job_id: self._jobs.get(job_id),
            is_leader=lambda: self._leadership.lease is not None,
        )
        self._overdue = OverdueWatch(store, self._clock, self._deliverer.wake)
        self._live = LiveOutput(store, self.node_id, self._runs.outputs)
        self._ahead = timedelta(seconds=max(0.0, self.options.claim_ahead))
        self._near = min(self._ahead, timedelta(seconds=START_AHEAD))
        # A pass starts when the earliest unclaimed fire (of a burst) is this far ahead.
        self._near_lead = self._near - min(self._near / 2, CLAIM_STEP)
        self._lead = self._ahead - min(self._ahead / 2, CLAIM_STEP)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._gc_thresholds: tuple[int, int, int] | None = None
        # State rebuilt from the store whenever leadership is gained or the store changes.
        self._jobs: dict[str, JobRecord] = {}
        self._triggers: dict[str, Trigger] = {}
        self._heap = FireHeap(self.options.burst_fires)
        # Each job's next fire time as this scheduler advanced it (the heap's entries are stale
        # unless they match); the store has the same once the claim is written.
        self._due: dict[str, datetime | None] = {}
        self._more_due = False  # the last pass stopped at CLAIM_BATCH: go again at once
        # Every fire due by then has been taken from the heap (a burst up to then is claimed).
        self._claimed_until = NEVER
        self._deferred_for_pool = False  # the last pass left claims for a busy pool: retry soon
        self._seen_changes: int | None = None
        self._took_over_at: datetime | None = None
        self._needs_takeover = False
        self._manual_hint = True
        # The earliest backoff end of a retry this node queued (None: none known): the loop
        # looks for due retries then, not only at its next poll.
        self._retry_due: datetime | None = None
        self._next_poll = 0.0
        self._next_revive = 0.0

    def _live_within(self) -> float:
        """How recently a node must have been heard from for its running runs to count against
        max_instances: two heartbeats (each node beats every lease_ttl/4). A leader frozen just
        after committing starts is never heard from again before its lease runs out, so at the
        takeover (a lease time after its last renewal) its never-run runs no longer count."""
        return self.options.lease_ttl / 2

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self._leadership.is_leader()

    def start(self) -> None:
        thresholds = gc.get_threshold()
        if self.options.own_gc and thresholds[0] < GC_THRESHOLD:
            self._gc_thresholds = thresholds
            gc.set_threshold(GC_THRESHOLD, thresholds[1], thresholds[2])
        install_output_routing()
        self._recorder.start()
        self._deliverer.start()
        self._live.start()
        self._runs.start_gate()
        self._pool.start()
        self._leadership.start()
        self._thread = threading.Thread(target=self._loop, name="gnomon-scheduler", daemon=True)
        self._thread.start()
        log.info("scheduler started on node %s", self.node_id)

    def stop(self, grace: float | None = None) -> None:
        """Stop firing at once; hand the lease over once the runs already moved to running
        have started (at most starts.AHEAD + STARTED_AHEAD_SLACK); give running runs `grace`
        seconds, then cancel and mark them."""
        grace = self.options.shutdown_grace if grace is None else grace
        self._stopping.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=30)
        # The start gate stops: fires claimed ahead and still queued stay so, for the next
        # leader to adopt. Those already moved to running, a moment before their time
        # (starts.AHEAD), are this lease's to run: they start before it is handed over.
        self._runs.stop_starting()
        late = self._runs.wait_started_ahead(START_AHEAD + STARTED_AHEAD_SLACK)
        if late:
            log.warning(
                "%d run(s) moved to running had found no free worker when the lease was handed "
                "over: they end interrupted",
                late,
            )
        # What is left in the outbox is the next leader's to deliver.
        self._deliverer.stop()
        # Firing has stopped: hand the lease over now rather than after the grace.
        self._leadership.resign()
        # Running runs get the grace; cancel requests still reach them meanwhile.
        idle = self._wait_idle_cancelling(grace)
        running = self._pool.depth  # (celery_task runs waiting for an outcome are not here)
        # Tasks sent to a Celery app are not revoked because this scheduler stops: their runs
        # end interrupted, saying the task may still finish.
        self._runs.stop_following(
            "the scheduler stopped while following the Celery task's outcome (the task was "
            "sent and may still finish)"
        )
        if not idle and running:
            log.warning("%d run(s) still running after %.0fs; cancelling", running, grace)
            self._runs.cancel_all()
            if not self._pool.wait_idle(max(5.0, self.options.claim_ahead)):
                self._runs.interrupt_all("the scheduler stopped before the run finished")
        self._pool.shutdown()
        self._live.stop()
        self._runs.stop_gate()
        self._recorder.stop()
        self._leadership.stop()
        uninstall_output_routing()
        if self._gc_thresholds is not None:
            gc.set_threshold(*self._gc_thresholds)
        log.info("scheduler on node %s stopped", self.node_id)

    def _wait_idle_cancelling(self, grace: float) -> bool:
        deadline = time.monotonic() + grace
        while True:
            left = deadline - time.monotonic()
            if self._pool.wait_idle(max(0.0, min(left, self.options.poll_interval))):
                if not self._runs.following():
                    return True
                if left <= 0:
                    return False
                time.sleep(min(left, 0.1))  # celery_task runs waiting for their outcome
            elif left <= 0:
                return False
            try:
                self._apply_cancellations()
            except Exception:
                log.exception("could not read cancel requests")

    def broker_unreachable(self) -> bool:
        """Whether runs go to a Celery broker and the last one could not be sent."""
        return self._runs.broker_unreachable()

    def threads_down(self) -> list[str]:
        """The scheduler's background threads that have ended while it runs (it starts them
        again at its next pass; the scheduler loop itself only a restart brings back)."""
        if self._thread is None or self._stopping.is_set():
            return []
        down = [
            name
            for name, alive in (
                ("scheduler", self._thread.is_alive()),
                ("leadership", self._leadership.alive()),
                ("recorder", self._recorder.alive()),
                ("starts", self._runs.gate_alive()),
                ("notifier", self._deliverer.alive()),
                ("live-output", self._live.alive()),
            )
            if not alive
        ]
        if self._pool.dead_threads():
            down.append("workers")
        return down

    def _revive(self) -> None:
        """Supervision: start again any background thread that ended, logged and counted."""
        if time.monotonic() < self._next_revive:
            return
        self._next_revive = time.monotonic() + 1.0
        for name in self.threads_down():
            log.error("the scheduler's %s thread had ended; starting it again", name)
            if name == "leadership":
                self._leadership.revive()
            elif name == "recorder":
                self._recorder.start()
            elif name == "starts":
                self._runs.restart_gate()
            elif name == "notifier":
                self._deliverer.start()
            elif name == "live-output":
                self._live.start()
            elif name == "workers":
                self._pool.revive()
            # Counted once started again: whoever sees the count sees the thread back.
            self.metrics.thread_restarted(name)

    def notify(self, what: str = "jobs") -> None:
        """Tell the scheduler of a change: "jobs", "manual_run", or "lease" (given up by its
        holder: try to take it now)."""
        if what == "lease":
            self._leadership.wake()
            return
        if what == "manual_run":
            self._manual_hint = True
        else:
            self._next_poll = 0.0
        self._wake.set()

    def _lease_lost(self) -> None:
        self._leadership.forfeit()
        self._wake.set()

    def _flushed(self, batch: list[RunUpdate]) -> None:
        """Run records were written (the store accepted each of `batch`): if some told channels
        of their outcome, deliver now; if some queued retries, count them and look for them
        when their backoff ends."""
        if any(update.alerting is not None for update in batch):
            self._deliverer.wake()
        for update in batch:
            if update.retry is not None:
                self.metrics.retried(update.retry)
        due = [u.retry.not_before for u in batch if u.retry is not None and u.retry.not_before]
        if due:
            earliest = min(due)
            if self._retry_due is None or earliest < self._retry_due:
                self._retry_due = earliest
            self._wake.set()

    def _count_refused(self, refused: list[RunUpdate]) -> None:
        counts: dict[str, int] = {}
        for update in refused:
            counts[update.status.value] = counts.get(update.status.value, 0) + 1
        for status, count in counts.items():
            self.metrics.refused(status, count)

    # --- leadership callbacks (leadership thread) ----------------------------------------------

    def _elected(self, lease: Lease) -> None:
        self._needs_takeover = True
        self.metrics.set_leader(True)
        self._wake.set()

    def _deposed(self) -> None:
        self.metrics.set_leader(False)
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
        self._revive()
        if self._keeper.reconcile_due():
            self._keeper.reconcile(self._clock())
        lease = self._leadership.lease
        if lease is None:
            # Nothing more is claimed or started: fires claimed ahead while the lease was held
            # stay queued for the next leader to adopt (see starts.py).
            self._heap.clear()
            self._claimed_until = NEVER
            if time.monotonic() >= self._next_poll:
                # Runs still going here (on a deposed node) can still be cancelled.
                self._next_poll = time.monotonic() + self.options.poll_interval
                self._apply_cancellations()
            return self.options.poll_interval
        if self._needs_takeover:
            self._take_over(lease)
        if time.monotonic() >= self._next_poll:
            self._poll()
        self._fire_due(lease)
        retry_due = self._retry_due
        if retry_due is not None and retry_due <= self._clock():
            self._retry_due = None
            self._manual_hint = True
        if self._manual_hint:
            self._manual_hint = False
            self._start_manual_runs()
        self.metrics.set_queue_depth(self._pool.depth)
        return self._timeout()

    def _timeout(self) -> float:
        """Until the next claim is due: a lead before the heap's next fire time (or at it, for
        a fire deferred until due), and no later than the next poll."""
        timeout = max(0.0, self._next_poll - time.monotonic())
        if self._more_due:
            return 0.0
        if self._deferred_for_pool:
            timeout = min(timeout, BEHIND_RETRY)
        if self._heap:
            now = self._clock()
            when = self._heap.earliest()
            if when - self._near_lead > now:
                when -= self._near_lead
            burst = self._heap.next_burst(max(now, self._claimed_until))
            if burst is not None and burst - self._lead > now:
                # A burst's claims are due before the heap's next fire would wake the loop.
                # (One whose claims are due already is being claimed, or waits for the pool:
                # BEHIND_RETRY above.)
                when = min(when, burst - self._lead)
            timeout = min(timeout, max(0.0, (when - now).total_seconds()))
        retry_due = self._retry_due
        if retry_due is not None:
            timeout = min(timeout, max(0.0, (retry_due - self._clock()).total_seconds()))
        return timeout

    def _take_over(self, lease: Lease) -> None:
        now = self._clock()
        self._took_over_at = now
        self._seen_changes = None
        self._manual_hint = True
        # Adopted first: the orphan check in _poll would otherwise find them on a node gone.
        adopted = self._keeper.adopt(lease)
        self._poll()  # the jobs as they are now, before the adopted runs start
        for run in adopted:
            self._keeper.resume_queued(run, now)
        self._keeper.reconcile(now, at_takeover=True)
        # Only now: if any step above failed, the next pass takes over again.
        self._needs_takeover = False

    def _poll(self) -> None:
        """Reload jobs when the store changed; pick up manual runs and cancellations."""
        self._next_poll = time.monotonic() + self.options.poll_interval
        counter = self.store.change_counter()
        if counter != self._seen_changes:
            seen, self._seen_changes = self._seen_changes, counter
            if seen is None or counter < seen or not self._reload_changed(seen):
                self._reload_jobs()
        self._start_manual_runs()
        self._apply_cancellations()
        if self._keeper.orphans_due():
            self._keeper.interrupt_orphans(self._clock())
        self._watch_overdue()

    def _watch_overdue(self) -> None:
        lease = self._leadership.lease
        if lease is None:
            return
        due = self._due
        going = [r for r in self._jobs.values() if due.get(r.id) is not None]
        try:
            self._overdue.check(going, lease)
        except LeaseLost:
            self._lease_lost()

    def _reload_jobs(self) -> None:
        records = self.store.list_jobs()
        # New dicts, swapped in whole: workers read them (_still_due) while this runs.
        triggers: dict[str, Trigger] = {}
        for record in records:
            trigger = self._trigger_for(record)
            if trigger is not None:
                triggers[record.id] = trigger
        self._jobs = {r.id: r for r in records}
        self._due = {r.id: r.next_fire_time for r in records}
        self._triggers = triggers
        self._claimed_until = NEVER
        self._heap.replace_all(
            (r.next_fire_time, r.id, r.revision)
            for r in records
            if not r.paused and r.next_fire_time is not None and r.id in triggers
        )
        # Move everything alive now (the job records just loaded, the modules, the app's own
        # state) out of the cyclic garbage collector's reach. Its full collections traverse every
        # tracked object and, with 10,000 jobs, took up to 370 ms, stalling every thread: fires
        # came hundreds of ms late. Objects freed by reference counting are still freed; only
        # reference cycles among these long-lived objects would outlive their use.
        # Collect first, so garbage cycles alive at this moment (from requests, runs, …) are
        # freed rather than frozen for good; frozen objects are skipped by later collections, so
        # this costs only what was allocated since the previous reload.
        if self.options.own_gc:
            gc.collect()
            gc.freeze()
        log.debug("loaded %d job(s), %d scheduled", len(records), len(self._heap))

    def _reload_changed(self, since: int) -> bool:
        """Apply the jobs written since the change counter was `since`, and deletions, to the
        state in memory: one trigger change among 10,000 jobs costs a query of one row, not a
        rebuild of everything. False when a full reload is needed instead."""
        changed, ids = self.store.list_jobs_changed(since)
        fresh = {record.id for record in changed}
        if any(job_id not in self._jobs and job_id not in fresh for job_id in ids):
            return False  # a job appeared whose row this read did not return: start afresh
        for job_id in [job_id for job_id in self._jobs if job_id not in ids]:
            del self._jobs[job_id]  # its heap entries are now stale and dropped when popped
            self._due.pop(job_id, None)
            self._triggers.pop(job_id, None)
        for record in changed:
            if record.id not in ids:
                continue  # deleted after it was read
            self._load_job(record)
        if len(self._heap) > 2 * len(self._jobs) + 1000:
            self._heap.replace_all([entry for entry in self._heap if self._is_current(entry)])
        log.debug("applied %d changed job(s)", len(changed))
        return True

    def _trigger_for(self, record: JobRecord) -> Trigger | None:
        """The job's trigger: the one already loaded if its spec is unchanged; None (logged)
        when the stored spec cannot be read."""
        previous = self._triggers.get(record.id)
        if previous is not None and previous.to_spec() == record.trigger:
            return previous
        try:
            return load_trigger(record.trigger)
        except Exception:
            log.exception("job %s has an unreadable trigger; not scheduling it", record.id)
            return None

    def _load_job(self, record: JobRecord) -> None:
        known = self._jobs.get(record.id)
        if known is not None and known.revision == record.revision:
            # Read again by a poll that raced the write: already loaded (and perhaps already
            # advanced by claims). Pushing it again would plan every later fire twice.
            return
        trigger = self._trigger_for(record)
        self._jobs[record.id] = record
        self._due[record.id] = record.next_fire_time
        if trigger is None:
            self._triggers.pop(record.id, None)
            return
        self._triggers[record.id] = trigger
        if not record.paused and record.next_fire_time is not None:
            self._heap.push((record.next_fire_time, record.id, record.revision))

    def _is_current(self, entry: tuple[datetime, str, int]) -> bool:
        when, job_id, revision = entry
        record = self._jobs.get(job_id)
        return record is not None and record.revision == revision and self._due.get(job_id) == when

    def _still_due(self, claimed: JobRecord, run: Run) -> JobRecord | str:
        """Whether a fire claimed ahead still belongs to its job now that its time has come
        (called from a worker): the job as it is now if so, else why not. A pause, trigger
        change or removal that reached this scheduler after the claim thus takes effect at
        once, and any other change (command, target, kwargs) is what runs."""
        current = self._jobs.get(claimed.id)
        if current is not None and current.revision == claimed.revision:
            return current  # the usual case: unchanged since the claim
        if current is None:
            return "the job was removed before this fire time"
        why = no_longer_due(current, self._triggers.get(current.id), run.scheduled_for)
        return current if why is None else why

    def _fire_due(self, lease: Lease) -> None:
        now = self._clock()
        heap = self._heap
        burst = heap.next_burst(max(now, self._claimed_until))
        # Fires are claimed just before their time, unless a burst comes within claim_ahead:
        # then every fire up to then is claimed early, in passes that keep the burst's order.
        if burst is not None and burst <= now + self._ahead:
            horizon = now + self._ahead
        else:
            horizon = now + self._near
        plans: list[tuple[JobRecord, FirePlan, bool]] = []
        count = 0
        self._more_due = False
        self._deferred_for_pool = False
        self._runs.settle()  # count() below then knows of every run that has ended
        if heap and now + self._ahead / 2 < heap.earliest() <= horizon and self._pool.behind():
            self._deferred_for_pool = True
            return
        while heap and heap.earliest() <= horizon:
            if count >= CLAIM_BATCH:
                self._more_due = True
                break
            entry = heap.pop()
            if not self._is_current(entry):
                continue  # stale heap entry
            when, job_id, _ = entry
            record = self._jobs[job_id]
            active = self._runs.count(job_id)
            ahead = when > now
            # A fire claimed ahead while a run of its job is still going: the store judges
            # max_instances when it comes to start (starts.py), so it need not wait.
            plan = self._plan(record, when, now, active, ahead, lease.token)
            if plan is None:
                continue
            plans.append((record, plan, ahead))
            count += len(plan.records)
        if not self._more_due:
            self._claimed_until = horizon
        if plans:
            self._claim(lease, plans)

    def _plan(
        self,
        record: JobRecord,
        when: datetime,
        now: datetime,
        active: int,
        ahead: bool,
        token: int,
    ) -> FirePlan | None:
        """The job's fire plan; None, with the job left out of firing until it changes or the
        scheduler reloads, when its trigger fails (one bad trigger never stops the others)."""
        trigger = self._triggers[record.id]
        try:
            if ahead:
                return plan_ahead(record, trigger, when, now=now, node=self.node_id, token=token)
            return plan_fires(
                record,
                trigger,
                now,
                active=active,
                node=self.node_id,
                token=token,
                down_until=self._took_over_at or now,
                due=when,
            )
        except Exception:
            log.exception(
                "job %s: its trigger failed computing fire times; not firing it until it is "
                "changed or reloaded",
                record.id,
            )
            self._due[record.id] = None
            return None

    def _claim(self, lease: Lease, plans: list[tuple[JobRecord, FirePlan, bool]]) -> None:
        # A fire claimed when already due, or so close to its time that the start gate would
        # take it in its next start (starts.AHEAD), is started in the claim's own transaction:
        # one write instead of two. One claimed earlier (in a burst) is started by the start
        # gate just before its time (starts.py), and so is one whose job has a run going here:
        # max_instances judges it when it is due.
        soon = self._clock() + timedelta(seconds=START_AHEAD)
        if any(not ahead or _has_fire_by(plan, soon) for _, plan, ahead in plans):
            # Starting runs: not at the same time as the start gate, so that each judges
            # max_instances knowing every run the other started here.
            with self._runs.starting():
                self._write_claims(lease, plans, soon)
        else:
            self._write_claims(lease, plans, soon)

    def _write_claims(
        self, lease: Lease, plans: list[tuple[JobRecord, FirePlan, bool]], soon: datetime
    ) -> None:
        here = self._runs.running_here()
        claims = []
        for record, plan, ahead in plans:
            definition = record.definition
            job_id = definition.id
            busy = here.get(job_id, 0)
            if definition.executor is Executor.CELERY or (ahead and busy):
                # Celery: stays queued, a worker moves it to running (dispatch.py). A run of its
                # job going here: judged at its time by the start gate.
                execute: Container[Run] = ()
            elif not ahead:
                execute = plan.to_execute
            else:
                execute = [
                    run
                    for run in plan.to_execute
                    if run.scheduled_for is not None and run.scheduled_for <= soon
                ]
            max_instances = definition.max_instances
            alerting = definition.alerting  # for fire times recorded missed
            revision, next_fire_time = record.revision, plan.next_fire_time
            for run in plan.records:
                # `in` on a list of runs compares by identity first: the same Run objects.
                start = RunStart(run.id, job_id, max_instances, busy) if run in execute else None
                claims.append(FireClaim(run, revision, next_fire_time, start, alerting))
        try:
            written = self.store.claim_fires(claims, fence=lease, live_within=self._live_within())
            claimed = {run.id: run for run in written}
        except LeaseLost:
            # The store says another node may lead now (or the lease ran out on the store's
            # clock): stop firing until elected again, which rebuilds everything from the store.
            log.warning("lease lost while firing; %d claim(s) not written", len(claims))
            self._heap.clear()
            self._claimed_until = NEVER
            self._more_due = False
            self._leadership.forfeit()
            return
        except Exception:
            # Nothing was written: the store still has the old next fire times, so a reload
            # re-plans these fire times (late runs or `missed` records) instead of losing them.
            log.exception("recording %d fire(s) failed; will re-plan from the store", len(claims))
            self._seen_changes = None
            self._next_poll = time.monotonic() + min(1.0, self.options.poll_interval)
            self._more_due = False
            return
        starts: list[tuple[JobRecord, Run, datetime | None]] = []
        started: list[tuple[JobRecord, Run, datetime | None]] = []
        for record, plan, ahead in plans:
            job_id = record.id
            self._due[job_id] = plan.next_fire_time
            if plan.next_fire_time is not None:
                self._heap.push((plan.next_fire_time, job_id, record.revision))
            if len(plan.records) != len(plan.to_execute):
                self._report_misses(plan, claimed)
            for run in plan.to_execute:
                written_run = claimed.get(run.id)
                if written_run is None:
                    continue  # another node claimed that fire time
                status = written_run.status
                if status is RunStatus.QUEUED:
                    starts.append((record, run, run.scheduled_for))
                elif status is RunStatus.RUNNING:
                    started.append((record, written_run, run.scheduled_for if ahead else None))
                else:  # over max_instances counting the runs of other nodes
                    self.metrics.skipped(job_id, run.fire_count, run=written_run)
        self._runs.start_all(starts)
        self._runs.run_started(started)

    def _report_misses(self, plan: FirePlan, inserted: Container[str]) -> None:
        for run in plan.records:
            if run.id not in inserted:
                continue
            if run.status is RunStatus.MISSED:
                self.metrics.missed(run.job_id, run.fire_count, reason=run.reason, run=run)
            elif run.status is RunStatus.SKIPPED:
                self.metrics.skipped(run.job_id, run.fire_count, run=run)

    # --- runs ----------------------------------------------------------------------------------

    def _start_manual_runs(self) -> None:
        lease = self._leadership.lease
        if lease is None:
            return
        try:
            picked = self.store.claim_queued_manual_runs(self.node_id, fence=lease)
        except LeaseLost:
            self._lease_lost()
            return
        for run in picked:
            record = self._jobs.get(run.job_id) or self.store.find_job(run.job_id)
            if record is None:
                now = self._clock()
                # queued → skipped: a run that never started cannot have failed.
                self._recorder.record(
                    RunUpdate(
                        run_id=run.id,
                        status=RunStatus.SKIPPED,
                        finished_at=now,
                        reason=MissReason.JOB_CHANGED.value,
                        error_type="JobNotFound",
                        error_message=f"job {run.job_id!r} no longer exists",
                        owner=self.node_id,
                    )
                )
                self.metrics.skipped(
                    run.job_id, 1, reason=MissReason.JOB_CHANGED, run_id=run.id, run=run
                )
                continue
            self._runs.start(record, run)

    def _apply_cancellations(self) -> None:
        active = self._runs.ids()
        if active:
            # Also runs another node recorded interrupted, taking this one for lost: their
            # code stops here before a retry of them can start elsewhere.
            self._runs.cancel(self.store.runs_to_stop(active))


def _has_fire_by(plan: FirePlan, when: datetime) -> bool:
    """Whether the plan executes a fire due by `when`."""
    return any(
        run.scheduled_for is not None and run.scheduled_for <= when for run in plan.to_execute
    )
