"""Jobs that drive an existing Celery app (`kind = "celery_task"`): the task sent by name, once per
run, and its outcome followed through the app's result backend.

The leader sends a run's task from the worker thread that executes the run, so only after the
run was moved to running by the store's guarded start (starts.py): a node that dies between the
start and the send leaves the run `running` on a node gone, which the orphan check records
`interrupted`; a run is never sent twice. The task id is the run id, so the run and the task
name each other.

With a result backend, one thread (TaskTracker) reads the states of every task being followed,
in one request per pass on key-value backends such as Redis (at most MAX_PER_PASS tasks a pass),
and ends each run when its task ends: SUCCESS → succeeded (the result, shortened, in the output),
FAILURE → failed (exception type, message, traceback), REVOKED → cancelled. RETRY is noted in
the output as it is seen (and the count Celery stores with `result_extended`). A job's
`timeout` bounds the wait: past it the task is revoked and the run `timed_out`; a cancel
request revokes it and ends the run `cancelled`. Without a result backend the run ends as soon
as the task is sent, `succeeded` with reason OUTCOME_NOT_TRACKED, saying so: gnomon never claims
an outcome it does not know.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback as tb
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gnomon.domain import OUTCOME_NOT_TRACKED, JobDefinition, Run, RunStatus, RunUpdate
from gnomon.engine.celery_app import new_app
from gnomon.engine.executors.base import error_type_name
from gnomon.engine.executors.environment import job_args, job_kwargs

log = logging.getLogger(__name__)

#: How often the tracker reads the states of the tasks it follows.
POLL_INTERVAL = 0.5
#: The most task states read in one pass (the next pass reads the next ones, in turn).
MAX_PER_PASS = 1000
#: How long a run waits for its task's outcome when its job sets no `timeout`: a task whose
#: outcome never comes (its result ignored, no worker on its queue, a backend it does not
#: write to) must not hold its job's max_instances slot for ever.
FOLLOW_LIMIT = 24 * 3600.0
#: A task's result, as shown in its run's output, is cut to this many characters.
RESULT_SUMMARY = 1000

#: Called with a run, its job and its final update (the tracker's only way to end a run).
Finish = Callable[[Run, JobDefinition, RunUpdate], None]


@dataclass(frozen=True)
class CeleryTasks:
    """Where celery_task jobs' tasks go: the Celery app's broker, and its result backend
    (None: outcomes are not tracked). `env`: where secret references in their args and kwargs
    are resolved."""

    broker_url: str
    result_backend: str | None
    env: Mapping[str, str]


def task_app(broker_url: str, result_backend: str | None = None) -> Any:
    """A Celery app on the user's broker (and result backend) with Celery's own defaults, so
    that tasks go where the user's app would send them (queue "celery" unless told). Raises
    ConfigInvalid when Celery is not installed."""
    return new_app(
        "gnomon-tasks", broker_url, needed_by='kind "celery_task"', result_backend=result_backend
    )


class TaskSender:
    """Sends celery_task runs' tasks by name to the broker; revokes them."""

    def __init__(self, broker_url: str, env: Mapping[str, str]) -> None:
        # Sending only: with a backend, Celery would subscribe to every sent task's result.
        self._app = task_app(broker_url)
        self._env = env

    def send(self, definition: JobDefinition, run: Run) -> None:
        """Send the task of `run` (task id: the run id); raises when the broker did not take
        it, or a secret its arguments reference cannot be resolved (SecretUnavailable)."""
        self._app.send_task(
            definition.task,
            args=job_args(definition, self._env),
            kwargs=job_kwargs(definition, self._env),
            task_id=run.id,
            queue=definition.queue,
            retry=False,
            **definition.task_options,
        )

    def revoke(self, task_id: str) -> None:
        """Ask the app's workers not to run the task (one already running finishes)."""
        self._app.control.revoke(task_id)

    def close(self) -> None:
        self._app.close()


@dataclass
class _Followed:
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


