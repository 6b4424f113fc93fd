"""Task outcomes read from the Celery app's result backend ([celery] track = "result_backend").

Each pass of the tracker reads the states of the tasks it follows, in one request on key-value
backends such as Redis (at most MAX_PER_PASS tasks a pass, the next pass going on where the last
stopped): SUCCESS → succeeded (the result, shortened, in the output), FAILURE → failed
(exception type, message, traceback), REVOKED → cancelled. RETRY is noted in the output as it
is seen (and the count Celery stores with `result_extended`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from gnomon.domain import RunStatus
from gnomon.engine.celery_app import new_app
from gnomon.engine.celery_tracking import Followed, Outcome
from gnomon.engine.executors.base import error_type_name

#: The most task states read in one pass (the next pass reads the next ones, in turn).
MAX_PER_PASS = 1000
#: A task's result, as shown in its run's output, is cut to this many characters.
RESULT_SUMMARY = 1000


class ResultBackendSource:
    """Reads followed tasks' states in the result backend."""

    missing_hint = ""

    def __init__(self, result_backend: str, broker_url: str) -> None:
        app = new_app(
            "gnomon-tasks",
            broker_url,
            needed_by='kind "celery_task"',
            result_backend=result_backend,
        )
        self._backend = app.backend
        self._turn = 0  # where the next pass starts reading states, among those waiting

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def alive(self) -> bool:
        return True

    def expect(self, task_id: str) -> bool:
        return True  # the backend keeps the state: none is missed

    def forget(self, task_id: str) -> None:
        pass

    def observe(self, waiting: list[Followed]) -> list[tuple[Followed, Outcome]]:
        if not waiting:
            return []
        # States are read MAX_PER_PASS at a time, each pass going on where the last stopped.
        start = self._turn % len(waiting)
        batch = (waiting[start:] + waiting[:start])[:MAX_PER_PASS]
        self._turn = start + len(batch)
        metas = read_states(self._backend, [f.run.id for f in batch])
        ended = []
        for followed, meta in zip(batch, metas, strict=True):
            outcome = _observe(followed, meta)
            if outcome is not None:
                ended.append((followed, outcome))
        return ended


def _observe(followed: Followed, meta: Mapping[str, Any]) -> Outcome | None:
    """Note what the task's state says; its outcome once it has ended."""
    from celery import states  # type: ignore[import-untyped]

    state = str(meta.get("status") or states.PENDING)
    retries = meta.get("retries")
    if state == states.RETRY:
        # Several RETRY states in a row are told apart by the retry count Celery stores
        # with result_extended; without it, by a state seen in between.
        reason = exception_text(meta.get("result"))
        seen = (retries, reason)
        if followed.last_state != state or (retries is not None and seen != followed.last_retry):
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
    finished = _date_done(meta.get("date_done"), followed.started_at)
    if state == states.SUCCESS:
        followed.notes.append(f"result: {result_summary(meta.get('result'))}")
        return Outcome(RunStatus.SUCCEEDED, finished)
    if state == states.REVOKED:
        return Outcome(
            RunStatus.CANCELLED,
            finished,
            error_type="Revoked",
            error_message="the task was revoked in Celery",
        )
    error_type, message = _exception(meta.get("result"))
    followed.notes.append(f"celery: {state.lower()}")
    return Outcome(
        RunStatus.FAILED,
        finished,
        error_type=error_type,
        error_message=message,
        traceback=meta.get("traceback"),
    )


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


def exception_text(stored: Any) -> str:
    error_type, message = _exception(stored)
    return f"{error_type}: {message}" if message else error_type


def result_summary(result: Any) -> str:
    """A task's result as its run's output shows it: JSON, cut to RESULT_SUMMARY characters."""
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
