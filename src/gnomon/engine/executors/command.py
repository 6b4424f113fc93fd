"""Runs a job's command in its own process group, capturing its output, with timeout and cancel."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import datetime

from gnomon.domain import JobDefinition, Run, RunStatus
from gnomon.engine.executors.base import (
    Outcome,
    Stopwatch,
    error_type_name,
    secret_unavailable,
    timed_out,
)
from gnomon.engine.executors.environment import job_argv, job_environment
from gnomon.engine.executors.groups import describe_exit, group_alive, signal_group
from gnomon.engine.output import OutputBuffer
from gnomon.errors import SecretUnavailable

#: After the process exits, how long to keep reading output that a leftover background process
#: (``cmd &``) may hold open; cron-style, such processes are left running, but not waited for.
DRAIN_SECONDS = 1.0
_READ_SIZE = 64 * 1024


def build_argv(definition: JobDefinition) -> list[str]:
    """The argv to execute. With ``shell = true`` the command is one string run by ``/bin/sh -c``
    (POSIX shell syntax: pipes, ``$VARS``, globs); otherwise it is executed as is, no shell."""
    command = list(definition.command or ())
    if not command:
        raise ValueError('the job has no command; declare command = ["program", "arg", …]')
    if definition.shell:
        if len(command) != 1:
            raise ValueError(
                "with shell = true the command must be a single string, e.g. "
                'command = ["tar czf backup.tgz data/ && echo done"]'
            )
        return ["/bin/sh", "-c", command[0]]
    return command


def _describe_start_failure(exc: OSError, argv: list[str], cwd: str | None) -> str:
    # Popen reports a failed chdir with the cwd as the filename, a failed exec with argv[0].
    if cwd is not None and exc.filename == cwd:
        return f"cannot start {argv[0]!r}: working directory {cwd!r}: {exc.strerror}"
    what = "is not executable" if isinstance(exc, PermissionError) else exc.strerror
    return f"cannot start {argv[0]!r}: {what}; check the command and PATH"


class _Pump:
    """Moves whatever the process has written into the output buffer, never blocking longer than
    asked, so a chatty process never stalls on a full pipe."""

    def __init__(self, proc: subprocess.Popen[bytes], output: OutputBuffer) -> None:
        assert proc.stdout is not None
        self.fd = proc.stdout.fileno()
        self.output = output
        self.eof = False
        self.selector = selectors.DefaultSelector()  # poll/epoll: no FD_SETSIZE limit
        self.selector.register(self.fd, selectors.EVENT_READ)

    def pump(self, wait: float) -> None:
        if self.eof:
            time.sleep(wait)
            return
        if self.selector.select(wait):
            data = os.read(self.fd, _READ_SIZE)
            if data:
                self.output.write_bytes(data)
            else:
                self.eof = True

    def drain(self, seconds: float) -> bool:
        """Read until end of output or ``seconds`` pass; True if the end was reached."""
        deadline = time.monotonic() + seconds
        while not self.eof and (left := deadline - time.monotonic()) > 0:
            self.pump(min(left, 0.05))
        return self.eof

    def close(self) -> None:
        self.selector.close()


def _stop_group(proc: subprocess.Popen[bytes], pump: _Pump, grace: float, poll: float) -> str:
    """SIGTERM the process group, wait up to ``grace`` seconds (reading output meanwhile), then
    SIGKILL whatever of the group is left. Returns what was done, for the output."""
    pgid = proc.pid  # start_new_session: the process leads its own group
    signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        pump.pump(poll)
        # Once the leader is reaped, probe whether any child outlived it.
        if proc.poll() is not None and not group_alive(pgid):
            return "sent SIGTERM to its process group"
    signal_group(pgid, signal.SIGKILL)
    proc.wait()
    return f"sent SIGTERM to its process group, then SIGKILL after {grace:g}s"


def run_command(
    definition: JobDefinition,
    run: Run,
    cancel: threading.Event,
    *,
    clock: Callable[[], datetime],
    output_cap: int,
    kill_grace: float = 5.0,
    poll_interval: float = 0.05,
    output: OutputBuffer | None = None,
    started: datetime | None = None,
) -> Outcome:
    """Execute the job's command; stdout and stderr are captured together, in order (into
    `output`, if given, as they come)."""
    watch = Stopwatch(clock, started)
    output = output or OutputBuffer(output_cap)
    try:
        argv = build_argv(definition)
    except ValueError as exc:
        return watch.outcome(
            RunStatus.FAILED, output, error_type="ValueError", error_message=str(exc)
        )
    try:
        # Messages below name the command as declared: `argv`, never `resolved`.
        resolved = job_argv(argv, os.environ)
        env = job_environment(definition, os.environ)
    except SecretUnavailable as exc:
        return secret_unavailable(watch, output, exc)
    try:
        proc = subprocess.Popen(
            resolved,
            env=env,
            cwd=definition.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so timeout/cancel reach its children
        )
    except OSError as exc:
        message = _describe_start_failure(exc, argv, definition.cwd)
        return watch.outcome(
            RunStatus.FAILED, output, error_type=error_type_name(exc), error_message=message
        )
    except (ValueError, TypeError) as exc:  # e.g. a NUL byte in an argument or env value
        message = f"cannot start {argv[0]!r}: {exc}"
        return watch.outcome(
            RunStatus.FAILED, output, error_type=error_type_name(exc), error_message=message
        )
    pump = _Pump(proc, output)
    stop: RunStatus | None = None
    done = ""
    try:
        deadline = None if definition.timeout is None else time.monotonic() + definition.timeout
        while proc.poll() is None:
            if cancel.is_set():
                stop = RunStatus.CANCELLED
                break
            if deadline is not None and time.monotonic() >= deadline:
                stop = RunStatus.TIMED_OUT
                break
            pump.pump(poll_interval)
        if stop is not None:
            done = _stop_group(proc, pump, kill_grace, poll_interval)
        if not pump.drain(DRAIN_SECONDS):
            output.write(
                "\n[gnomon: stopped reading output: a background process still holds it open]\n"
            )
    finally:
        if proc.returncode is None:  # only on an unexpected error in this function: leave no orphan
            signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        pump.close()
        if proc.stdout is not None:
            proc.stdout.close()
    code = proc.returncode
    if stop is RunStatus.TIMED_OUT:
        return timed_out(watch, output, definition.timeout, done, code)
    if stop is RunStatus.CANCELLED:
        output.write(f"\n[gnomon: cancelled; {done}]\n")
        message = "cancelled while running; its process group was stopped"
        return watch.outcome(
            stop, output, error_type="Cancelled", error_message=message, exit_code=code
        )
    if code != 0:
        return watch.outcome(
            RunStatus.FAILED,
            output,
            error_type="NonZeroExit",
            error_message=describe_exit(code),
            exit_code=code,
        )
    return watch.outcome(RunStatus.SUCCEEDED, output, exit_code=code)