class TaskTracker:
    """Follows sent tasks' states in the result backend from one thread; ends their runs."""

    def __init__(
        self,
        result_backend: str,
        broker_url: str,
        *,
        finish: Finish,
        revoke: Callable[[str], None],
        clock: Callable[[], datetime],
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self._backend = task_app(broker_url, result_backend).backend
        self._finish = finish
        self._revoke = revoke
        self._clock = clock
        self._poll_interval = poll_interval
        self._lock = threading.Lock()
        self._followed: dict[str, _Followed] = {}
        self._turn = 0  # where the next pass starts reading states, among those followed
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="gnomon-celery-tasks", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> list[Run]:
        """Stop following; the runs still followed (not ended) are returned."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            left = [followed.run for followed in self._followed.values()]
            self._followed.clear()
        return left

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
        with self._lock:
            self._followed[run.id] = _Followed(
                run, definition, cancel, started_at, deadline, [note]
            )

    def count(self) -> int:
        with self._lock:
            return len(self._followed)

    def _loop(self) -> None:
        while not self._stopping.wait(self._poll_interval):
            try:
                self.poll()
            except Exception:  # the backend, most likely: the next pass reads again
                log.exception("could not read the Celery result backend; trying again")

    def poll(self) -> None:
        """One pass: end the runs whose tasks ended, were cancelled or timed out."""
        with self._lock:
            followed_now = list(self._followed.values())
        now = time.monotonic()
        waiting: list[_Followed] = []
        for followed in followed_now:  # every run, however many: cancel and timeout are due
            if followed.cancel.is_set():
                self._stop_task(followed, RunStatus.CANCELLED)
            elif now >= followed.deadline:
                self._stop_task(followed, RunStatus.TIMED_OUT)
            else:
                waiting.append(followed)
        if not waiting:
            return
        # States are read MAX_PER_PASS at a time, each pass going on where the last stopped.
        start = self._turn % len(waiting)
        batch = (waiting[start:] + waiting[:start])[:MAX_PER_PASS]
        self._turn = start + len(batch)
        metas = read_states(self._backend, [f.run.id for f in batch])
        for followed, meta in zip(batch, metas, strict=True):
            update = self._observe(followed, meta)
            if update is not None:
                self._end(followed, update)

    def _observe(self, followed: _Followed, meta: Mapping[str, Any]) -> RunUpdate | None:
        """Note what the task's state says; the run's final update once it has ended."""
        from celery import states  # type: ignore[import-untyped]

        state = str(meta.get("status") or states.PENDING)
        retries = meta.get("retries")
        if state == states.RETRY:
            # Several RETRY states in a row are told apart by the retry count Celery stores
            # with result_extended; without it, by a state seen in between.
            reason = _exception_text(meta.get("result"))
            seen = (retries, reason)
            if followed.last_state != state or (
                retries is not None and seen != followed.last_retry
            ):
                followed.retries_seen += 1
                followed.notes.append(f"celery: retry {followed.retries_seen} ({reason})")
            followed.last_retry = seen
        elif state != followed.last_state and state not in states.READY_STATES:
            followed.notes.append(f"celery: {state.lower()}")
        followed.last_state = state
        if state not in states.READY_STATES:
            return None
        if isinstance(retries, int) and retries > 0:
            followed.notes.append(f"celery: retried {retries} time(s) before this outcome")
        finished = _date_done(meta.get("date_done"), followed.started_at) or self._clock()
        if state == states.SUCCESS:
            followed.notes.append(f"result: {_summary(meta.get('result'))}")
            return self._update(followed, RunStatus.SUCCEEDED, finished)
        if state == states.REVOKED:
            return self._update(
                followed,
                RunStatus.CANCELLED,
                finished,
                error_type="Revoked",
                error_message="the task was revoked in Celery",
            )
        error_type, message = _exception(meta.get("result"))
        followed.notes.append(f"celery: {state.lower()}")
        return self._update(
            followed,
            RunStatus.FAILED,
            finished,
            error_type=error_type,
            error_message=message,
            traceback=meta.get("traceback"),
        )

    def _stop_task(self, followed: _Followed, status: RunStatus) -> None:
        try:
            self._revoke(followed.run.id)
            revoked = "revoke sent to the Celery workers (a task already running finishes)"
        except Exception as exc:
            revoked = f"could not send the revoke ({exc})"
        if status is RunStatus.CANCELLED:
            error_type, message = "Cancelled", f"cancelled: {revoked}"
        else:
            timeout = followed.definition.timeout
            error_type = "Timeout"
            if timeout is None:
                message = (
                    f"no outcome of the task within {FOLLOW_LIMIT / 3600:g} h, the longest a "
                    f"celery_task job without a timeout is followed; {revoked}"
                )
            else:
                message = f"the task did not end within its timeout of {timeout:g}s; {revoked}"
        self._end(
            followed,
            self._update(
                followed, status, self._clock(), error_type=error_type, error_message=message
            ),
        )

    def _update(
        self,
        followed: _Followed,
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

    def _end(self, followed: _Followed, update: RunUpdate) -> None:
        with self._lock:
            if self._followed.pop(followed.run.id, None) is None:
                return
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


def not_tracked_update(
    run: Run, started_at: datetime, finished_at: datetime, note: str
) -> RunUpdate:
    """A run whose task was sent while no result backend is configured: its outcome is not
    known, and the record says so rather than claiming one."""
    return task_update(
        run,
        RunStatus.SUCCEEDED,
        started_at,
        finished_at,
        output=note + "\n",
        reason=OUTCOME_NOT_TRACKED,
        error_message=(
            "outcome not tracked: sent to the broker; set [celery] result_backend to follow "
            "the task's outcome"
        ),
    )


def send_failed_update(
    run: Run, exc: BaseException, started_at: datetime, finished_at: datetime
) -> RunUpdate:
    """A run whose task could not be sent: failed, with why; or, when the send timed out (the
    broker may have taken the task all the same), interrupted, which is never retried: a retry
    could send the task a second time."""
    if _send_may_have_happened(exc):
        status = RunStatus.INTERRUPTED
        message = f"the send to the broker timed out; the task may have been sent: {exc}"
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
    """Whether a send that raised `exc` may still have reached the broker: it timed out (a
    reply or a publisher confirm that did not come in time), rather than failing to connect."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TimeoutError) or "timeout" in type(current).__name__.lower():
            return True
        current = current.__cause__ or current.__context__
    return False


def read_states(backend: Any, task_ids: list[str]) -> list[Mapping[str, Any]]:
    """The stored state of each task, as the backend holds it ({"status": "PENDING"} when it
    holds none). Key-value backends (Redis, …) are read in one request, and their exceptions
    are left as the stored type and message: nothing of the user's app is imported or built."""
    from celery.backends.base import BaseKeyValueStoreBackend  # type: ignore[import-untyped]

    if isinstance(backend, BaseKeyValueStoreBackend):
        keys = [backend.get_key_for_task(task_id) for task_id in task_ids]
        raws = backend.mget(keys) if len(keys) > 1 else [backend.get(keys[0])]
        return [backend.decode(raw) if raw else {"status": "PENDING"} for raw in raws]
    return [backend.get_task_meta(task_id) for task_id in task_ids]


def _exception(stored: Any) -> tuple[str, str]:
    """(type, message) of a failed task's stored exception."""
    if isinstance(stored, BaseException):
        return error_type_name(stored), str(stored)
    if isinstance(stored, Mapping):
        module, name = stored.get("exc_module"), str(stored.get("exc_type") or "Exception")
        message = stored.get("exc_message")
        if isinstance(message, list | tuple):
            message = ", ".join(str(part) for part in message)
        full = name if module in (None, "builtins") else f"{module}.{name}"
        return full, str(message or "")
    return "Exception", str(stored)


def _exception_text(stored: Any) -> str:
    error_type, message = _exception(stored)
    return f"{error_type}: {message}" if message else error_type


def _summary(result: Any) -> str:
    try:
        text = json.dumps(result, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        text = repr(result)
    return text if len(text) <= RESULT_SUMMARY else text[: RESULT_SUMMARY - 1] + "…"


def _date_done(value: Any, started_at: datetime) -> datetime | None:
    """The task's end as the backend stored it, if readable and not before the send."""
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return when if when >= started_at else None
