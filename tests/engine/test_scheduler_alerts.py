"""The scheduler hands each job's channels to the store with its runs' final statuses: every
failure of a job with channels leaves its events in the outbox, a job without leaves none."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gnomon.alerts import DeliveryStatus
from gnomon.domain import Event, RunStatus
from gnomon.services.runtime import Runtime
from tests.conftest import WriteConfig
from tests.e2e.procs import wait_for

CONFIG = """
[scheduler]
timezone = "UTC"
poll_interval = 0.2
shutdown_grace = 1
notify = ["ops", "pager"]

[[notifications]]
id = "ops"
type = "webhook"
url = "http://127.0.0.1:9/never-listening"

[[notifications]]
id = "pager"
type = "webhook"
url = "http://127.0.0.1:9/never-listening"
on = ["timed_out"]

[[jobs]]
id = "broken"
target = "tests.engine.targets:fails"
trigger = { type = "interval", seconds = 1 }  # fires: each fire must raise one event

[[jobs]]
id = "quiet"
target = "tests.engine.targets:fails"
trigger = { type = "interval", seconds = 1 }  # fires: its failures must raise nothing
notify = []

[[jobs]]
id = "gnomon.prune_runs"
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
"""


def test_each_failed_run_of_a_job_with_channels_leaves_one_event_per_listening_channel(
    write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime]
) -> None:
    runtime = runtime_factory(write_config(CONFIG))
    runtime.start_scheduler()
    store = runtime.store

    def failed(job_id: str) -> list[str]:
        page = runtime.runs.list_runs(job_id=job_id, status=RunStatus.FAILED, limit=500)
        return [run.id for run in page.items]

    wait_for(lambda: len(failed("broken")) >= 3, timeout=15, what="three failed runs")
    wait_for(lambda: len(failed("quiet")) >= 2, timeout=15, what="two failed quiet runs")
    runtime.close(grace=1)
    runs = set(failed("broken"))
    deliveries = store.list_deliveries(limit=500).items
    assert {d.job_id for d in deliveries} == {"broken"}
    assert {d.channel for d in deliveries} == {"ops"}  # pager hears only timed_out
    assert sorted(d.run_id for d in deliveries) == sorted(runs)  # one per failed run
    assert {d.event for d in deliveries} == {Event.FAILED}
    assert {d.status for d in deliveries} <= {DeliveryStatus.PENDING}
