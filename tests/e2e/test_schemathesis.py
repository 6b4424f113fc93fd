"""schemathesis against a live `gnomon serve`: valid and mutated (negative) data in every phase,
and stateful chains that follow the document's links (job list → job → update, pause, resume,
run → run → cancel; token → revocation; page → next page). No 5xx, every answer matches the
document, and no request takes a second.

On SQLite (the default store) with the full budget, at least 5,000 requests; on PostgreSQL
(a fresh database per run) with a small one, so that the suite stays quick: the same document
and checks, the other store's SQL and errors.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.pg import fresh_database
from tests.e2e.servers import Client, ServerProcess, two_jobs_config

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("processes"), pytest.mark.timeout(900)]

CONFIG = two_jobs_config(max_instances=50)


@dataclass(frozen=True)
class Budget:
    """How much one store's pass sends: examples per operation in the fuzzing phase, scenarios
    per stateful run, and stateful runs (further seeds) until `min_requests` were sent, at most
    `max_stateful_runs`."""

    fuzzing: int
    stateful: int
    min_requests: int
    max_stateful_runs: int


def _env(name: str, default: int) -> int:
    return int(os.environ.get(f"GNOMON_TEST_SCHEMATHESIS_{name}", str(default)))


BUDGETS = {
    "sqlite": Budget(_env("EXAMPLES", 100), _env("SCENARIOS", 100), 5000, 12),
    # Every phase and check again, on a tenth of the budget: about 1,000 requests.
    "postgres": Budget(_env("PG_EXAMPLES", 10), _env("PG_SCENARIOS", 10), 1000, 3),
}
# Known ids most of the time, so requests get past 404 to the endpoints' real logic.
SCHEMATHESIS_CONFIG = """
headers = {{ Cookie = "gnomon_session={cookie}", X-CSRFToken = "{csrf}" }}

[generation]
with-security-parameters = false
# Valid and mutated data alike: bodies, queries and paths the document forbids are sent too,
# and negative_data_rejection checks that each of those is refused.
mode = "all"

[phases.fuzzing.generation]
max-examples = {fuzzing}

[phases.stateful]
max-steps = 10

[phases.stateful.generation]
max-examples = {stateful}

# Every login pays for a full argon2 hash, on purpose: a few dozen show the endpoint holds, and
# tests/api fuzz its bodies with a cheap hasher.
[[operations]]
include-name = "POST /api/v1/auth/login"
phases.fuzzing.generation.max-examples = 10

[dictionaries.jobs]
values = ["tick", "report", "gnomon.prune_runs"]

[dictionaries.tokens]
values = ["1", "2", "3"]

