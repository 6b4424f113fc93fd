"""Job targets for the benchmarks."""

from __future__ import annotations

import threading
import time
from typing import Any

_felt: list[tuple[float, float]] = []  # (scheduled, started in the body), as Unix times
_felt_lock = threading.Lock()


def noop() -> None:
    """Does nothing: the benchmarks measure the scheduler, not the job."""


def realistic(run: Any) -> None:
    """What a small real job does with its run: note when its body starts (for the benchmark),
    read its fire time, log one line through run.logger and print one line."""
    started = time.time()
    scheduled = run.scheduled_for
    run.logger.info("processing the data of %s", scheduled.isoformat())
    print("done")
    with _felt_lock:
        _felt.append((scheduled.timestamp(), started))


def felt_lateness(start: float, end: float) -> list[float]:
    """Seconds from fire time to body start of the `realistic` runs whose fire time is in
    [start, end)."""
    with _felt_lock:
        return [began - when for when, began in _felt if start <= when < end]
