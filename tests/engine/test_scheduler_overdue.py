"""Overdue alerts on a running scheduler with a real webhook receiver: a job without a success
within `alert_if_no_success_within` is told `overdue` once, and `recovered` on its next success."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from gnomon.services.runtime import Runtime
from gnomon.services.views import Actor
from tests.conftest import WriteConfig
from tests.e2e.procs import wait_for
from tests.engine.notify.receivers import HttpReceiver

CONFIG = """
[scheduler]
timezone = "UTC"
poll_interval = 0.2
shutdown_grace = 1

[[notifications]]
id = "ops"
type = "webhook"
url = "RECEIVER_URL"

[[jobs]]
id = "nightly"
command = ["true"]
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
alert_if_no_success_within = "2s"
notify = ["ops"]

[[jobs]]
id = "unwatched"
command = ["true"]
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
notify = ["ops"]

[[jobs]]
id = "gnomon.prune_runs"
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
"""


def events(receiver: HttpReceiver) -> list[tuple[str, str]]:
    return [(r.json["event"], r.json["job"]["id"]) for r in receiver.requests()]


def test_an_overdue_job_is_told_once_and_recovers_on_its_next_success(
    write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime]
) -> None:
    with HttpReceiver().start() as receiver:
        runtime = runtime_factory(write_config(CONFIG.replace("RECEIVER_URL", receiver.url)))
        runtime.start_scheduler()
        wait_for(lambda: events(receiver), timeout=15, what="the overdue notification")
        assert events(receiver) == [("overdue", "nightly")]
        [overdue] = receiver.requests()
        assert overdue.json["run"] is None
        time.sleep(6)  # more looks of the leader: told once
        assert events(receiver) == [("overdue", "nightly")]

        runtime.jobs.run_now("nightly", Actor("tester"))
        wait_for(lambda: len(events(receiver)) == 2, timeout=15, what="the recovery")
        assert events(receiver)[1] == ("recovered", "nightly")
        runtime.close(grace=1)
