"""The runs this process executes: handed to the pool (now or at their time), tracked, recorded.

How each run ends is known here: it is recorded, reported to the metrics hooks and, unless it
succeeded, logged (engine/runlog.py), in `_report_end`, `interrupt` and `end_unstarted`. The
tasks of celery_task runs are sent and followed by TaskRuns (task_runs.py), which ends those runs
through `_report_end` too.

A run counts as active (against `max_instances`, and for cancellation) from the moment it is
claimed until its worker is done with it, including while it waits in the pool for its
scheduled time (fires claimed shortly ahead, see scheduler.py) or for a free worker.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from gnomon.domain import (
    Alerting,
    Executor,
    JobDefinition,
    JobKind,
    JobRecord,
    Lease,
    MissReason,
    Run,
    RunStatus,
    RunUpdate,
    TriggerType,
)
from gnomon.engine.celery_tasks import CeleryTasks
from gnomon.engine.dispatch import Dispatcher, Publish
from gnomon.engine.executors import run_job
from gnomon.engine.executors.base import raised_update
from gnomon.engine.observe import EngineMetricsProtocol
from gnomon.engine.output import OutputBuffer
from gnomon.engine.pool import WorkerPool
from gnomon.engine.recorder import RunRecorder
from gnomon.engine.retries import with_retry
from gnomon.engine.runlog import log_run_end, run_duration
from gnomon.engine.starts import StartGate
from gnomon.engine.task_runs import TaskRuns
from gnomon.store.base import RunStart, Store

log = logging.getLogger(__name__)


class _Active:
    # The cancel Event is made by the worker when the run starts (an Event is a Condition, a
    # lock and a deque: measurable on the scheduler loop at thousands of fires a second);
    # `cancelled` carries a cancel that came earlier.
    __slots__ = (
        "ahead",
        "began",
        "cancel",
        "cancelled",
        "checked",
        "output",
        "record",
        "run",
        "started",
    )

    def __init__(self, record: JobRecord, run: Run, ahead: bool) -> None:
        self.record = record
        self.run = run
        self.ahead = ahead  # claimed before its time: still_due decides at that time
        self.cancel: threading.Event | None = None
        self.cancelled = False
        self.started = False  # moved to running in the store and handed to a worker
        self.checked = False  # its worker has checked the lease, at its time
        # While its code runs: its output as it comes, and since when (time.monotonic()).
        self.output: OutputBuffer | None = None
        self.began = 0.0


def _decrement(counts: dict[str, int], key: str) -> None:
    left = counts[key] - 1
    if left > 0:
        counts[key] = left
    else:
        del counts[key]


def _always_due(record: JobRecord, run: Run) -> JobRecord | str:
    return record


class ActiveRuns:
    """Starts runs on the pool (now, or at their scheduled time) and records how they end."""

    def __init__(
        self,
        store: Store,
        pool: WorkerPool,
        recorder: RunRecorder,
        metrics: EngineMetricsProtocol,
        *,
        node_id: str,
        clock: Callable[[], datetime],
        lease: Callable[[], Lease | None],
        on_lease_lost: Callable[[], None] = lambda: None,
        live_within: float = 10.0,
        still_due: Callable[[JobRecord, Run], JobRecord | str] = _always_due,
        publish: Publish | None = None,
        celery_tasks: CeleryTasks | None = None,
    ) -> None:
        """`still_due(record, run)`, asked when a run claimed ahead comes due: the job as it
        is now, to run, or why its fire time no longer belongs to the job (recorded
        `skipped`). `lease()`: the lease this node holds now (None: it may start nothing).
        `publish(run_id, queue)`: sends a run of a job executed on Celery to the broker (None:
        no broker; such runs execute here, as a warning says). `celery_tasks`: where the
        tasks of celery_task jobs are sent, and their outcomes read (None: such runs fail,
        saying there is no broker)."""
        self._store = store
        self._pool = pool
        self._recorder = recorder
        self._metrics = metrics
        self._node_id = node_id
        self._still_due = still_due
        self._clock = clock
        # Guards _active and _started_per_job. Workers never take it: a run's worker appends its
        # id to _ended (a deque append is atomic), and settle() forgets ended runs. With the lock
        # taken by every worker at the end of every run, workers queued for it by the
        # thousand a second, each wait costing a wait for the GIL after it.
        self._lock = threading.Lock()
        self._active: dict[str, _Active] = {}
        # Of the active runs, the ones started (running in the store), per job.
        self._started_per_job: dict[str, int] = {}
        self._ended: deque[str] = deque()
        self._lease = lease
        # Held while runs are judged against max_instances, started in the store and counted
        # here: by the start gate, and by the scheduler when its claim starts runs.
        self._starting = threading.Lock()
        self._gate = StartGate(
            store,
            node_id,
            lease=lease,
            clock=clock,
            may_start=self._may_start_id,
            running_here=self._running_here,
            dispatch=self._dispatch,
            on_lease_lost=on_lease_lost,
            metrics=metrics,
            starting=self._starting,
            live_within=live_within,
            run_of=self._run_of,
        )
        self._dispatcher: Dispatcher | None = None
        if publish is not None:
            self._dispatcher = Dispatcher(
                store,
                node_id,
                publish=publish,
                lease=lease,
                clock=clock,
                may_send=self._may_send,
                end_unsent=self._end_unsent,
                cancel_unsent=self._cancel_unsent,
                on_broker=metrics.set_broker_up,
                on_lease_lost=on_lease_lost,
                sweep_every=live_within * 2,
            )
        self._warned_no_broker = False
        self._tasks = TaskRuns(
            celery_tasks,
            node_id=node_id,
            clock=clock,
            report_end=functools.partial(self._report_end, executed=True),
            release=self._ended.append,
        )

    def _run_of(self, run_id: str) -> Run | None:
        active = self._active.get(run_id)  # a dict read is atomic
        return None if active is None else active.run

    def starting(self) -> threading.Lock:
        """The lock to hold from judging runs' starts to counting them here (run_started)."""
        return self._starting

    def start_gate(self) -> None:
        """Start the thread that moves runs to running in the store (before any run starts),
        and the one that sends runs to the broker."""
        self._gate.start()
        if self._dispatcher is not None:
            self._dispatcher.start()
        self._tasks.start()

    def stop_starting(self) -> None:
        """Move no more runs to running (the runs claimed and still queued stay so, for the
        next leader to adopt); stop_gate stops the rest."""
        self._gate.stop()

    def wait_started_ahead(self, timeout: float) -> int:
        """Wait until each run moved to running here has come to its time and its worker has
        checked the lease, at most `timeout` seconds; return how many had not. A stopping
        scheduler waits so before it gives up the lease: a run started just ahead of its time
        is this node's to execute, and would otherwise end interrupted."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                waiting = sum(1 for a in self._active.values() if a.started and not a.checked)
            if not waiting or time.monotonic() >= deadline:
                return waiting
            time.sleep(0.005)

    def stop_gate(self) -> None:
        self._gate.stop()
        if self._dispatcher is not None:
            self._dispatcher.stop()
        self._tasks.close()

    def following(self) -> int:
        """How many celery_task runs wait for their task's outcome."""
        return self._tasks.following()

    def stop_following(self, reason: str) -> None:
        """Stop following tasks' outcomes; record the runs still waiting for one interrupted
        (their tasks were sent and may still finish: only the record stops here)."""
        followed = self._tasks.stop_following()
        if not followed:
            return
        now = self._clock()
        for run in followed:
            active = self._active.get(run.id)
            self.interrupt(run, reason, now, None if active is None else active.record.definition)
            self._ended.append(run.id)

    def broker_unreachable(self) -> bool:
        """Whether this node sends runs to a broker and the last send failed."""
        return self._dispatcher is not None and self._dispatcher.broker_unreachable()

    def gate_alive(self) -> bool:
        return (
            self._gate.alive()
            and (self._dispatcher is None or self._dispatcher.alive())
            and self._tasks.alive()
        )

    def restart_gate(self) -> None:
        if not self._gate.alive():
            self._gate.start()
        if self._dispatcher is not None and not self._dispatcher.alive():
            self._dispatcher.start()
        if not self._tasks.alive():
            self._tasks.start()

    def settle(self) -> None:
        """Forget the runs that ended since the last call (the scheduler loop calls it on each
        pass, before it judges max_instances with count())."""
        with self._lock:
            self._settle_locked()

    def _settle_locked(self) -> None:
        ended, active = self._ended, self._active
        while ended:
            gone = active.pop(ended.popleft(), None)
            if gone is None:
                continue
            if gone.started:
                _decrement(self._started_per_job, gone.run.job_id)

    def run_started(self, started: Sequence[tuple[JobRecord, Run, datetime | None]]) -> None:
        """Execute runs already moved to running in the store (claimed and started in one
        transaction) as soon as a worker is free, or, given an `at`, once it has come."""
        if not started:
            return
        actives = [_Active(record, run, ahead=False) for record, run, _ in started]
        with self._lock:
            for active in actives:
                self._active[active.run.id] = active
                active.started = True
                job_id = active.run.job_id
                self._started_per_job[job_id] = self._started_per_job.get(job_id, 0) + 1
        offset = time.monotonic() - self._clock().timestamp()
        self._pool.submit_all(
            [
                (
                    functools.partial(self._execute, a),
                    None if at is None else at.timestamp() + offset,
                )
                for a, (_, _, at) in zip(actives, started, strict=True)
            ]
        )

    def running_here(self) -> dict[str, int]:
        """This node's runs executing (or handed to a worker) now, per job."""
        return self._running_here()

    def _running_here(self) -> dict[str, int]:
        """This node's runs executing (or handed to a worker) now, per job."""
        with self._lock:
            self._settle_locked()
            return dict(self._started_per_job)

    def count(self, job_id: str) -> int:
        """Runs of the job started (running) in this process, as of the last settle(). Runs
        claimed and not started yet do not count: they hold no max_instances slot."""
        return self._started_per_job.get(job_id, 0)  # a dict read is atomic; read often

    def ids(self) -> list[str]:
        """The runs this node executes, or has to send or has sent to workers (until one
        takes them)."""
        with self._lock:
            self._settle_locked()
            ids = list(self._active)
        if self._dispatcher is not None:
            ids.extend(self._dispatcher.ids())
        return ids

    def start(self, record: JobRecord, run: Run, at: datetime | None = None) -> None:
        """Execute `run` on the pool as soon as a worker is free, or once `at` has come (a fire
        claimed ahead: started only if still due then)."""
        self.start_all([(record, run, at)])

    def start_all(self, starts: Sequence[tuple[JobRecord, Run, datetime | None]]) -> None:
        """`start` each (record, run, at), taking each lock once for the whole batch. Runs of
        jobs executed on Celery are sent to the broker at their time instead."""
        if any(record.definition.executor is Executor.CELERY for record, _, _ in starts):
            starts = self._send_celery(starts)
        actives = [_Active(record, run, ahead=at is not None) for record, run, at in starts]
        with self._lock:
            for active in actives:
                self._active[active.run.id] = active
        # Fire times as instants on the pool's clock: one reading of each clock for the batch.
        now = time.monotonic()
        offset = now - self._clock().timestamp()
        # The gate moves them to running in the store just ahead of their time, then hands
        # them to the pool (_dispatch).
        self._gate.expect(
            (
                RunStart(active.run.id, active.run.job_id, active.record.definition.max_instances),
                now if at is None else at.timestamp() + offset,
            )
            for active, (_, _, at) in zip(actives, starts, strict=True)
        )

    def _send_celery(
        self, starts: Sequence[tuple[JobRecord, Run, datetime | None]]
    ) -> list[tuple[JobRecord, Run, datetime | None]]:
        """Hand the runs of jobs executed on Celery to the dispatcher; the others, to start
        here."""
        if self._dispatcher is None:
            if not self._warned_no_broker:
                self._warned_no_broker = True
                log.warning(
                    "jobs with executor = celery run here: this scheduler has no broker "
                    "(set [celery] broker_url)"
                )
            return list(starts)
        now = time.monotonic()
        offset = now - self._clock().timestamp()
        sent, local = [], []
        for record, run, at in starts:
            if record.definition.executor is Executor.CELERY:
                due = now if at is None else at.timestamp() + offset
                sent.append((record, run, at is not None, due))
            else:
                local.append((record, run, at))
        self._dispatcher.expect(sent)
        return local

    def _may_send(
        self, record: JobRecord, run: Run, ahead: bool, now: datetime
    ) -> JobRecord | None:
        """For the dispatcher: the job as it is now if `run` should still be sent, else None
        (its record says why)."""
        if run.scheduled_for is None:
            return record
        return self._judge(record, run, ahead, now)

    def _end_unsent(self, run: Run, record: JobRecord, reason: MissReason, message: str) -> None:
        self.end_unstarted(run, RunStatus.MISSED, reason, message, record.definition.alerting)

    def _cancel_unsent(self, run: Run) -> None:
        update = RunUpdate(
            run_id=run.id,
            status=RunStatus.CANCELLED,
            finished_at=self._clock(),
            error_type="Cancelled",
            error_message="cancelled before a worker started it",
            expected=frozenset({RunStatus.QUEUED}),
            owner=self._node_id,
        )
        self._report_end(run, update, executed=False)

    def _dispatch(self, started: list[tuple[str, float]], dropped: list[str]) -> None:
        """From the gate: runs now running in the store, for the pool at their instant; and
        runs that will not start here (recorded why, or left queued for the next leader)."""
        items = []
        with self._lock:
            active, counts = self._active, self._started_per_job
            for run_id, due in started:
                run = active.get(run_id)
                if run is not None:
                    run.started = True
                    counts[run.run.job_id] = counts.get(run.run.job_id, 0) + 1
                    items.append((functools.partial(self._execute, run), due))
        self._pool.submit_all(items)
        self._ended.extend(dropped)

    def outputs(self, running_for: float) -> list[tuple[str, OutputBuffer]]:
        """The output buffers of the runs whose code has been running here for at least
        `running_for` seconds (for a live view of their output), by run id."""
        since = time.monotonic() - running_for
        return [
            (run_id, active.output)
            for run_id, active in list(self._active.items())
            if active.output is not None and active.began <= since
        ]

    def cancel(self, run_ids: Iterable[str]) -> None:
        with self._lock:
            for run_id in run_ids:
                active = self._active.get(run_id)
                if active is not None:
                    active.cancelled = True
                    if active.cancel is not None:
                        active.cancel.set()

    def cancel_all(self) -> None:
        """Cancel every run here, but celery_task runs waiting for their task: stopping the
        scheduler must not revoke tasks on the Celery app's workers."""
        with self._lock:
            waiting = {
                run_id
                for run_id, active in self._active.items()
                if active.started and active.record.definition.kind is JobKind.CELERY_TASK
            }
        self.cancel(run_id for run_id in self.ids() if run_id not in waiting)

    def interrupt_all(self, reason: str) -> None:
        """Record every run still active as interrupted (they could not be stopped in time)."""
        now = self._clock()
        with self._lock:
            self._settle_locked()
            still = list(self._active.values())
        for active in still:
            self.interrupt(active.run, reason, now, active.record.definition)

    def interrupt(
        self, run: Run, reason: str, now: datetime, definition: JobDefinition | None = None
    ) -> None:
        """Record this node's `run` interrupted for `reason`; counted and logged as such.
        `definition`: its job as it is, whose channels are told of it and whose retry policy
        may try it again."""
        update = RunUpdate(
            run_id=run.id,
            status=RunStatus.INTERRUPTED,
            finished_at=now,
            reason=reason,
            owner=self._node_id,
            alerting=None if definition is None else definition.alerting,
        )
        if definition is not None:
            update = with_retry(update, definition, run)
        self._recorder.record(update)
        self._metrics.interrupted(run.job_id, run.id, reason, run=run)

    def _may_start_id(self, run_id: str, now: datetime) -> bool:
        active = self._active.get(run_id)  # a dict read is atomic; entries stay until settled
        if active is None:
            return False
        return active.run.scheduled_for is None or self._may_start(active, now)

    def _may_start(self, active: _Active, now: datetime) -> bool:
        """Whether a scheduled run, now that its time has come, may start; if not, its record
        says why: the job changed since a claim made ahead (`skipped`), or the run waited longer
        than the misfire grace, for a free worker or in a frozen process (`missed`). A fire
        claimed ahead runs the job as it is now."""
        current = self._judge(active.record, active.run, active.ahead, now)
        if current is None:
            return False
        active.record = current
        return True

    def _judge(self, record: JobRecord, run: Run, ahead: bool, now: datetime) -> JobRecord | None:
        """The job as it is now if its scheduled `run` may start; else None, recorded why."""
        if ahead:
            current = self._still_due(record, run)
            if isinstance(current, str):
                self.end_unstarted(run, RunStatus.SKIPPED, MissReason.JOB_CHANGED, current)
                return None
            record = current
        latest = run.last_scheduled_for or run.scheduled_for
        grace = record.definition.misfire_grace_time
        if latest is not None and (now - latest).total_seconds() > grace:
            why = f"it could not start within the {grace}s grace after its fire time"
            self.end_unstarted(
                run, RunStatus.MISSED, MissReason.OVERLOADED, why, record.definition.alerting
            )
            return None
        return record

    def end_unstarted(
        self,
        run: Run,
        status: RunStatus,
        reason: MissReason,
        message: str,
        alerting: Alerting | None = None,
    ) -> None:
        """Record that this node's queued `run` will not start (skipped or missed), and why;
        counted and logged as such. `alerting`: its job's channels, told of a miss."""
        self._recorder.record(
            RunUpdate(
                run_id=run.id,
                status=status,
                finished_at=self._clock(),
                reason=reason.value,
                error_message=message,
                owner=self._node_id,
                alerting=alerting,
            )
        )
        if status is RunStatus.MISSED:
            self._metrics.missed(
                run.job_id, run.fire_count, reason=reason.value, run_id=run.id, run=run
            )
        else:
            self._metrics.skipped(
                run.job_id, run.fire_count, reason=reason.value, run_id=run.id, run=run
            )

    def _execute(self, active: _Active) -> None:
        run, record = active.run, active.record
        # No lock: cancel() sets `cancelled` before it reads `cancel`, and this publishes `cancel`
        # before it reads `cancelled` (each step atomic under the GIL), so whichever runs second
        # sees the other's write and the Event ends up set.
        cancel = active.cancel = threading.Event()
        if active.cancelled:
            cancel.set()
        thread = threading.current_thread()
        pool_name = thread.name
        thread.name = run.manual_job_id or f"gnomon-run-{run.id[:8]}"
        lingering: threading.Event | None = None
        following = False
        try:
            record = active.record  # the job as it is now, for a fire claimed ahead
            alerting = record.definition.alerting
            leading = self._lease() is not None
            active.checked = True  # a stopping scheduler waits for this (wait_started_ahead)
            if not leading:
                # Moved to running just ahead of its time, but this node lost the lease since
                # (frozen, deposed, or stopping and it found no worker in time): it must not
                # run it now. Nobody else will either.
                why = "this node lost the scheduler lease just before the run's time"
                self.interrupt(run, why, self._clock(), record.definition)
                return
            trigger = record.trigger
            if run.scheduled_for is not None and trigger.get("type") == TriggerType.INTERVAL:
                jitter = trigger.get("jitter")
                if jitter:
                    cancel.wait(random.uniform(0, float(jitter)))  # noqa: S311
            if cancel.is_set():
                update = RunUpdate(
                    run_id=run.id,
                    status=RunStatus.CANCELLED,
                    finished_at=self._clock(),
                    error_type="Cancelled",
                    error_message="cancelled before it started",
                    owner=self._node_id,
                )
                self._report_end(run, update, executed=False)
                return
            started = self._clock()
            scheduled = run.scheduled_for
            self._metrics.fired(
                run.job_id,
                0.0 if scheduled is None else (started - scheduled).total_seconds(),
                run=run,
            )
            if record.definition.kind is JobKind.CELERY_TASK:
                # Here only, after the run's guarded start: its task is sent once (TaskRuns.send).
                following = self._tasks.send(record.definition, run, cancel, started)
                return
            output = OutputBuffer()
            active.began = time.monotonic()
            active.output = output
            try:
                outcome = run_job(
                    record.definition,
                    run,
                    cancel,
                    clock=self._clock,
                    store=self._store,
                    output=output,
                    started=started,
                )
            except BaseException as exc:
                # A worker thread never receives the operator's Ctrl-C (only the main thread
                # does): whatever reaches here came from the job, and is its failure.
                update = raised_update(
                    run.id,
                    exc,
                    started_at=started,
                    finished_at=self._clock(),
                    node=self._node_id,
                    alerting=alerting,
                )
            else:
                update = outcome.to_update(run.id, node=self._node_id, alerting=alerting)
                lingering = outcome.lingering
            self._report_end(run, with_retry(update, record.definition, run), executed=True)
        finally:
            thread.name = pool_name
            if following:
                pass  # its slot is held until the tracker ends it (TaskRuns releases it)
            elif lingering is None:
                self._ended.append(run.id)
            else:
                self._hold_slot(run, lingering)

    def _report_end(self, run: Run, update: RunUpdate, *, executed: bool) -> None:
        """Record how `run` ended, report it, and log it unless it succeeded. `executed`: its
        code ran (reported `fired`), so it has a duration."""
        self._recorder.record(update)
        duration = (run_duration(update) or 0.0) if executed else None
        self._metrics.finished(run.job_id, update.status.value, duration, run=run, update=update)
        log_run_end(run, update)

    def _hold_slot(self, run: Run, lingering: threading.Event) -> None:
        """A timed-out callable still runs in its thread (threads cannot be killed): the run
        keeps its max_instances slot here until that thread ends, so its next fire is skipped
        rather than started beside it."""
        log.warning(
            "run %s of job %s timed out but its thread still runs; the job's next fires here "
            "are skipped until it ends",
            run.id,
            run.job_id,
        )

        def release() -> None:
            lingering.wait()
            self._ended.append(run.id)

        threading.Thread(target=release, name=f"gnomon-slot-{run.id[:8]}", daemon=True).start()
