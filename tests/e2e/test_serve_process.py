"""End-to-end: `gnomon serve` as a process: workers, first admin, metrics, clean stops."""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

import pytest
import requests

from gnomon.services.runtime import Runtime
from gnomon.services.status import StatusService
from tests.e2e.procs import wait_for
from tests.e2e.servers import API, JOBS, Client, ServerProcess, ok

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("processes")]

CONFIG = """
data_dir = "data"

[scheduler]
timezone = "UTC"
shutdown_grace = 2

[[jobs]]
id = "tick"
command = ["true"]
trigger = { type = "interval", seconds = 1 }  # fires: its runs feed the metrics checked
misfire_grace_time = 5

[[jobs]]
id = "gnomon.prune_runs"
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
"""


def leader_of(config: Path) -> str | None:
    runtime = Runtime.from_config_file(config, env={})
    try:
        return StatusService(runtime.store, runtime.jobs).leader()
    finally:
        runtime.close()


def metric(url: str, name: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=10).text
    found = re.findall(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)
    return sum(float(value) for value in found)


def test_two_workers_one_leader_metrics_and_sigint_gives_up_the_lease(tmp_path: Path) -> None:
    config = tmp_path / "gnomon.toml"
    config.write_text(CONFIG, encoding="utf-8")
    proc = ServerProcess(config, tmp_path / "serve.log", workers=2)
    try:
        admin = Client(proc.url).login()

        def two_nodes_one_leader() -> dict[str, Any] | None:
            found: dict[str, Any] = ok(admin.request("GET", f"{API}/scheduler/status"))
            return found if len(found["nodes"]) == 2 and found["leader"] else None

        status = wait_for(two_nodes_one_leader, timeout=20, what="two nodes, one leader")
        assert sum(node["is_leader"] for node in status["nodes"]) == 1
        wait_for(
            lambda: metric(proc.url, "gnomon_runs_total") > 0,
            timeout=30,
            what="metrics of finished runs",
        )
        # Whichever worker answers, /metrics shows the whole server: one leader among the
        # workers, and counters that only grow (a worker's own metrics would jump between
        # the leader's and the standby's from one scrape to the next).
        finished = []
        for _ in range(12):
            assert metric(proc.url, "gnomon_scheduler_leader") == 1
            assert metric(proc.url, "gnomon_fire_lag_seconds_count") > 0
            finished.append(metric(proc.url, "gnomon_runs_total"))
        assert finished == sorted(finished) and finished[0] > 0, finished
        # Kept per worker and shown for the server: a run's duration, whichever worker ran it,
        # and the job's last success (the highest of the workers' timestamps).
        assert metric(proc.url, "gnomon_run_duration_seconds_count") > 0
        assert metric(proc.url, "gnomon_last_success_timestamp_seconds") > 0
        assert "gnomon_runs_running " in requests.get(f"{proc.url}/metrics", timeout=10).text
        assert ok(admin.request("GET", f"{JOBS}/tick"))["last_run_status"] is not None
    finally:
        assert proc.stop(signum=signal.SIGINT) == 0, proc.output()
    assert leader_of(config) is None, "a clean stop gives the lease up at once"


def test_first_start_prints_a_generated_admin_password_once(tmp_path: Path) -> None:
    config = tmp_path / "gnomon.toml"
    config.write_text(CONFIG, encoding="utf-8")
    proc = ServerProcess(config, tmp_path / "serve.log", admin_password=None)
    try:
        found = re.search(r"Password \(shown once\): (\S+)", proc.output())
        assert found, proc.output()
        Client(proc.url).login("admin", found.group(1))
    finally:
        assert proc.stop() == 0, proc.output()
    proc = ServerProcess(config, tmp_path / "serve2.log", admin_password=None)
    try:
        assert "shown once" not in proc.output()
        assert requests.get(f"{proc.url}/", timeout=10).text.startswith("<!doctype html>")
        assert requests.get(f"{proc.url}{API}/docs", timeout=10).status_code == 200
    finally:
        assert proc.stop() == 0, proc.output()
