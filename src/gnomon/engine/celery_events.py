"""Task outcomes heard from the Celery app's workers' events ([celery] track = "events"; the
workers started with `-E`, or `worker_send_task_events = True`).

One receiver thread listens on the broker's event exchange (Celery's own EventReceiver, with a
queue of its own that the broker deletes when it goes), from just before the first task this
node sends until nothing has been followed for IDLE_AFTER seconds: only the node that sends
tasks (the leader) listens, and it listens before its first send, so the events of a task sent
at once cannot come before the receiver does. Events are matched by task id, which is the run's
id: those of tasks no run here waits for are dropped on arrival.

task-received and task-started are noted in the run's output with the worker's name;
task-retried too, numbered as the result-backend path numbers retries; task-succeeded ends the
run succeeded (the result as the worker summarised it), task-failed failed (exception type,
message, traceback), task-revoked cancelled, task-rejected (not requeued) failed.

Events are not stored: those sent while the receiver is not connected (the broker restarting,
the connection lost: it reconnects with backoff), or by a worker started without `-E`, are
missed, and the run then waits until its job's timeout (FOLLOW_LIMIT without one) and ends
timed out, saying that no event came.
"""

from __future__ import annotations

import ast
import functools
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from gnomon.domain import RunStatus
from gnomon.engine.celery_app import new_app
from gnomon.engine.celery_results import RESULT_SUMMARY, result_summary
from gnomon.engine.celery_tracking import Followed, Outcome

log = logging.getLogger(__name__)

#: How long the first send waits for the receiver to be listening (it then sends all the same,
#: the run saying that its outcome may be missed).
LISTEN_WAIT = 5.0
#: The receiver disconnects after this many seconds with no task followed or sent.
IDLE_AFTER = 300.0
#: Events of a task about to be sent are kept this long for its run to be followed.
EXPECT_FOR = 60.0
#: Backoff between connection attempts, doubling from the first to the last.
RECONNECT_FIRST, RECONNECT_MAX = 1.0, 30.0
#: The task events acted on (others, task-sent included, are ignored).
TASK_EVENTS = frozenset(
    {
        "task-received",
        "task-started",
        "task-retried",
        "task-succeeded",
        "task-failed",
        "task-revoked",
        "task-rejected",
    }
)


