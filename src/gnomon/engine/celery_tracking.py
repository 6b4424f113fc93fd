"""Following sent celery_task runs to their task's outcome: one thread (TaskTracker) that ends
each run when its task ends, is cancelled, or times out; what tells it a task's state is an
outcome source, the Celery app's result backend (celery_results.py) or its workers' events
(celery_events.py).

Every run followed ends through `finish` (the runs' recorder path: the store's guarded update,
which never moves a run out of a final status), once: the first of its outcome, its cancel and
its deadline wins. A job's `timeout` bounds the wait: past it the task is revoked and the run
`timed_out`; without one, FOLLOW_LIMIT does. A cancel request revokes the task and ends the run
`cancelled`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from gnomon.domain import JobDefinition, Run, RunStatus, RunUpdate

log = logging.getLogger(__name__)

#: How often the tracker looks at the tasks it follows.
POLL_INTERVAL = 0.5
#: How long a run waits for its task's outcome when its job sets no `timeout`: a task whose
#: outcome never comes (its result ignored, no worker on its queue, a backend it does not
#: write to, a worker sending no events) must not hold its job's max_instances slot for ever.
FOLLOW_LIMIT = 24 * 3600.0

#: Called with a run, its job and its final update (the tracker's only way to end a run).
Finish = Callable[[Run, JobDefinition, RunUpdate], None]


@dataclass
class Followed:
    """A run whose task was sent, waiting for the task's outcome; `notes` become its output."""

    run: Run
    definition: JobDefinition
    cancel: threading.Event
    started_at: datetime
    deadline: float  # time.monotonic() past which it is timed out
    notes: list[str] = field(default_factory=list)
    last_state: str = "PENDING"
    #: What told the last RETRY seen apart: its retry count (if stored) and exception.
    last_retry: tuple[Any, str] | None = None
    retries_seen: int = 0


@dataclass(frozen=True)
class Outcome:
    """How a followed task ended, as its source saw it (finished_at None: not known)."""

    status: RunStatus
    finished_at: datetime | None = None
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None


class OutcomeSource(Protocol):
    """Where the tracker learns how tasks end."""

    #: Added to the message of a run whose task gave no outcome in time: where it would have
    #: come from.
    missing_hint: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def alive(self) -> bool: ...

    def expect(self, task_id: str) -> bool:
        """Called just before the task is sent: True when its outcome can be seen from then."""
        ...

    def observe(self, waiting: list[Followed]) -> Iterable[tuple[Followed, Outcome]]:
        """Note what is new about the tasks of `waiting` (in their notes); the ones that ended,
        with their outcome."""
        ...

    def forget(self, task_id: str) -> None:
        """The task's run ended: nothing more about it is wanted."""
        ...


