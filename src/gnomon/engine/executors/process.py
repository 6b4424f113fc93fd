"""Runs a job's Python callable in a child process of its own, which timeout and cancel terminate.

The child is started from the multiprocessing "forkserver" (or "spawn") context, never by forking
the scheduler: its threads and store connections do not survive a fork. The child (child.py) leads
a process group of its own, so stopping a run reaches whatever the target started; its output,
log records and report come back on pipes read here.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import selectors
import signal
import sys
import threading
import time
import types
from collections.abc import Callable
from datetime import datetime
from multiprocessing.context import ForkServerContext, SpawnContext
from typing import Any

from gnomon.domain import JobDefinition, Run, RunStatus
from gnomon.engine.context import job_logger
from gnomon.engine.executors.base import (
    Outcome,
    Stopwatch,
    error_type_name,
    secret_unavailable,
    timed_out,
)
from gnomon.engine.executors.child import STOP_GRACE, Report, Request, child_main
from gnomon.engine.executors.environment import job_args, job_environment, job_kwargs
from gnomon.engine.executors.groups import describe_exit, group_alive, signal_group
from gnomon.engine.output import OutputBuffer
from gnomon.errors import SecretUnavailable

#: How child processes are started: forkserver forks them from a small single-threaded server
#: (a few ms each), spawn starts a fresh interpreter (tens of ms); fork is never safe here.
START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
#: How long after SIGTERM a process group gets before SIGKILL. With STOP_GRACE (the time the
#: target has to see ``run.cancelled``) it keeps a cancel under one second.
KILL_GRACE = 0.2
#: After the child ends, how long to keep reading output that a leftover background process of
#: its group may hold open (such processes are left running, as for commands); after a stop, the
#: group is gone and a short wait is enough.
DRAIN_SECONDS = 1.0
_DRAIN_AFTER_STOP = 0.1
_POLL = 0.05
_READ_SIZE = 64 * 1024

# Process.start() polls every child multiprocessing knows of; on a forkserver child that poll
# consumes the exit status, so a poll from another run's start() and our own join must not meet.
_processes_lock = threading.Lock()


def _multiprocessing_context() -> ForkServerContext | SpawnContext:
    if START_METHOD == "forkserver":
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")


#: What every child imports to run the main script again when it was started as a path:
#: runpy.run_path imports pkgutil, about 2 ms of CPU a run when the forkserver has not.
_RERUN_MAIN = ("pkgutil",)


def preload_in_forkserver() -> None:
    """Have the forkserver import this module once, so a child starts with it loaded (a no-op run
    then costs about 16 ms instead of 60, bench/isolation.py), the modules a child needs to run
    the main script again (_RERUN_MAIN) and the gnomon modules that script took names from
    (main_script_imports). Global to the process: called only by gnomon's own processes,
    before the first process-isolated run. ``__main__``, multiprocessing's own default, stays
    in the list; Python 3.11 ignores it (see main_script_imports)."""
    if START_METHOD == "forkserver":
        modules = ["__main__", child_main.__module__, *_RERUN_MAIN, *main_script_imports()]
        _multiprocessing_context().set_forkserver_preload(modules)


def main_script_imports() -> list[str]:
    """The gnomon modules the main script imported, or took functions and classes from, when it
    was started as a path (the ``gnomon`` console script); none when it was started as a module
    (``python -m gnomon``), which children do not run again.

    Every child runs such a script again, as ``__mp_main__``, before its target (so that what the
    script defines can be unpickled), and Python 3.11's forkserver never runs it itself to spare
    them that. With these modules loaded in the forkserver the second run is a few lookups;
    without them, for the console script, each child imported all of the CLI again: about 100 ms
    of CPU a run. Only gnomon's own modules are taken: importing them does nothing but define
    things, whereas another module could fail in the forkserver (with anything but ImportError,
    which ends it and every later process-isolated run) or leave threads and sockets there."""
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None:
        return []
    names: set[str] = set()
    for name, value in vars(main).items():
        if name.startswith("__"):
            continue  # __builtins__, __loader__ and the like: nothing the script imported
        module: object = (
            value.__name__
            if isinstance(value, types.ModuleType)
            else getattr(value, "__module__", None)
        )
        if isinstance(module, str) and (module == "gnomon" or module.startswith("gnomon.")):
            names.add(module)
    return sorted(names)


class _Child:
    """The parent's view of one child process: its pipes, what it has said, how to stop it."""

    def __init__(self, request: Request, output: OutputBuffer, job_logger: logging.Logger) -> None:
        self.output = output
        self.job_logger = job_logger
        self.report: Report | None = None
        self.exited = False
        self.exit_code: int | None = None
        self.kept_alive = ""  # what was done to a child that reported but did not exit
        context = _multiprocessing_context()
        out_r, out_w = context.Pipe(duplex=False)
        msg_r, msg_w = context.Pipe(duplex=False)
        ctl_r, ctl_w = context.Pipe(duplex=False)
        self._ours = [out_r, msg_r, ctl_w]
        self.process = context.Process(
            target=child_main,
            args=(request, out_w, msg_w, ctl_r),
            name=f"gnomon-run-{request.run.id}",
            daemon=True,
        )
        try:
            with _processes_lock:
                self.process.start()
        except BaseException:
            self._close_pipes()
            raise
        finally:
            for conn in (out_w, msg_w, ctl_r):  # the child has its copies
                conn.close()
        if self.process.pid is None:  # never after start(); a 0 would make killpg hit our group
            raise RuntimeError("the child process has no pid")
        self.pid = self.process.pid
        self._out_fd = out_r.fileno()
        self._messages = msg_r
        self._control = ctl_w
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._out_fd, selectors.EVENT_READ, "output")
        self._selector.register(msg_r.fileno(), selectors.EVENT_READ, "messages")
        self._selector.register(self.process.sentinel, selectors.EVENT_READ, "exit")
        self._open = {"output", "messages", "exit"}

    def pump(self, wait: float) -> None:
        """Take in whatever the child has written or sent, waiting up to ``wait`` seconds."""
        if not self._open:
            time.sleep(wait)
            return
        for key, _ in self._selector.select(wait):
            if key.data == "output":
                data = os.read(self._out_fd, _READ_SIZE)
                if data:
                    self.output.write_bytes(data)
                else:
                    self._done_with(key.fileobj, "output")
            elif key.data == "messages":
                self._receive()
            else:
                self._reap()
                self._done_with(key.fileobj, "exit")

    def _reap(self) -> None:
        with _processes_lock:
            self.process.join()
        self.exit_code = self.process.exitcode
        self.exited = True

    def _done_with(self, fileobj: Any, what: str) -> None:
        self._selector.unregister(fileobj)
        self._open.discard(what)

    def _receive(self) -> None:
        try:
            while self._messages.poll():
                message = self._messages.recv()
                if isinstance(message, Report):
                    self.report = message
                elif isinstance(message, dict):
                    self.job_logger.handle(logging.makeLogRecord(message))
        except Exception:  # EOF, or a message cut short by the child's end
            self._done_with(self._messages.fileno(), "messages")

    def wait(self, cancel: threading.Event, timeout: float | None) -> RunStatus | None:
        """Run until the child exits; TIMED_OUT or CANCELLED when that comes first instead. A child
        that reported but does not exit (a thread of the target still running) is stopped."""
        deadline = None if timeout is None else time.monotonic() + timeout
        reported_at: float | None = None
        while not self.exited:
            now = time.monotonic()
            if cancel.is_set():
                return RunStatus.CANCELLED
            if deadline is not None and now >= deadline:
                return RunStatus.TIMED_OUT
            if self.report is not None:
                if reported_at is None:
                    reported_at = now
                elif now - reported_at > STOP_GRACE:
                    self.kept_alive = self.stop()
                    return None
            wait = _POLL if deadline is None else max(0.0, min(_POLL, deadline - now))
            self.pump(wait)
        return None

    def stop(self) -> str:
        """Ask the target to stop through ``run.cancelled``; SIGTERM its process group after
        STOP_GRACE, SIGKILL after KILL_GRACE more. Returns what was done, for the output."""
        with contextlib.suppress(OSError):
            self._control.send_bytes(b"stop")
        if self._wait_for_group(STOP_GRACE):
            return "it stopped when asked through run.cancelled"
        self._signal(signal.SIGTERM)
        if self._wait_for_group(KILL_GRACE):
            return "sent SIGTERM to its process group"
        self._signal(signal.SIGKILL)
        self._wait_for_group(KILL_GRACE)
        return f"sent SIGTERM to its process group, then SIGKILL after {KILL_GRACE:g}s"

    def _wait_for_group(self, seconds: float) -> bool:
        """Read on until the child and the rest of its group are gone, at most ``seconds``."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.exited and not group_alive(self.pid):
                return True
            self.pump(min(left, 0.02))
        return self.exited and not group_alive(self.pid)

    def _signal(self, signum: int) -> None:
        if not signal_group(self.pid, signum) and not self.exited:
            # Stopped before it had made its group: only the child itself exists yet.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def drain(self, seconds: float) -> bool:
        """Read until the output and messages end, at most ``seconds``; True if they did."""
        deadline = time.monotonic() + seconds
        while self._open - {"exit"} and (left := deadline - time.monotonic()) > 0:
            self.pump(min(left, _POLL))
        return not self._open - {"exit"}

    def close(self) -> None:
        """Release everything; a child still running here (the caller was interrupted) is
        killed with its group, never left behind."""
        if not self.exited:
            self._signal(signal.SIGKILL)
            self._reap()
        self._selector.close()
        self._close_pipes()
        self.process.close()

    def _close_pipes(self) -> None:
        for conn in self._ours:
            conn.close()


def run_in_process(
    definition: JobDefinition,
    run: Run,
    cancel: threading.Event,
    *,
    clock: Callable[[], datetime],
    output_cap: int,
    log_level: int = logging.INFO,
    output: OutputBuffer | None = None,
    started: datetime | None = None,
) -> Outcome:
    """Call the job's target in a child process (with ``run=RunContext`` when it takes one).

    The Outcome has the same shape as a thread-run target's. On timeout or cancel the target is
    asked to stop, then its process group is terminated; a child that dies (a crash, os._exit,
    a signal) is a failed run, with its exit code.
    """
    watch = Stopwatch(clock, started)
    output = output or OutputBuffer(output_cap)
    try:
        environ = job_environment(definition, os.environ)
        kwargs = pickle.dumps(job_kwargs(definition, os.environ))
        args = job_args(definition, os.environ)
    except SecretUnavailable as exc:
        return secret_unavailable(watch, output, exc)
    except Exception as exc:
        message = (
            f"the job's kwargs cannot be sent to a child process: {exc}; with "
            'isolation = "process" give kwargs that pickle (plain data always does)'
        )
        return watch.outcome(
            RunStatus.FAILED, output, error_type=error_type_name(exc), error_message=message
        )
    request = Request(
        target=definition.target or "",
        kwargs=kwargs,
        args=args,
        run=run,
        sys_path=list(sys.path),
        cwd=os.getcwd(),
        environ=environ,
        log_level=log_level,
    )
    child = _Child(request, output, job_logger(run.job_id))
    try:
        stop = child.wait(cancel, definition.timeout)
        done = child.stop() if stop is not None else ""
        if not child.drain(DRAIN_SECONDS if stop is None else _DRAIN_AFTER_STOP):
            output.write(
                "\n[gnomon: stopped reading output: a background process still holds it open]\n"
            )
    finally:
        child.close()
    return _outcome(watch, output, child, stop, done, definition, cancel)


def _outcome(
    watch: Stopwatch,
    output: OutputBuffer,
    child: _Child,
    stop: RunStatus | None,
    done: str,
    definition: JobDefinition,
    cancel: threading.Event,
) -> Outcome:
    report = child.report
    if report is not None and report.value is not None:
        output.write(f"return value: {report.value}\n")
    if child.kept_alive:
        output.write(
            "\n[gnomon: the target returned but its process did not end (a thread it started "
            f"still running?); {child.kept_alive}]\n"
        )
    # The exit code says something only when the child did not report: it died, or was stopped.
    code = child.exit_code if report is None else None
    if stop is RunStatus.TIMED_OUT:
        return timed_out(watch, output, definition.timeout, done, code)
    if stop is RunStatus.CANCELLED:
        output.write(f"\n[gnomon: cancelled; {done}]\n")
        if report is None:
            message = "cancelled while running; its process was stopped"
            return watch.outcome(
                stop, output, error_type="Cancelled", error_message=message, exit_code=code
            )
    if report is None:
        ended = describe_exit(code) if code is not None else "ended"
        return watch.outcome(
            RunStatus.FAILED,
            output,
            error_type="ProcessDied",
            error_message=f"the target's process {ended} before the target returned",
            exit_code=code,
        )
    cancelled = stop is RunStatus.CANCELLED or cancel.is_set()
    if not report.returned:
        return watch.outcome(
            RunStatus.CANCELLED if cancelled else RunStatus.FAILED,
            output,
            error_type=report.error_type,
            error_message=report.error_message,
            traceback=report.traceback,
        )
    if cancelled:
        message = "cancelled while running; the callable returned after run.cancelled was set"
        return watch.outcome(
            RunStatus.CANCELLED, output, error_type="Cancelled", error_message=message
        )
    return watch.outcome(RunStatus.SUCCEEDED, output)
