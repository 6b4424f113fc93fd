"""Job targets the executor tests point at (`tests.engine.targets:<name>`), and their factories."""

from __future__ import annotations

import ctypes
import fcntl
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gnomon.domain import JobDefinition, JobKind, Run, RunStatus, TriggerSource
from gnomon.engine.context import RunContext

T0 = datetime(2026, 3, 1, 2, 30, tzinfo=UTC)

not_callable = 42


class JobError(Exception):
    """A failure of the job's own making."""


def ok() -> None:
    """Takes no `run`: calling it with one would be a TypeError."""


def fails() -> None:
    raise JobError("boom: the backup disk is full")


def interrupts() -> None:
    raise KeyboardInterrupt("raised by the job itself")


def exits() -> None:
    sys.exit(3)


def add(a: int, b: int) -> int:
    return a + b


def shows(*args: Any, six: Any = None) -> str:
    """Returns how it was called, as text."""
    return f"{args!r} six={six!r}"


def returns_big() -> str:
    return "y" * 100_000


def prints(text: str) -> None:
    print(f"out: {text}")
    print(f"err: {text}", file=sys.stderr)


def prints_environment() -> None:
    for name, value in sorted(os.environ.items()):
        print(f"{name}={value}")


def prints_many(tag: str, lines: int, barrier: threading.Barrier) -> None:
    barrier.wait()  # both runs print at the same time
    for i in range(lines):
        print(f"{tag} {i}")
        if i % 10 == 0:
            time.sleep(0)


def describes_run(run: RunContext) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "job_id": run.job_id,
        "trigger_source": run.trigger_source,
        "scheduled_for": run.scheduled_for,
        "created_by": run.created_by,
        "cancelled": run.cancelled,
        "attempt": run.attempt,
        "retry_of": run.retry_of,
    }


def takes_kwargs(**kwargs: Any) -> list[str]:
    assert isinstance(kwargs["run"], RunContext)
    return sorted(kwargs)


def logs(run: RunContext) -> None:
    run.logger.debug("hidden detail")
    run.logger.info("copied %d files", 3)
    run.logger.warning("disk almost full")


def waits_for_cancel(
    run: RunContext, stopped: threading.Event | None = None, started: str | None = None
) -> str:
    """Polls run.cancelled like a well-behaved long job; gives up after 10 s."""
    announce(started)
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline:
            if run.cancelled:
                run.logger.info("stopping early")
                return "stopped early"
            time.sleep(0.01)
        return "ran to the end"
    finally:
        if stopped is not None:
            stopped.set()


def naps(seconds: float) -> None:
    """A target that cannot be asked to stop: it takes no `run`."""
    time.sleep(seconds)


def blocks_until(release: threading.Event) -> None:
    """Cannot be asked to stop: it takes no `run`, and returns only once released."""
    release.wait(10)


#: What `held` waits for: a test in the scheduler's own process sets it to let the run end.
HELD = threading.Event()
#: Set by `held` once it runs.
HELD_RUNNING = threading.Event()


def held() -> str:
    """Cannot be asked to stop (it takes no `run`): returns once HELD is set (60 s at most)."""
    HELD_RUNNING.set()
    HELD.wait(60)
    return "released"


# --- targets for process isolation: they kill, crash or outlive what a thread could survive -----


def chatty(run: RunContext) -> int:
    """Writes every way a target can; returns the pid of the process it ran in."""
    print("to stdout")
    print("to stderr", file=sys.stderr)
    os.write(1, b"straight to file descriptor 1\n")  # as C code or a subprocess would
    run.logger.info("copied %d files", 3)
    run.logger.debug("hidden detail")
    return os.getpid()


def announce(started: str | None) -> None:
    """Create the file ``started``: tests in another process wait for it before they cancel."""
    if started is not None:
        Path(started).touch()


def hangs(started: str | None = None) -> None:
    """Ignores run.cancelled (it takes no `run`): only a signal ends it."""
    print(f"pid {os.getpid()}", flush=True)
    announce(started)
    time.sleep(30)


def hangs_with_a_subprocess() -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    print(f"pid {os.getpid()} sleeper {sleeper.pid}", flush=True)
    time.sleep(30)


def hangs_ignoring_sigterm(started: str | None = None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    hangs(started)


def hangs_alone(lock: str, seconds: float) -> None:
    """Runs `seconds`, ignoring run.cancelled, holding an exclusive lock on the file `lock`; a
    copy that finds the lock taken (another copy still runs) touches `lock`.overlap."""
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            Path(lock + ".overlap").touch()
            return
        with open(lock + ".starts", "a") as starts:
            starts.write(f"{os.getpid()}\n")
        time.sleep(seconds)


def dies(code: int) -> None:
    os._exit(code)


def segfaults() -> None:
    ctypes.string_at(0)


def prints_lots(lines: int) -> None:
    for i in range(lines):
        print(f"line {i:06d} " + "x" * 90)


def leaves_a_thread() -> str:
    """Returns at once, but a non-daemon thread keeps its process alive."""
    threading.Thread(target=time.sleep, args=(30,), daemon=False).start()
    return "done"


async def async_add(a: int, b: int) -> int:
    return a + b


class Tools:
    @staticmethod
    def double(x: int) -> int:
        return 2 * x


# --- environments ------------------------------------------------------------------------------

#: What a scheduler may be started with that no job should see, and a variable of the service's
#: that only a job with inherit_env should.
SCHEDULER_SECRETS = {
    "GNOMON_ADMIN_PASSWORD": "admin-password-secret",
    "GNOMON_STORE_URL": "postgresql://gnomon:store-password-secret@db/gnomon",
    "GNOMON_SERVER_SECRET_KEY": "signing-key-secret",
}
SERVICE_VARIABLE = ("SERVICE_API_TOKEN", "service-token-secret")


def environment_in(output: str) -> dict[str, str]:
    """The variables printed as NAME=value lines (by `env` or prints_environment)."""
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


# --- factories ---------------------------------------------------------------------------------


def python_job(target: str, **fields: Any) -> JobDefinition:
    trigger = {"type": "interval", "seconds": 60}
    return JobDefinition(
        id="j1", name="J1", trigger=trigger, kind=JobKind.PYTHON, target=target, **fields
    )


def command_job(*argv: str, **fields: Any) -> JobDefinition:
    trigger = {"type": "interval", "seconds": 60}
    return JobDefinition(
        id="c1", name="C1", trigger=trigger, kind=JobKind.COMMAND, command=argv, **fields
    )


def new_run(job_id: str = "j1", **fields: Any) -> Run:
    fields.setdefault("trigger_source", TriggerSource.SCHEDULED)
    fields.setdefault("scheduled_for", T0)
    return Run(
        id=str(uuid.uuid4()), job_id=job_id, status=RunStatus.RUNNING, queued_at=T0, **fields
    )


def step_clock(step: timedelta = timedelta(milliseconds=250)) -> Callable[[], datetime]:
    """A clock that moves on by ``step`` each time it is read: deterministic durations."""
    ticks: Iterator[int] = itertools.count()
    return lambda: T0 + next(ticks) * step


def logs_slowly(run: RunContext) -> None:
    """Logs a line, then another 5 s later (through the run's logger: what pytest's capture
    of sys.stdout cannot take from the run). Live output is written within about 2 s: the
    margin is for a loaded machine."""
    run.logger.info("first")
    time.sleep(5)
    run.logger.info("second")


def prints_slowly(run: RunContext) -> None:
    """Prints a line, then logs another 2.5 s later: output that comes while the run runs."""
    print("first", flush=True)
    time.sleep(2.5)
    run.logger.info("second")
