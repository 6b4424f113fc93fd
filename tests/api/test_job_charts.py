"""GET /scheduler/jobs/{id}/durations.svg: a job's last run durations as an SVG image, one bar
per finished run, oldest on the left, with the median; its query checked field by field."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from gnomon.domain import RunStatus
from gnomon.services.runtime import Runtime
from tests.api.conftest import JOBS, AuthActions, assert_error
from tests.api.test_stats import add_run

CHART = f"{JOBS}/report/durations.svg"


def test_durations_are_bars_oldest_first_coloured_by_status_with_their_median(
    admin: AuthActions, runtime: Runtime
) -> None:
    start = datetime.now(UTC) - timedelta(hours=3)
    add_run(runtime, "report", start, RunStatus.SUCCEEDED, 100)
    add_run(runtime, "report", start + timedelta(minutes=1), RunStatus.FAILED, 2500)
    add_run(runtime, "report", start + timedelta(minutes=2), RunStatus.MISSED, None)
    add_run(runtime, "report", start + timedelta(minutes=3), RunStatus.SUCCEEDED, 300)
    add_run(runtime, "sleeper", start, RunStatus.SUCCEEDED, 9000)
    response = admin.get(CHART, query_string={"tz": "Asia/Shanghai"})
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    svg = response.get_data(as_text=True)
    assert svg.startswith("<svg ") and svg.endswith("</svg>") and "<script" not in svg
    bars = re.findall(r'class="bar" data-run-id="[^"]+" data-status="(\w+)" data-ms="(\d+)"', svg)
    assert bars == [("succeeded", "100"), ("failed", "2500"), ("succeeded", "300")]
    assert 'fill="#b3261e"' in svg  # the failed bar in the failure colour
    assert "median 300 ms" in svg and "Duration of the last 3 runs" in svg
    assert "Times in Asia/Shanghai" in svg
    zh = admin.get(CHART, query_string={"lang": "zh"}).get_data(as_text=True)
    assert "最近 3 次运行的耗时" in zh and "中位数" in zh


def test_limit_keeps_the_newest_runs(admin: AuthActions, runtime: Runtime) -> None:
    start = datetime.now(UTC) - timedelta(hours=1)
    for index, ms in enumerate((10, 20, 30)):
        add_run(runtime, "report", start + timedelta(minutes=index), RunStatus.SUCCEEDED, ms)
    svg = admin.get(CHART, query_string={"limit": 2}).get_data(as_text=True)
    assert re.findall(r'data-ms="(\d+)"', svg) == ["20", "30"]


def test_a_job_without_runs_says_so(admin: AuthActions) -> None:
    svg = admin.get(CHART).get_data(as_text=True)
    assert 'class="bar"' not in svg and "No finished runs yet" in svg


def test_an_unknown_job_is_404(admin: AuthActions) -> None:
    assert_error(admin.get(f"{JOBS}/nope/durations.svg"), 404, "JOB_NOT_FOUND")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"tz": "Nowhere/X"}, "tz"),
        ({"lang": "de"}, "lang"),
    ],
)
def test_query_problems_are_named(admin: AuthActions, query: dict[str, Any], field: str) -> None:
    body = assert_error(admin.get(CHART, query_string=query), 400, "VALIDATION_ERROR")
    assert [detail["field"] for detail in body["details"]] == [field]


def test_a_viewer_may_see_it_and_anonymous_may_not(auth: AuthActions, client: FlaskClient) -> None:
    assert_error(client.get(CHART), 401, "AUTHENTICATION_REQUIRED")
    auth.login("viewer")
    assert auth.get(CHART).status_code == 200
