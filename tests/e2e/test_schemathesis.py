"""schemathesis against a live `gnomon serve`: no 5xx, and every answer matches the document."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.servers import Client, ServerProcess, two_jobs_config

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("processes")]

CONFIG = two_jobs_config(max_instances=50)

# Known ids most of the time, so requests get past 404 to the endpoints' real logic.
SCHEMATHESIS_CONFIG = """
headers = {{ Cookie = "gnomon_session={cookie}", X-CSRFToken = "{csrf}" }}

[generation]
with-security-parameters = false

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
MAX_EXAMPLES = int(os.environ.get("GNOMON_TEST_SCHEMATHESIS_EXAMPLES", "30"))
# A fixed seed keeps CI repeatable; set GNOMON_TEST_SCHEMATHESIS_SEED to explore further.
SEED = int(os.environ.get("GNOMON_TEST_SCHEMATHESIS_SEED", "20261129"))
MIN_REQUESTS = 1000
# These end the session every other request is made with (the cookie above): after the first
# call, everything else would only ever see 401. tests/api covers them.
SESSION_ENDERS = (
    "POST /api/v1/auth/logout",
    "POST /api/v1/auth/users/{username}/actions/end-sessions",
)


def test_schemathesis_finds_no_server_error_and_no_schema_mismatch(tmp_path: Path) -> None:
    config = tmp_path / "gnomon.toml"
    config.write_text(CONFIG, encoding="utf-8")
    server = ServerProcess(config, tmp_path / "serve.log")
    try:
        admin = Client(server.url).login()
        settings = tmp_path / "schemathesis.toml"
        settings.write_text(
            SCHEMATHESIS_CONFIG.format(
                cookie=admin.http.cookies["gnomon_session"], csrf=admin.csrf
            ),
            encoding="utf-8",
        )
        reports = tmp_path / "reports"
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "--config-file",
                str(settings),
                "run",
                f"{server.url}/api/v1/openapi.json",
                *(arg for name in SESSION_ENDERS for arg in ("--exclude-name", name)),
                "--checks",
                CHECKS,
                "--max-examples",
                str(MAX_EXAMPLES),
                "--seed",
                str(SEED),
                "--workers",
                "2",
                "--no-color",
                "--report",
                "json",
                "--report-dir",
                str(reports),
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,  # schemathesis keeps a cache in .schemathesis/ of its working directory
            timeout=300,
            check=False,
        )
    finally:
        assert server.stop() == 0, server.output()
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    [report_file] = reports.glob("*.json")
    report = json.loads(report_file.read_text())
    cases = report["test_cases"]
    assert cases["with_failures"] == 0 and not report["errors"], result.stdout[-6000:]
    print(f"schemathesis: {cases['generated']} test cases, checks {CHECKS}")
    assert cases["generated"] >= MIN_REQUESTS, cases
    operations = report["operations"]
    assert operations["tested"] == operations["total"] - len(SESSION_ENDERS), operations