[parameters]
"path.job_id" = {{ dictionary = "jobs", probability = 0.8 }}
"path.token_id" = {{ dictionary = "tokens", probability = 0.5 }}
"""
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance,response_headers_conformance,negative_data_rejection"
)
# A fixed seed keeps CI repeatable; set GNOMON_TEST_SCHEMATHESIS_SEED to explore further.
SEED = _env("SEED", 20261129)
MAX_SECONDS = 1.0
# These end the session every other request is made with (the cookie above), or take its
# admin role away: after the first call, everything else would only ever see 401 or 403.
# tests/api covers them.
SESSION_ENDERS = (
    "POST /api/v1/auth/logout",
    "POST /api/v1/auth/users/{username}/actions/end-sessions",
    "POST /api/v1/auth/users/{username}/actions/set-password",
    "PATCH /api/v1/auth/users/{username}",
)


def _retime(admin: Client, request: dict[str, Any]) -> float:
    """Seconds the request takes when sent again alone, best of three: a request over the limit
    during the run may have waited for the machine (other processes, schemathesis' own
    workers); one that is slow by itself stays slow."""
    body = request.get("postData", {}).get("text")
    headers = {"X-CSRFToken": admin.csrf or ""}
    if body is not None:
        headers["Content-Type"] = request["postData"]["mimeType"]
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        admin.http.request(
            request["method"],
            request["url"],
            data=body.encode("utf-8", "surrogateescape") if body is not None else None,
            headers=headers,
            timeout=30,
        )
        best = min(best, time.perf_counter() - started)
        if best < MAX_SECONDS:
            break
    return best


class Schemathesis:
    """`schemathesis run` against one server with one settings file; each run's reports in a
    directory of their own, checked for failures as they finish."""

    def __init__(self, url: str, settings: Path, workdir: Path) -> None:
        self.url = url
        self.settings = settings
        self.workdir = workdir
        self.entries: list[dict[str, Any]] = []  # every request made (HAR), across runs
        self.runs: dict[str, int] = {}  # requests per run
        self.test_cases = 0
        self.output = ""

    def run(self, name: str, *args: str) -> dict[str, Any]:
        """One run with extra arguments; returns its JSON report."""
        reports = self.workdir / name
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "--config-file",
                str(self.settings),
                "run",
                f"{self.url}/api/v1/openapi.json",
                *(arg for name in SESSION_ENDERS for arg in ("--exclude-name", name)),
                "--checks",
                CHECKS,
                "--workers",
                "2",
                "--no-color",
                "--report",
                "json,har",
                "--report-dir",
                str(reports),
                *args,
            ],
            capture_output=True,
            text=True,
            cwd=self.workdir,  # schemathesis keeps a cache in .schemathesis/ of this directory
            timeout=600,
            check=False,
        )
        self.output = result.stdout[-6000:] + result.stderr[-2000:]
        assert result.returncode == 0, self.output
        [report_file] = reports.glob("json-*.json")
        report: dict[str, Any] = json.loads(report_file.read_text())
        assert report["test_cases"]["with_failures"] == 0 and not report["errors"], self.output
        [har_file] = reports.glob("har-*.json")
        entries = json.loads(har_file.read_text())["log"]["entries"]
        self.entries += entries
        self.runs[name] = len(entries)
        self.test_cases += report["test_cases"]["generated"]
        return report


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """The store's name and its [store] section: SQLite in the data directory, or a fresh
    PostgreSQL database, dropped afterwards."""
    if request.param == "sqlite":
        yield "sqlite", ""
        return
    with fresh_database("gnomon_fuzz") as url:
        yield "postgres", f'\n[store]\nurl = "{url}"\n'


def test_schemathesis_finds_no_server_error_no_schema_mismatch_and_no_slow_request(
    tmp_path: Path, store: tuple[str, str]
) -> None:
    name, section = store
    budget = BUDGETS[name]
    config = tmp_path / "gnomon.toml"
    config.write_text(CONFIG + section, encoding="utf-8")
    server = ServerProcess(config, tmp_path / "serve.log")
    try:
        admin = Client(server.url).login()
        settings = tmp_path / "schemathesis.toml"
        settings.write_text(
            SCHEMATHESIS_CONFIG.format(
                cookie=admin.http.cookies["gnomon_session"],
                csrf=admin.csrf,
                fuzzing=budget.fuzzing,
                stateful=budget.stateful,
            ),
            encoding="utf-8",
        )
        schemathesis = Schemathesis(server.url, settings, tmp_path)
        started = time.monotonic()
        report = schemathesis.run(
            "fuzz", "--phases", "examples,coverage,fuzzing", "--seed", str(SEED)
        )
        operations = report["operations"]
        assert operations["tested"] == operations["total"] - len(SESSION_ENDERS), operations
        # Hypothesis ends a stateful run when it stops finding new paths, after a few dozen to a
        # few hundred scenarios: further seeds walk further chains, up to the request count.
        # One stateful run at least, however many requests the fuzzing phase made.
        stateful_runs = 0
        while stateful_runs == 0 or (
            len(schemathesis.entries) < budget.min_requests
            and stateful_runs < budget.max_stateful_runs
        ):
            seed = str(SEED + stateful_runs)
            report = schemathesis.run(f"stateful-{seed}", "--phases", "stateful", "--seed", seed)
            assert report["phases"]["stateful"]["status"] == "success", report["phases"]
            stateful_runs += 1
        elapsed = time.monotonic() - started
        entries = schemathesis.entries
        slow = [entry for entry in entries if entry["time"] >= MAX_SECONDS * 1000]
        retimed = {
            f"{entry['request']['method']} {entry['request']['url']}": _retime(
                admin, entry["request"]
            )
            for entry in slow
        }
    finally:
        assert server.stop() == 0, server.output()
    slowest = max(entries, key=lambda entry: entry["time"])
    print(
        f"schemathesis on {name}: {len(entries)} requests ({schemathesis.test_cases} test "
        f"cases; by run {schemathesis.runs}) in {elapsed:.0f} s; slowest {slowest['time']:.0f} ms "
        f"({slowest['request']['method']} {slowest['request']['url']}); "
        f"{len(slow)} took {MAX_SECONDS:g} s or more, alone: "
        + ", ".join(f"{request} {seconds * 1000:.0f} ms" for request, seconds in retimed.items())
    )
    assert len(entries) >= budget.min_requests
    assert all(seconds < MAX_SECONDS for seconds in retimed.values()), retimed
