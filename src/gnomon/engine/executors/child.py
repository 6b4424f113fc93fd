"""Inside the child process of a process-isolated run: set up as the scheduler's thread would
be, call the target, report how the call ended.

The parent (process.py) starts ``child_main`` with three pipes: the child's stdout and stderr
(file descriptors 1 and 2, so C extensions and subprocesses are captured too) and its run logger's
lines go to the first, in order; the logger's records, and at the end a ``Report``, go to the
second; a message or the end of the third asks the run to stop.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, TextIO

from gnomon.domain import Run
from gnomon.engine.context import RunContext, build_run_logger
from gnomon.engine.executors.base import error_type_name
from gnomon.engine.executors.python import (
    LOAD_HINT,
    TargetCall,
    describe_error,
    describe_value,
    format_job_traceback,
    resolve_target,
)

#: On timeout or cancel, how long the target gets to see ``run.cancelled`` and return before its
#: process group is sent SIGTERM (and, should the scheduler die, before the child ends itself).
STOP_GRACE = 0.4


@dataclass(frozen=True)
class Request:
    """What the child needs to make the call as the scheduler's thread would."""

    target: str
    kwargs: bytes  # pickled apart, and loaded once sys.path is the scheduler's
    run: Run
    sys_path: list[str]
    #: The target's positional args: JSON data, so picklable anywhere.
    args: list[Any]
    cwd: str
    environ: dict[str, str]
    log_level: int


@dataclass(frozen=True)
class Report:
    """How the call ended, sent by the child once it has."""

    returned: bool
    value: str | None = None  # the return value, described; None when it returned None
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None

    @classmethod
    def of_error(cls, exc: BaseException, message: str | None = None) -> Report:
        return cls(
            returned=False,
            error_type=error_type_name(exc),
            error_message=message or describe_error(exc),
            traceback=format_job_traceback(exc),
        )


class _Channel:
    """The child's end of the message pipe; threads of the target may log at the same time."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def send(self, message: object) -> None:
        with self._lock:
            self._conn.send(message)


class _ForwardHandler(logging.Handler):
    """Sends the run logger's records to the parent, whose ``gnomon.jobs.<job_id>`` logger
    handles them as it would a thread-run target's."""

    def __init__(self, channel: _Channel, level: int) -> None:
        super().__init__(level)
        self.channel = channel

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.channel.send(_portable_record(record))
        except Exception:
            self.handleError(record)


def _portable_record(record: logging.LogRecord) -> dict[str, Any]:
    """The record's attributes that survive pickling as they are: arguments merged into the
    message, the exception as text."""
    data = dict(record.__dict__)
    data["msg"], data["args"] = record.getMessage(), None
    if record.exc_info and not record.exc_text:
        data["exc_text"] = logging.Formatter().formatException(record.exc_info)
    data["exc_info"] = None
    return {k: v for k, v in data.items() if v is None or isinstance(v, str | int | float)}


def _capture_output(conn: Connection) -> None:
    """Point file descriptors 1 and 2, and sys.stdout/sys.stderr, at the output pipe."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os.dup2(conn.fileno(), 1)
    os.dup2(conn.fileno(), 2)
    conn.close()
    sys.stdout, sys.stderr = _line_stream(1), _line_stream(2)


def _line_stream(fd: int) -> TextIO:
    # Line-buffered like a terminal, so prints and log lines arrive in the order written.
    return open(fd, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)


def _watch_parent(control: Connection, cancelled: threading.Event) -> None:
    """Set ``cancelled`` when the parent asks the run to stop. If the parent goes away instead
    (the scheduler died), nobody will stop this run or read its output, and another scheduler may
    start the job again: ask the target to stop, then end the process group."""
    try:
        control.recv_bytes()
    except (EOFError, OSError):
        cancelled.set()
        time.sleep(STOP_GRACE)
        if os.getpgrp() == os.getpid():
            os.killpg(0, signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)
    cancelled.set()


def _call(request: Request, channel: _Channel, cancelled: threading.Event) -> Report:
    try:
        sys.path[:] = request.sys_path
        os.chdir(request.cwd)
        os.environ.clear()
        os.environ.update(request.environ)
        kwargs: dict[str, Any] = pickle.loads(request.kwargs)  # noqa: S301 - our own parent's
    except Exception as exc:
        return Report.of_error(exc, f"the child process could not set up the run: {exc}")
    try:
        resolved = resolve_target(request.target)
    except Exception as exc:
        message = f"cannot load target {request.target!r}: {exc}; {LOAD_HINT}"
        return Report.of_error(exc, message)
    if resolved.accepts_run and "run" not in kwargs:  # an explicit `run` kwarg wins
        run = request.run
        logger = build_run_logger(run.job_id, run.id, sys.stderr, request.log_level)
        logger.propagate = False  # the parent propagates it, in the scheduler's process
        logger.addHandler(_ForwardHandler(channel, request.log_level))
        kwargs["run"] = RunContext(
            run_id=run.id,
            job_id=run.job_id,
            trigger_source=run.trigger_source,
            scheduled_for=run.scheduled_for,
            created_by=run.created_by,
            logger=logger,
            cancel_event=cancelled,
            attempt=run.attempt,
            retry_of=run.retry_of,
        )
    call = TargetCall(resolved.func, kwargs, None, request.args)
    call()
    if call.error is not None:
        return Report.of_error(call.error)
    value = None if call.result is None else describe_value(call.result)
    return Report(returned=True, value=value)


def child_main(
    request: Request, output: Connection, messages: Connection, control: Connection
) -> None:
    """The child process: make the call, report how it ended."""
    with contextlib.suppress(OSError):
        os.setsid()  # its own session and process group: a stop reaches what the target starts
    # A daemonic process may not start multiprocessing children; the parent marks this one
    # daemonic only so that it is terminated if the scheduler exits while it runs.
    multiprocessing.current_process().daemon = False
    _capture_output(output)
    cancelled = threading.Event()
    threading.Thread(
        target=_watch_parent, args=(control, cancelled), name="gnomon-control", daemon=True
    ).start()
    channel = _Channel(messages)
    try:
        report = _call(request, channel, cancelled)
    except BaseException as exc:  # a failure of ours: still a report, not a lost run
        report = Report.of_error(exc, f"gnomon's child process failed: {exc}")
    try:
        channel.send(report)
    except Exception:
        traceback.print_exc()  # lands in the run's output; the parent sees a report missing
        raise
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
