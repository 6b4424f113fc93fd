"""End-to-end: a real `gnomon scheduler` logs one WARNING line per run that did not succeed."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gnomon.domain import RunStatus
from gnomon.services.runtime import Runtime
from tests.conftest import WriteConfig
from tests.e2e.procs import SchedulerProcess, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("processes")]

FAILING = """
[scheduler]
timezone = "UTC"
shutdown_grace = 2
python_path = ["."]

[logging]
format = "@FORMAT@"

[[jobs]]
id = "exits3"
command = ["sh", "-c", "exit 3"]
trigger = { type = "interval", seconds = 2 }  # fires: each run fails and logs

[[jobs]]
id = "raises"
target = "failjobs:bad_value"
trigger = { type = "interval", seconds = 2 }  # fires: each run raises and logs

[[jobs]]
id = "overruns"
command = ["sleep", "30"]
timeout = 0.5
trigger = { type = "interval", seconds = 2 }  # fires: each run times out and logs

[[jobs]]
id = "gnomon.prune_runs"
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
"""
#: job id -> (status, error summary) of its WARNING line.
EXPECTED = {
    "exits3": ("failed", "NonZeroExit: exited with code 3"),
    "raises": ("failed", "ValueError: bad value: 42"),
    "overruns": ("timed_out", "Timeout: did not finish within its timeout of 0.5s"),
}
TEXT_LINE = re.compile(
    r"WARNING gnomon\.runs: run (?P<run_id>[0-9a-f-]{36}) of job (?P<job_id>\S+) "
    r"(?:failed|timed out) after (?P<duration>[0-9.]+)s: (?P<error>.+)$",
    re.MULTILINE,
)


def warnings_json(output: str) -> dict[str, dict[str, Any]]:
    """The first gnomon.runs line of each job, from the JSON lines of `output`."""
    found: dict[str, dict[str, Any]] = {}
    for line in output.splitlines():
        if not line.startswith("{"):
            continue  # what the command prints for people (the start-up banner)
        record = json.loads(line)
        if record["logger"] == "gnomon.runs":
            found.setdefault(record["job_id"], record)
    return found


def warnings_text(output: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for match in TEXT_LINE.finditer(output):
        found.setdefault(match["job_id"], match.groupdict())
    return found


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_failed_raising_and_timed_out_runs_each_log_a_warning_line(
    fmt: str,
    write_config: WriteConfig,
    runtime_factory: Callable[[Path], Runtime],
    tmp_path: Path,
) -> None:
    (tmp_path / "failjobs.py").write_text(
        'def bad_value():\n    raise ValueError("bad value: 42")\n', encoding="utf-8"
    )
    config = write_config(FAILING.replace("@FORMAT@", fmt))
    runtime = runtime_factory(config)
    parse = warnings_json if fmt == "json" else warnings_text
    proc = SchedulerProcess(config, tmp_path / "scheduler.log")
    try:
        lines = wait_for(
            lambda: (found := parse(proc.output())).keys() >= EXPECTED.keys() and found,
            timeout=30,
            what=f"a WARNING line of each failing job in {fmt}",
        )
    finally:
        assert proc.stop() == 0, proc.output()
    for job_id, (status, error) in EXPECTED.items():
        line = lines[job_id]
        run = runtime.store.find_run(line["run_id"])
        assert run is not None and run.job_id == job_id
        assert run.status is RunStatus(status)
        assert line["error"] == error
        assert float(line["duration" if fmt == "text" else "duration_s"]) >= 0
        if fmt == "json":
            assert list(line)[:4] == ["time", "level", "logger", "message"]
            assert (line["level"], line["status"]) == ("WARNING", status)
            assert line["message"].startswith(f"run {run.id} of job {job_id} ")
    if fmt == "json":
        assert lines["exits3"]["exit_code"] == 3
