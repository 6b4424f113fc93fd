"""Demo job targets used by examples/gnomon.toml."""

from __future__ import annotations

import random
import time
from typing import Any


def hello(run: Any, greeting: str = "Hello") -> str:
    """Logs a greeting; its log lines end up in the run's output."""
    run.logger.info("%s from run %s (%s)", greeting, run.run_id, run.trigger_source)
    return greeting


def crunch(run: Any, seconds: float = 3.0) -> None:
    """Works for a few seconds, stopping early when the run is cancelled."""
    deadline = time.monotonic() + seconds
    steps = 0
    while time.monotonic() < deadline and not run.cancelled:
        time.sleep(0.1)
        steps += 1
    print(f"crunched {steps} steps")


def flaky(run: Any) -> None:
    """Fails about half the time, to show what a failed run records."""
    if random.random() < 0.5:  # noqa: S311 - a demo, not cryptography
        raise RuntimeError("the flaky demo job failed, as it does half the time")
    run.logger.info("the flaky demo job succeeded this time")