class EventSource:
    """Hears followed tasks' events from the broker."""

    missing_hint = " (no event of its outcome came: are the Celery app's workers started with -E?)"

    def __init__(self, broker_url: str) -> None:
        self.app = new_app("gnomon-events", broker_url, needed_by='kind "celery_task"')
        self._lock = threading.Lock()
        # Tasks whose events are kept: id → when expected (math.inf once followed).
        self._wanted: dict[str, float] = {}
        self._heard: deque[tuple[str, Mapping[str, Any]]] = deque()
        self._held: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
        self._last_wanted = time.monotonic()
        self._want = threading.Event()  # the receiver should be connected
        self._listening = threading.Event()  # it is: events of tasks sent from now are heard
        self._failing = False  # its last connection attempt failed
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the tracker's side ----------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._receive, name="gnomon-celery-events", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._want.set()  # wakes the thread
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:  # nothing is followed any more: a later start begins idle
            self._wanted.clear()
            self._held.clear()
            self._heard.clear()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def expect(self, task_id: str) -> bool:
        with self._lock:
            self._wanted[task_id] = time.monotonic()
            self._last_wanted = time.monotonic()
            self._want.set()
            if self._listening.is_set():
                return True
            if self._failing:
                return False  # not waiting on a broker that does not answer
        return self._listening.wait(LISTEN_WAIT)

    def forget(self, task_id: str) -> None:
        with self._lock:
            self._wanted.pop(task_id, None)
            self._held.pop(task_id, None)

    def observe(self, waiting: list[Followed]) -> list[tuple[Followed, Outcome]]:
        by_id = {followed.run.id: followed for followed in waiting}
        now = time.monotonic()
        with self._lock:
            heard = list(self._heard)
            self._heard.clear()
            for task_id in by_id:
                self._wanted[task_id] = math.inf
            for task_id, since in list(self._wanted.items()):
                if now - since > EXPECT_FOR:  # expected, never followed: its send failed
                    del self._wanted[task_id]
                    self._held.pop(task_id, None)
            if self._wanted:
                self._last_wanted = now
            held = {task_id: self._held.pop(task_id) for task_id in by_id if task_id in self._held}
            for kind, event in heard:
                task_id = str(event.get("uuid"))
                if task_id in by_id:
                    held.setdefault(task_id, []).append((kind, event))
                elif task_id in self._wanted:  # heard before its run is followed
                    self._held.setdefault(task_id, []).append((kind, event))
        ended = []
        for task_id, events in held.items():
            followed = by_id[task_id]
            for kind, event in events:
                outcome = _apply(followed, kind, event)
                if outcome is not None:
                    ended.append((followed, outcome))
                    break
        return ended

    # --- the receiver thread -----------------------------------------------------------------

    def _receive(self) -> None:
        delay = RECONNECT_FIRST
        while not self._stopping.is_set():
            if not self._want.wait(1.0) or self._stopping.is_set():
                continue
            try:
                with self.app.connection_for_read() as connection:
                    receiver = _receiver_class()(self, connection)
                    for _ in receiver.consume(limit=None, safety_interval=0.5, wakeup=False):
                        pass
                delay = RECONNECT_FIRST
            except Exception as exc:
                if self._listening.is_set():
                    delay = RECONNECT_FIRST  # it was listening: a broker lost now, not one away
                with self._lock:
                    self._failing = True
                log.warning(
                    "could not listen to the Celery workers' events (%s); trying again in "
                    "%.0fs: events sent meanwhile are missed",
                    exc,
                    delay,
                )
                self._stopping.wait(delay)
                delay = min(delay * 2, RECONNECT_MAX)
            finally:
                self._listening.clear()

    def heard(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        if kind not in TASK_EVENTS:
            return
        with self._lock:
            if event.get("uuid") in self._wanted:
                self._heard.append((str(kind), event))

    def listening(self) -> None:
        with self._lock:
            if self._failing:
                log.info("listening to the Celery workers' events again")
            self._failing = False
            self._listening.set()

    def done(self) -> bool:
        """Whether the receiver should disconnect: stopping, or idle (then it reconnects
        before the next send)."""
        if self._stopping.is_set():
            return True
        with self._lock:
            idle = not self._wanted and time.monotonic() - self._last_wanted > IDLE_AFTER
            if idle:
                self._listening.clear()
                self._want.clear()
        if idle:
            log.info(
                "no celery_task run followed for %.0fs: no longer listening to the Celery "
                "workers' events (until the next task sent)",
                IDLE_AFTER,
            )
        return idle


@functools.cache
def _receiver_class() -> type:
    from celery.events.receiver import EventReceiver  # type: ignore[import-untyped]

    class Receiver(EventReceiver):  # type: ignore[misc]
        connect_max_retries = 1  # the source's own loop retries, with backoff

        def __init__(self, source: EventSource, connection: Any) -> None:
            # Task events only (worker heartbeats are not sent to this queue).
            super().__init__(
                connection, handlers={"*": source.heard}, routing_key="task.#", app=source.app
            )
            self.source = source

        def event_from_message(self, body: Any, localize: bool = True, **kwargs: Any) -> Any:
            # Timestamps are kept as sent (seconds since the epoch), not moved to local time.
            return super().event_from_message(body, localize=False, **kwargs)

        def on_consume_ready(self, *args: Any, **kwargs: Any) -> None:
            self.source.listening()

        def on_iteration(self) -> None:
            if self.source.done():
                self.should_stop = True

    return Receiver


def _apply(followed: Followed, kind: str, event: Mapping[str, Any]) -> Outcome | None:
    """Note what an event of the task says; its outcome once it has ended."""
    worker = str(event.get("hostname") or "a worker")
    finished = _when(event.get("timestamp"), followed.started_at)
    if kind == "task-received":
        followed.notes.append(f"celery: received by {worker}")
    elif kind == "task-started":
        followed.notes.append(f"celery: started on {worker}")
    elif kind == "task-retried":
        followed.retries_seen += 1
        error_type, message = _exception(event.get("exception"), event.get("traceback"))
        reason = f"{error_type}: {message}" if message else error_type
        followed.notes.append(f"celery: retry {followed.retries_seen} ({reason})")
    elif kind == "task-rejected":
        if event.get("requeue"):
            followed.notes.append(f"celery: rejected by {worker} and requeued")
            return None
        return Outcome(
            RunStatus.FAILED,
            finished,
            error_type="Rejected",
            error_message=f"the task's message was rejected by {worker} (not requeued)",
        )
    elif kind == "task-revoked":
        how = " (terminated)" if event.get("terminated") else ""
        how = " (expired)" if event.get("expired") else how
        return Outcome(
            RunStatus.CANCELLED,
            finished,
            error_type="Revoked",
            error_message=f"the task was revoked in Celery{how}",
        )
    elif kind in ("task-succeeded", "task-failed"):
        if followed.retries_seen:
            followed.notes.append(
                f"celery: retried {followed.retries_seen} time(s) before this outcome"
            )
        if kind == "task-succeeded":
            followed.notes.append(f"result: {_result(event.get('result'))}")
            return Outcome(RunStatus.SUCCEEDED, finished)
        followed.notes.append(f"celery: failed on {worker}")
        traceback = event.get("traceback")
        error_type, message = _exception(event.get("exception"), traceback)
        return Outcome(
            RunStatus.FAILED,
            finished,
            error_type=error_type,
            error_message=message,
            traceback=str(traceback) if traceback else None,
        )
    return None


def _result(text: Any) -> str:
    """The result as the worker sent it (its repr, cut by the worker to resultrepr_maxsize):
    as JSON when it is a plain literal, as the result backend path shows it, else the repr."""
    if not isinstance(text, str):
        return result_summary(text)
    if len(text) <= RESULT_SUMMARY:
        try:
            return result_summary(ast.literal_eval(text))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            pass
    return text if len(text) <= RESULT_SUMMARY else text[: RESULT_SUMMARY - 1] + "…"


def _exception(exception: Any, traceback: Any) -> tuple[str, str]:
    """(type, message) of the exception an event names by its repr, e.g. "ValueError('x')" (a
    Retry by the exception it wraps): the type as the traceback's last lines qualify it, the
    message as str() would give it."""
    text = str(exception or "Exception")
    parsed = _parse_repr(text)
    if parsed is None:
        return "Exception", text
    name, message = parsed
    # The traceback ends with "module.Type: message" (builtins unqualified).
    lines = str(traceback or "").rstrip().splitlines()
    for line in reversed(lines[-50:]):
        head = line.split(":", 1)[0]
        if head == name or head.endswith(f".{name}"):
            return head, message
    return name, message


def _parse_repr(text: str) -> tuple[str, str] | None:
    """(type name, message) of an exception's repr, or None when it is not one like
    "Type(arg, …)"."""
    if len(text) > 10 * RESULT_SUMMARY:
        return None
    try:
        node = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    if not isinstance(node, ast.Call):
        return None
    if ast.unparse(node.func).rpartition(".")[2] == "Retry":
        wrapped = [
            arg
            for arg in node.args
            if isinstance(arg, ast.Call) and ast.unparse(arg.func).rpartition(".")[2] != "Retry"
        ]
        node = wrapped[0] if wrapped else node
    values = []
    for arg in node.args:
        try:
            values.append(str(ast.literal_eval(arg)))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            values.append(ast.unparse(arg))
    return ast.unparse(node.func), ", ".join(values)


def _when(timestamp: Any, started_at: datetime) -> datetime | None:
    """When the worker sent the event, if readable, not before the send and not ahead of this
    clock."""
    if not isinstance(timestamp, int | float) or timestamp > time.time():
        return None
    try:
        when = datetime.fromtimestamp(timestamp, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return when if when >= started_at else None
