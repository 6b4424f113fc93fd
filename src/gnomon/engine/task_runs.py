"""The celery_task runs of this process: each run's task sent once, from the run's worker after its
guarded start, and the run ended when its task's outcome is known (celery_tasks.py).

ActiveRuns (runs.py) owns one and keeps the runs' bookkeeping: their slots, how an end is
recorded and reported. This class owns the sender and the tracker, and ends runs only through
the callbacks ActiveRuns gives it.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import datetime

from gnomon.domain import JobDefinition, Run, RunStatus, RunUpdate
from gnomon.engine.celery_tasks import (
    CeleryTasks,
    TaskSender,
    TaskTracker,
    not_tracked_update,
    send_failed_update,
    task_tracking,
    task_update,
)
from gnomon.engine.retries import with_retry


class TaskRuns:
    """Sends celery_task runs' tasks and ends the runs as their tasks end."""

    def __init__(
        self,
        tasks: CeleryTasks | None,
        *,
        node_id: str,
        clock: Callable[[], datetime],
        report_end: Callable[[Run, RunUpdate], None],
        release: Callable[[str], None],
    ) -> None:
        """`tasks`: where the tasks are sent, and their outcomes read (None: the runs fail,
        saying there is no broker). `report_end(run, update)`: records, reports and logs how a
        run ended (its code counted as executed). `release(run_id)`: a followed run has ended,
        its slot is free."""
        self._node_id = node_id
        self._clock = clock
        self._report_end = report_end
        self._release = release
        self._sender: TaskSender | None = None
        self._tracker: TaskTracker | None = None
        if tasks is not None:
            self._sender, self._tracker = task_tracking(tasks, finish=self._finish, clock=clock)

    def start(self) -> None:
        """Start following tasks' outcomes (again: only the threads that are not running)."""
        if self._tracker is not None:
            self._tracker.start()

    def alive(self) -> bool:
        """Whether the tracker's threads run (True when outcomes are not followed)."""
        return self._tracker is None or self._tracker.alive()

    def close(self) -> None:
        """Close the sender's connection to the broker."""
        if self._sender is not None:
            self._sender.close()

    def following(self) -> int:
        """How many celery_task runs wait for their task's outcome."""
        return 0 if self._tracker is None else self._tracker.count()

    def stop_following(self) -> list[Run]:
        """Stop following tasks' outcomes; the runs still waiting for one, for the caller to
        record (their tasks were sent and may still finish: none is revoked)."""
        return [] if self._tracker is None else self._tracker.stop()

    def send(
        self, definition: JobDefinition, run: Run, cancel: threading.Event, started: datetime
    ) -> bool:
        """Send a celery_task run's task, once: this runs only after the run's guarded start,
        so a node lost before this line leaves the run for the orphan check (interrupted),
        never for a second send. True when the tracker now follows its outcome; otherwise the
        run has ended here."""
        if self._sender is None:
            update = task_update(
                run,
                RunStatus.FAILED,
                started,
                self._clock(),
                output="",
                error_type="BrokerNotConfigured",
                error_message='kind "celery_task" needs [celery] broker_url: this scheduler has '
                "no broker to send the task to",
            )
        else:
            try:
                self._sender.send(definition, run)
            except Exception as exc:
                update = send_failed_update(run, exc, started, self._clock())
            else:
                note = f"celery: sent {definition.task} to queue {definition.queue!r}"
                note += f" as task {run.id}"
                if self._tracker is not None:
                    self._tracker.follow(run, definition, cancel, started, note)
                    return True
                update = not_tracked_update(run, started, self._clock(), note)
        self._end(run, definition, update)
        return False

    def _finish(self, run: Run, definition: JobDefinition, update: RunUpdate) -> None:
        """From the tracker: a followed task ended (or was cancelled or timed out)."""
        try:
            self._end(run, definition, update)
        finally:
            self._release(run.id)

    def _end(self, run: Run, definition: JobDefinition, update: RunUpdate) -> None:
        update = dataclasses.replace(
            update, node=self._node_id, owner=self._node_id, alerting=definition.alerting
        )
        self._report_end(run, with_retry(update, definition, run))
