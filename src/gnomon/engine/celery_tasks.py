"""Jobs that drive an existing Celery app (`kind = "celery_task"`): the task sent by name, once per
run, and its outcome followed as [celery] track says.

The leader sends a run's task from the worker thread that executes the run (task_runs.py), so
only after the run was moved to running by the store's guarded start (starts.py): a node that
dies between the start and the send leaves the run `running` on a node gone, which the orphan
check records `interrupted`; a run is never sent twice. The task id is the run id, so the run
and the task name each other.

Its outcome is then followed (celery_tracking.py) through the app's result backend
(celery_results.py) or its workers' events (celery_events.py). Not followed, the run ends as
soon as the task is sent, `succeeded` with reason OUTCOME_NOT_TRACKED, saying so: gnomon never
claims an outcome it does not know.
"""

from __future__ import annotations

import traceback as tb
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gnomon.domain import (
    OUTCOME_NOT_TRACKED,
    JobDefinition,
    Run,
    RunStatus,
    RunUpdate,
    TaskTracking,
)
from gnomon.engine.celery_app import (
    SEND_TIMEOUT,
    forget_connection,
    new_app,
    reconnect_if_closed,
)
from gnomon.engine.celery_events import EventSource
from gnomon.engine.celery_results import ResultBackendSource
from gnomon.engine.celery_tracking import Finish, OutcomeSource, TaskTracker, task_update
from gnomon.engine.executors.base import error_type_name
from gnomon.engine.executors.environment import job_args, job_kwargs

__all__ = [
    "CeleryTasks",
    "SendNotMade",
    "SendUncertain",
    "TaskSender",
    "TaskTracker",
    "not_tracked_update",
    "send_failed_update",
    "task_app",
    "task_tracking",
    "task_update",
]


@dataclass(frozen=True)
class CeleryTasks:
    """Where celery_task jobs' tasks go: the Celery app's broker, its result backend (None:
    none is configured) and how their outcomes are followed ([celery] track). `env`: where
    secret references in their args and kwargs are resolved."""

    broker_url: str
    result_backend: str | None
    env: Mapping[str, str]
    track: TaskTracking = TaskTracking.AUTO

    @property
    def tracking(self) -> TaskTracking:
        """How outcomes are followed: RESULT_BACKEND, EVENTS or NONE."""
        return self.track.resolve(self.result_backend)


class SendNotMade(Exception):
    """A task was not sent: there was no connection to the broker to send it on."""


class SendUncertain(Exception):
    """A send failed after its message may have reached the broker (the connection was lost
    while waiting for the broker's word): the task may have been sent."""


def task_app(
    broker_url: str,
    result_backend: str | None = None,
    *,
    confirm: bool = True,
    send_timeout: float | None = None,
) -> Any:
    """A Celery app on the user's broker (and result backend) with Celery's own defaults, so
    that tasks go where the user's app would send them (queue "celery" unless told). `confirm`
    and `send_timeout`: see new_app. Raises ConfigInvalid when Celery is not installed."""
    return new_app(
        "gnomon-tasks",
        broker_url,
        needed_by='kind "celery_task"',
        result_backend=result_backend,
        confirm=confirm,
        send_timeout=send_timeout,
    )


