"""Notifications survive a crash: `gnomon scheduler` SIGKILLed with events still undelivered
(its webhook receiver down) leaves them in the outbox, and the next scheduler delivers each once
the receiver is up."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from gnomon.alerts import DeliveryStatus
from gnomon.domain import RunStatus
from gnomon.services.runtime import Runtime
from tests.conftest import WriteConfig
from tests.e2e.procs import SchedulerProcess, wait_for
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
retry_backoff = 1
retry_backoff_max = 1

[[jobs]]
id = "broken"
command = ["false"]
trigger = { type = "interval", seconds = 1 }  # fires: each fire fails and raises one event
notify = ["ops"]

[[jobs]]
id = "gnomon.prune_runs"
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
"""


def test_a_killed_leaders_undelivered_events_are_delivered_by_the_next_one(
    write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime], tmp_path: Path
) -> None:
    receiver = HttpReceiver()  # not started yet: the first scheduler's sends are refused
    path = write_config(CONFIG.replace("RECEIVER_URL", receiver.url))
    runtime = runtime_factory(path)
    first = SchedulerProcess(path, tmp_path / "first.log")
    try:
        wait_for(
            lambda: len(runtime.store.list_deliveries(limit=100).items) >= 3,
            timeout=30,
            what="three undelivered events",
        )
    finally:
        first.kill()
    pending = {d.id for d in runtime.store.list_deliveries(limit=500).items}
    assert pending
    assert all(
        d.status is DeliveryStatus.PENDING for d in runtime.store.list_deliveries(limit=500).items
    )

    with receiver.start():
        second = SchedulerProcess(path, tmp_path / "second.log")
        try:
            wait_for(
                lambda: pending <= {r.delivery for r in receiver.requests()},
                timeout=40,
                what="every event the killed scheduler left to be delivered",
            )
        finally:
            second.stop()
    counts = Counter(r.delivery for r in receiver.requests())
    assert all(counts[delivery_id] == 1 for delivery_id in pending), counts
    failed = runtime.runs.list_runs(job_id="broken", status=RunStatus.FAILED, limit=500).items
    told = {r.json["run"]["id"] for r in receiver.requests()}
    assert told <= {run.id for run in failed}
