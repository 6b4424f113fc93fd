"""Run events for an application embedding gnomon: `gnomon.Scheduler.add_listener`.

A listener is told when a run of this process starts, finishes or fails, and when fire times
are recorded missed or skipped here. The events come from the hooks the scheduler reports its
work to (engine/observe.py, the same ones the Prometheus metrics count): `EventHooks` is such a
hooks object, put in front of the metrics. It only queues an event (and only one some listener
wants), so the scheduler never waits for a listener: one thread of its own calls the
listeners, one event at a time, in the order they happened. A listener that raises is logged
(logger ``gnomon.events``) and the others are still called.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Flag, auto

from gnomon.domain import MissReason, Run, RunStatus, RunUpdate
from gnomon.engine.observe import EngineMetricsProtocol, NullMetrics

log = logging.getLogger(__name__)


class Events(Flag):
    """What a listener is told about; combine with ``|``."""

    #: A run began executing its target or command.
    STARTED = auto()
    #: A run ended `succeeded`, or `cancelled` on request.
    FINISHED = auto()
    #: A run ended `failed` or `timed_out`, or was recorded `interrupted` (its node stopped or
    #: was lost: then told where that was recorded).
    FAILED = auto()
    #: Fire times were recorded `missed`: too late to run within the job's misfire grace.
    MISSED = auto()
    #: Fire times were recorded `skipped`: the job had max_instances runs going (or changed
    #: after its fire was claimed).
    SKIPPED = auto()
    ENDED = FINISHED | FAILED
    ALL = STARTED | FINISHED | FAILED | MISSED | SKIPPED


_FAILURES = frozenset({RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.INTERRUPTED})


@dataclass(frozen=True)
class RunEvent:
    """One thing that happened to a run."""

    #: Which of Events.STARTED, FINISHED, FAILED, MISSED, SKIPPED.
    kind: Events
    job_id: str
    #: The run's id (None only where the scheduler did not know it).
    run_id: str | None
    #: RUNNING for STARTED; the final status otherwise.
    status: RunStatus
    #: The fire time (UTC) the run is for; None for a manual run.
    scheduled_for: datetime | None
    #: The error message of a run that failed (or why it was interrupted, missed or skipped).
    error: str | None = None
    #: The exception's type as the run records it ("ValueError", "myapp.errors.SyncFailed";
    #: "Timeout" for a run that timed out).
    error_type: str | None = None
    traceback: str | None = None
    #: A MissReason value for MISSED and SKIPPED; what interrupted it for an interrupted run.
    reason: str | None = None
    #: Fire times the record stands for (several when coalesced or missed together).
    fire_count: int = 1


Listener = Callable[[RunEvent], object]

_STOP = object()


class EventHooks(NullMetrics):
    """Scheduler hooks that hand run events to listeners, then to `inner` (other metrics)."""

    def __init__(self, inner: EngineMetricsProtocol | None = None) -> None:
        self.inner: EngineMetricsProtocol = inner or NullMetrics()
        self._lock = threading.Lock()
        self._listeners: list[tuple[Listener, Events]] = []
        self._wanted = Events(0)
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    # --- listeners -------------------------------------------------------------------------

    def add_listener(self, listener: Listener, events: Events = Events.ALL) -> None:
        if not callable(listener):
            raise TypeError(f"a listener must be callable, not {listener!r}")
        if not isinstance(events, Events):
            raise TypeError(f"events must be gnomon.Events flags, not {events!r}")
        with self._lock:
            self._listeners = [*self._listeners, (listener, events)]
            self._wanted |= events
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._deliver, name="gnomon-events", daemon=True
                )
                self._thread.start()

    def remove_listener(self, listener: Listener) -> None:
        """Stop telling `listener` (every registration of it); unknown ones are ignored."""
        with self._lock:
            self._listeners = [(f, e) for f, e in self._listeners if f != listener]
            wanted = Events(0)
            for _, events in self._listeners:
                wanted |= events
            self._wanted = wanted

    def close(self, timeout: float = 10.0) -> None:
        """Deliver the events queued so far, then stop the delivering thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout)

    def _deliver(self) -> None:
        while True:
            event = self._queue.get()
            if event is _STOP:
                return
            assert isinstance(event, RunEvent)
            for listener, events in self._listeners:  # replaced whole, never changed in place
                if event.kind & events:
                    try:
                        listener(event)
                    except Exception:
                        log.exception(
                            "listener %r failed on %s of run %s of job %s",
                            listener,
                            event.kind.name,
                            event.run_id,
                            event.job_id,
                        )

    def _tell(self, event: RunEvent) -> None:
        self._queue.put(event)

    # --- the scheduler's hooks -------------------------------------------------------------

    def fired(self, job_id: str, lateness_s: float, *, run: Run | None = None) -> None:
        self.inner.fired(job_id, lateness_s, run=run)
        if self._wanted & Events.STARTED and run is not None:
            self._tell(
                RunEvent(
                    Events.STARTED,
                    job_id,
                    run.id,
                    RunStatus.RUNNING,
                    run.scheduled_for,
                    fire_count=run.fire_count,
                )
            )

    def finished(
        self,
        job_id: str,
        status: str,
        duration_s: float | None = None,
        *,
        run: Run | None = None,
        update: RunUpdate | None = None,
    ) -> None:
        self.inner.finished(job_id, status, duration_s, run=run, update=update)
        if not self._wanted & Events.ENDED:
            return
        final = RunStatus(status)
        kind = Events.FAILED if final in _FAILURES else Events.FINISHED
        if self._wanted & kind:
            self._tell(
                RunEvent(
                    kind,
                    job_id,
                    None if run is None else run.id,
                    final,
                    None if run is None else run.scheduled_for,
                    error=None if update is None else update.error_message,
                    error_type=None if update is None else update.error_type,
                    traceback=None if update is None else update.traceback,
                    reason=None if update is None else update.reason,
                    fire_count=1 if run is None else run.fire_count,
                )
            )

    def missed(
        self,
        job_id: str,
        count: int,
        *,
        reason: str | None = None,
        run_id: str | None = None,
        run: Run | None = None,
    ) -> None:
        self.inner.missed(job_id, count, reason=reason, run_id=run_id, run=run)
        if self._wanted & Events.MISSED:
            self._tell(self._not_run(Events.MISSED, job_id, count, reason, run_id, run))

    def skipped(
        self,
        job_id: str,
        count: int,
        *,
        reason: str = MissReason.MAX_INSTANCES.value,
        run_id: str | None = None,
        run: Run | None = None,
    ) -> None:
        self.inner.skipped(job_id, count, reason=reason, run_id=run_id, run=run)
        if self._wanted & Events.SKIPPED:
            self._tell(self._not_run(Events.SKIPPED, job_id, count, reason, run_id, run))

    def interrupted(self, job_id: str, run_id: str, reason: str, *, run: Run | None = None) -> None:
        self.inner.interrupted(job_id, run_id, reason, run=run)
        if self._wanted & Events.FAILED:
            self._tell(
                RunEvent(
                    Events.FAILED,
                    job_id,
                    run_id,
                    RunStatus.INTERRUPTED,
                    None if run is None else run.scheduled_for,
                    error=reason,
                    reason=reason,
                    fire_count=1 if run is None else run.fire_count,
                )
            )

    @staticmethod
    def _not_run(
        kind: Events,
        job_id: str,
        count: int,
        reason: str | None,
        run_id: str | None,
        run: Run | None,
    ) -> RunEvent:
        return RunEvent(
            kind,
            job_id,
            run_id if run_id is not None or run is None else run.id,
            RunStatus.MISSED if kind is Events.MISSED else RunStatus.SKIPPED,
            None if run is None else run.scheduled_for,
            error=None if run is None else run.error_message,
            reason=str(reason) if reason is not None else None,
            fire_count=count,
        )

    def retried(self, retry: Run) -> None:
        self.inner.retried(retry)

    def refused(self, status: str, count: int) -> None:
        self.inner.refused(status, count)

    def thread_restarted(self, thread: str) -> None:
        self.inner.thread_restarted(thread)

    def set_leader(self, is_leader: bool) -> None:
        self.inner.set_leader(is_leader)

    def set_broker_up(self, up: bool) -> None:
        self.inner.set_broker_up(up)

    def set_queue_depth(self, depth: int) -> None:
        self.inner.set_queue_depth(depth)