class TaskSender:
    """Sends celery_task runs' tasks by name to the broker; revokes them."""

    def __init__(
        self,
        broker_url: str,
        env: Mapping[str, str],
        *,
        send_timeout: float = SEND_TIMEOUT,
    ) -> None:
        # Sending only: with a backend, Celery would subscribe to every sent task's result.
        self._app = task_app(broker_url, send_timeout=send_timeout)
        # Revokes: broadcasts no worker answers, sent with Celery's control API, which passes no
        # confirm timeout; sent waiting for no confirm, and on connections whose every read and
        # write is bounded, they cannot hold up the tracker's thread for good (it sends them and
        # follows every task besides).
        self._control_app = task_app(broker_url, confirm=False, send_timeout=send_timeout)
        self._env = env
        self._send_timeout = send_timeout
        from amqp.exceptions import MessageNacked  # type: ignore[import-untyped]
        from kombu.exceptions import EncodeError

        #: A task that could not be encoded, or one the broker answered with a nack.
        self._refusals: tuple[type[BaseException], ...] = (EncodeError, MessageNacked)
        #: Called with the task id just before each send (the tracker, to hear its events).
        self.before_send: Callable[[str], None] | None = None

    def send(self, definition: JobDefinition, run: Run) -> None:
        """Send the task of `run` (task id: the run id). Raises when the broker did not take it:
        SendNotMade when nothing was written (no connection to send on), SendUncertain when the
        send failed after the message may have reached the broker; SecretUnavailable when a
        secret its arguments reference cannot be resolved."""
        args = job_args(definition, self._env)
        kwargs = job_kwargs(definition, self._env)
        if self.before_send is not None:
            self.before_send(run.id)
        with self._app.producer_or_acquire() as producer:
            try:
                reconnect_if_closed(producer)
                producer.connection.ensure_connection(max_retries=0)
            except Exception as exc:
                raise SendNotMade(f"could not connect to the broker: {exc}") from exc
            try:
                self._app.send_task(
                    definition.task,
                    args=args,
                    kwargs=kwargs,
                    task_id=run.id,
                    queue=definition.queue,
                    retry=False,
                    producer=producer,
                    confirm_timeout=self._send_timeout,
                    **definition.task_options,
                )
            except self._refusals:
                raise  # refused before or when it reached the broker: not taken
            except Exception as exc:
                # Lost, or not confirmed in time: never send on that connection again.
                forget_connection(producer)
                raise SendUncertain(str(exc)) from exc

    def revoke(self, task_id: str) -> None:
        """Ask the app's workers not to run the task (one already running finishes); best
        effort, confirmed by no one. A revoke written into a pooled connection the broker has
        closed (it restarted since the last one) is lost without a word: the run's record says
        the revoke was sent, and the task, if a worker still has it, runs."""
        self._control_app.control.revoke(task_id)

    def close(self) -> None:
        self._app.close()
        self._control_app.close()


def task_tracking(
    tasks: CeleryTasks, *, finish: Finish, clock: Callable[[], datetime]
) -> tuple[TaskSender, TaskTracker | None]:
    """The sender of celery_task runs' tasks, and the tracker following their outcomes as
    `tasks.track` says (None: not followed)."""
    sender = TaskSender(tasks.broker_url, tasks.env)
    how = tasks.tracking
    source: OutcomeSource
    if how is TaskTracking.RESULT_BACKEND and tasks.result_backend is not None:
        source = ResultBackendSource(tasks.result_backend, tasks.broker_url)
    elif how is TaskTracking.EVENTS:
        source = EventSource(tasks.broker_url)
    else:
        return sender, None
    tracker = TaskTracker(source, finish=finish, revoke=sender.revoke, clock=clock)
    sender.before_send = tracker.expect
    return sender, tracker


def not_tracked_update(
    run: Run, started_at: datetime, finished_at: datetime, note: str
) -> RunUpdate:
    """A run whose task was sent while outcomes are not followed ([celery] track): its outcome
    is not known, and the record says so rather than claiming one."""
    return task_update(
        run,
        RunStatus.SUCCEEDED,
        started_at,
        finished_at,
        output=note + "\n",
        reason=OUTCOME_NOT_TRACKED,
        error_message=(
            "outcome not tracked: sent to the broker; set [celery] result_backend, or track "
            '= "events" with the workers started with -E, to follow the task\'s outcome'
        ),
    )


def send_failed_update(
    run: Run, exc: BaseException, started_at: datetime, finished_at: datetime
) -> RunUpdate:
    """A run whose task could not be sent: failed, with why; or, when the send failed after the
    task may have reached the broker (it timed out, or the connection was lost waiting for the
    broker's word), interrupted, which is never retried: a retry could send the task a second
    time."""
    if _send_may_have_happened(exc):
        status = RunStatus.INTERRUPTED
        message = (
            "the send failed or timed out after the task may have reached the broker; "
            f"the task may have been sent: {exc}"
        )
    else:
        status, message = RunStatus.FAILED, f"could not send the task to the broker: {exc}"
    return task_update(
        run,
        status,
        started_at,
        finished_at,
        output="",
        error_type=error_type_name(exc),
        error_message=message,
        traceback="".join(tb.format_exception(exc)),
    )


def _send_may_have_happened(exc: BaseException) -> bool:
    """Whether a send that raised `exc` may still have reached the broker: it failed once the
    message was being written (SendUncertain), or timed out (a reply or a publisher confirm that
    did not come in time), rather than failing to connect (SendNotMade)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, SendNotMade):
            return False  # failed connecting, before anything was written
        if isinstance(current, SendUncertain):
            return True
        if isinstance(current, TimeoutError) or "timeout" in type(current).__name__.lower():
            return True
        current = current.__cause__ or current.__context__
    return False
