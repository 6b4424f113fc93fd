"""`run now` at random instants against jobs firing every 1 s and 5 s whose runs take 10 ms:
refused only while a run is really running or due, never because of a fire claimed ahead."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from gnomon.domain import utcnow
from gnomon.engine.starts import AHEAD
from gnomon.errors import JobAlreadyRunning
from gnomon.services.runtime import Runtime
from gnomon.services.views import Actor
from tests.conftest import WriteConfig
from tests.e2e.procs import wait_for

ADMIN = Actor("tester")

CONFIG = """
[scheduler]
timezone = "UTC"
poll_interval = 0.2

[[jobs]]
id = "gnomon.prune_runs"
enabled = false

[[jobs]]
id = "every-second"
command = ["sleep", "0.01"]
trigger = { type = "interval", seconds = 1 }  # fires: run now races its fires

[[jobs]]
id = "every-five"
command = ["sleep", "0.01"]
trigger = { type = "interval", seconds = 5 }  # fires: run now races its fires
"""


def test_run_now_is_refused_only_while_a_run_is_really_active(
    write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime]
) -> None:
    runtime = runtime_factory(write_config(CONFIG))
    runtime.start_scheduler()
    wait_for(runtime.jobs.scheduler_running, timeout=10, what="leadership")
    chance = random.Random(7)  # the instants to call at
    refusals: list[tuple[str, object]] = []
    accepted = slow = 0
    for _ in range(20):
        for job in ("every-second", "every-five"):
            time.sleep(chance.uniform(0.05, 0.35))
            asked = utcnow()
            try:
                runtime.jobs.run_now(job, ADMIN)
                accepted += 1
            except JobAlreadyRunning as refused:
                answered = utcnow()
                blocking = runtime.runs.get_run(refused.run_id or "")
                refusals.append((job, blocking))
                # The run it names was running, or queued and due by the time the store counted
                # (some instant between asking and the answer), never a claim ahead. Starts are
                # committed up to AHEAD before their time: an answer slower than a fraction of
                # that could hide one, and is not judged (answers take a few milliseconds).
                if answered - asked > timedelta(seconds=AHEAD / 5):
                    slow += 1
                    continue
                assert blocking.scheduled_for is None or blocking.scheduled_for <= answered, (
                    job,
                    blocking,
                    asked,
                    answered,
                )
    runtime.close(grace=5)
    print(
        f"\nrun now: {accepted} accepted, {len(refusals)} refused while a run was active"
        f" ({slow} answered too slowly to judge)"
    )
    assert accepted >= 30
    assert slow <= len(refusals) // 2  # most refusals were judged
