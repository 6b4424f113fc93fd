"""Job targets for the benchmarks."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

#: The environment variable naming the file `realistic_isolated` appends its lines to.
FELT_FILE = "GNOMON_BENCH_FELT_FILE"

_felt: list[tuple[float, float]] = []  # (scheduled, started in the body), as Unix times
_felt_lock = threading.Lock()


def noop() -> None:
    """Does nothing: the benchmarks measure the scheduler, not the job."""


def _work(run: Any) -> float:
    """What a small real job does with its run: read its fire time, log one line through
    run.logger and print one line. Returns the fire time as a Unix time."""
    scheduled = run.scheduled_for
    run.logger.info("processing the data of %s", scheduled.isoformat())
    print("done")
    return float(scheduled.timestamp())


def realistic(run: Any) -> None:
    """A small real job, noting (for the benchmark) when its body starts, in this process."""
    started = time.time()
    scheduled = _work(run)
    with _felt_lock:
        _felt.append((scheduled, started))


def realistic_isolated(run: Any) -> None:
    """`realistic` for a process-isolated job: the child's body start goes to the file named by
    $GNOMON_BENCH_FELT_FILE (the job's env), one line per run in one O_APPEND write, which
    concurrent children cannot interleave."""
    started = time.time()
    scheduled = _work(run)
    fd = os.open(os.environ[FELT_FILE], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{scheduled!r} {started!r}\n".encode())
    finally:
        os.close(fd)


def felt_lateness(start: float, end: float, path: Path | None = None) -> list[float]:
    """Seconds from fire time to body start of the runs whose fire time is in [start, end):
    those `realistic` noted in this process, or those `realistic_isolated` wrote to `path`."""
    if path is None:
        with _felt_lock:
            noted = list(_felt)
    else:
        text = path.read_text() if path.exists() else ""
        noted = [(float(a), float(b)) for a, b in (line.split() for line in text.splitlines())]
    return [began - when for when, began in noted if start <= when < end]
