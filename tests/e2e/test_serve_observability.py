"""End-to-end: what a real `gnomon serve` / `gnomon api` says about itself: access log lines,
gunicorn's lines and failed runs in the configured format, and the figures /metrics shows."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.procs import wait_for
from tests.e2e.servers import JOBS, Client, ServerProcess, ok

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("processes")]

CONFIG = """
data_dir = "data"

[scheduler]
timezone = "UTC"
shutdown_grace = 2

[logging]
format = "@FORMAT@"

[[jobs]]
id = "good"
command = ["true"]
trigger = { type = "interval", seconds = 1 }  # fires: its runs feed the metrics checked

[[jobs]]
id = "bad"
command = ["sh", "-c", "exit 3"]
trigger = { type = "interval", seconds = 1 }  # fires: each run fails

[[jobs]]
id = "gnomon.prune_runs"
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
"""


def json_lines(output: str) -> list[dict[str, Any]]:
    """The log's JSON lines (the banner the command prints for people is not one)."""
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def access_line(output: str, request_id: str) -> dict[str, Any] | None:
    for line in json_lines(output):
        if line["logger"] == "gnomon.access" and line.get("request_id") == request_id:
            return line
    return None


def sample(url: str, name: str, **labels: str) -> float | None:
    """The value of one sample on /metrics, or None when it is not there."""
    text = requests.get(f"{url}/metrics", timeout=10).text
    for found in re.finditer(rf"^{re.escape(name)}(?:{{([^}}]*)}})? (\S+)$", text, re.MULTILINE):
        given = dict(re.findall(r'(\w+)="([^"]*)"', found.group(1) or ""))
        if all(given.get(k) == v for k, v in labels.items()):
            return float(found.group(2))
    return None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    directory = tmp_path_factory.mktemp("observed")
    config = directory / "gnomon.toml"
    config.write_text(CONFIG.replace("@FORMAT@", "json"), encoding="utf-8")
    proc = ServerProcess(config, directory / "serve.log")
    yield proc
    assert proc.stop() == 0, proc.output()


def test_each_request_has_one_json_access_line_with_its_request_id(
    server: ServerProcess,
) -> None:
    health = requests.get(f"{server.url}/healthz", headers={"X-Request-ID": "probe-1"}, timeout=10)
    assert health.headers["X-Request-ID"] == "probe-1"
    admin = Client(server.url).login()
    admin.http.headers["X-Request-ID"] = "jobs-1"
    ok(admin.request("GET", JOBS))
    admin.http.headers["X-Request-ID"] = "not a valid id!"
    generated = admin.request("GET", f"{JOBS}/nowhere").headers["X-Request-ID"]
    assert len(generated) == 32

    lines = wait_for(
        lambda: (
            all(access_line(server.output(), rid) for rid in ("probe-1", "jobs-1", generated))
            and {rid: access_line(server.output(), rid) for rid in ("probe-1", "jobs-1", generated)}
        ),
        timeout=10,
        what="the access lines of three requests",
    )
    probe, jobs, missing = lines["probe-1"], lines["jobs-1"], lines[generated]
    assert list(probe)[:4] == ["time", "level", "logger", "message"]
    assert (probe["method"], probe["path"], probe["status"], probe["user"]) == (
        "GET",
        "/healthz",
        200,
        None,
    )
    assert probe["duration_ms"] >= 0 and probe["level"] == "INFO"
    assert (jobs["path"], jobs["status"], jobs["user"]) == (JOBS, 200, "admin")
    assert (missing["status"], missing["user"]) == (404, "admin")
    output = server.output()
    assert sum(1 for line in json_lines(output) if line.get("request_id") == "jobs-1") == 1


def test_gunicorn_and_failed_runs_log_json_lines_too(server: ServerProcess) -> None:
    lines = wait_for(
        lambda: [
            line
            for line in json_lines(server.output())
            if line["logger"] == "gnomon.runs" and line.get("job_id") == "bad"
        ],
        timeout=20,
        what="the WARNING line of a failed run",
    )
    assert (lines[0]["status"], lines[0]["exit_code"]) == ("failed", 3)
    assert lines[0]["error"] == "NonZeroExit: exited with code 3"
    assert not any(line.get("job_id") == "good" for line in json_lines(server.output()))
    booted = [line for line in json_lines(server.output()) if line["logger"] == "gunicorn.error"]
    assert any(line["message"].startswith("Booting worker") for line in booted)


def test_metrics_show_durations_last_success_and_failure_after_runs(
    server: ServerProcess,
) -> None:
    url = server.url
    wait_for(
        lambda: (
            (sample(url, "gnomon_last_success_timestamp_seconds", job_id="good") or 0) > 0
            and (sample(url, "gnomon_last_failure_timestamp_seconds", job_id="bad") or 0) > 0
        ),
        timeout=20,
        what="the last success of `good` and the last failure of `bad`",
    )
    assert (sample(url, "gnomon_run_duration_seconds_count", job_id="good") or 0) >= 1
    assert (sample(url, "gnomon_run_duration_seconds_count", job_id="bad") or 0) >= 1
    assert sample(url, "gnomon_last_success_timestamp_seconds", job_id="bad") is None
    assert sample(url, "gnomon_last_failure_timestamp_seconds", job_id="good") is None
    running = sample(url, "gnomon_runs_running")
    assert running is not None and running >= 0
    assert sample(url, "process_cpu_seconds_total") is not None
    text = requests.get(f"{url}/metrics", timeout=10).text
    assert "# TYPE gnomon_retries_total counter" in text


def test_api_command_writes_text_access_lines(tmp_path: Path) -> None:
    config = tmp_path / "gnomon.toml"
    config.write_text(CONFIG.replace("@FORMAT@", "text"), encoding="utf-8")
    proc = ServerProcess(config, tmp_path / "api.log", command="api")
    try:
        requests.get(f"{proc.url}/healthz", headers={"X-Request-ID": "api-1"}, timeout=10)
        pattern = re.compile(
            r" INFO    gnomon\.access: GET /healthz 200 [0-9.]+ms request_id=api-1 user=-$",
            re.MULTILINE,
        )
        wait_for(lambda: pattern.search(proc.output()), timeout=10, what="a text access line")
        assert "INFO    gunicorn.error: Booting worker" in proc.output()
    finally:
        assert proc.stop() == 0, proc.output()