class TaskTracker:
    """Follows sent tasks until they end, from one thread; ends their runs."""

    def __init__(
        self,
        source: OutcomeSource,
        *,
        finish: Finish,
        revoke: Callable[[str], None],
        clock: Callable[[], datetime],
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self.source = source
        self._finish = finish
        self._revoke = revoke
        self._clock = clock
        self._poll_interval = poll_interval
        self._lock = threading.Lock()
        self._followed: dict[str, Followed] = {}
        self._unheard: set[str] = set()  # tasks sent while their outcome could not be seen
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start following (again: only the threads that are not running)."""
        self._stopping.clear()
        if not self.source.alive():
            self.source.start()
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._loop, name="gnomon-celery-tasks", daemon=True
            )
            self._thread.start()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self.source.alive()

    def stop(self) -> list[Run]:
        """Stop following; the runs still followed (not ended) are returned."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.source.stop()
        with self._lock:
            left = [followed.run for followed in self._followed.values()]
            self._followed.clear()
        return left

    def expect(self, task_id: str) -> None:
        """Called just before the task of a run is sent (TaskSender)."""
        if not self.source.expect(task_id):
            with self._lock:
                self._unheard.add(task_id)

    def follow(
        self,
        run: Run,
        definition: JobDefinition,
        cancel: threading.Event,
        started_at: datetime,
        note: str,
    ) -> None:
        """Follow the task of `run`, sent at `started_at`, until it ends (or its timeout)."""
        limit = FOLLOW_LIMIT if definition.timeout is None else definition.timeout
        deadline = time.monotonic() + limit
        notes = [note]
        with self._lock:
            if run.id in self._unheard:
                self._unheard.discard(run.id)
                notes.append(
                    "celery: sent while the tracker could not listen to the Celery app (see "
                    "the log): the task's outcome may be missed"
                )
            self._followed[run.id] = Followed(run, definition, cancel, started_at, deadline, notes)

    def count(self) -> int:
        with self._lock:
            return len(self._followed)

    def _loop(self) -> None:
        while not self._stopping.wait(self._poll_interval):
            try:
                self.poll()
            except Exception:  # the source, most likely: the next pass looks again
                log.exception("could not read the Celery tasks' states; trying again")

    def poll(self) -> None:
        """One pass: end the runs whose tasks ended, were cancelled or timed out."""
        with self._lock:
            followed_now = list(self._followed.values())
        now = time.monotonic()
        waiting: list[Followed] = []
        for followed in followed_now:  # every run, however many: cancel and timeout are due
            if followed.cancel.is_set():
                self._stop_task(followed, RunStatus.CANCELLED)
            elif now >= followed.deadline:
                self._stop_task(followed, RunStatus.TIMED_OUT)
            else:
                waiting.append(followed)
        for followed, outcome in self.source.observe(waiting):
            self._end(
                followed,
                self._update(
                    followed,
                    outcome.status,
                    outcome.finished_at or self._clock(),
                    error_type=outcome.error_type,
                    error_message=outcome.error_message,
                    traceback=outcome.traceback,
                ),
            )

    def _stop_task(self, followed: Followed, status: RunStatus) -> None:
        try:
            self._revoke(followed.run.id)
            revoked = "revoke sent to the Celery workers (a task already running finishes)"
        except Exception as exc:
            revoked = f"could not send the revoke ({exc})"
        if status is RunStatus.CANCELLED:
            error_type, message = "Cancelled", f"cancelled: {revoked}"
        else:
            timeout = followed.definition.timeout
            error_type, hint = "Timeout", self.source.missing_hint
            if timeout is None:
                message = (
                    f"no outcome of the task within {FOLLOW_LIMIT / 3600:g} h, the longest a "
                    f"celery_task job without a timeout is followed{hint}; {revoked}"
                )
            else:
                message = (
                    f"the task did not end within its timeout of {timeout:g}s{hint}; {revoked}"
                )
        self._end(
            followed,
            self._update(
                followed, status, self._clock(), error_type=error_type, error_message=message
            ),
        )

    def _update(
        self,
        followed: Followed,
        status: RunStatus,
        finished: datetime,
        *,
        error_type: str | None = None,
        error_message: str | None = None,
        traceback: str | None = None,
    ) -> RunUpdate:
        return task_update(
            followed.run,
            status,
            followed.started_at,
            finished,
            output="\n".join(followed.notes) + "\n",
            error_type=error_type,
            error_message=error_message,
            traceback=traceback,
        )

    def _end(self, followed: Followed, update: RunUpdate) -> None:
        with self._lock:
            if self._followed.pop(followed.run.id, None) is None:
                return
        self.source.forget(followed.run.id)
        self._finish(followed.run, followed.definition, update)


def task_update(
    run: Run,
    status: RunStatus,
    started_at: datetime,
    finished_at: datetime,
    *,
    output: str,
    error_type: str | None = None,
    error_message: str | None = None,
    traceback: str | None = None,
    reason: str | None = None,
) -> RunUpdate:
    """The final update of a celery_task run (node and owner are the caller's to add)."""
    duration = max(0, round((finished_at - started_at).total_seconds() * 1000))
    return RunUpdate(
        run_id=run.id,
        status=status,
        started_at=started_at,
        finished_at=finished_at,
        duration_ms=duration,
        error_type=error_type,
        error_message=error_message,
        traceback=traceback,
        output=output,
        reason=reason,
    )
