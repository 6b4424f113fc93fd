"""GET /scheduler/stats/durations.svg: the median and p90 (or p99) duration per hour of the jobs
whose succeeded runs took the most time, drawn from the store's run history; every query
parameter checked and named."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from gnomon.domain import RunStatus, hour_start
from gnomon.services.runtime import Runtime
from tests.api.conftest import API, JOBS, AuthActions, assert_error, assert_ok
from tests.api.test_scheduler_jobs import wait_for_final
from tests.api.test_stats import add_run

CHART = f"{API}/scheduler/stats/durations.svg"
SERIES = re.compile(
    r'<g class="series" data-job-id="([^"]+)" data-percentile="(p\d+)" data-points="(\d+)">'
)


def series(svg: str) -> dict[tuple[str, str], int]:
    return {(job, name): int(points) for job, name, points in SERIES.findall(svg)}


@pytest.fixture
def history(runtime: Runtime) -> datetime:
    """Six jobs' runs: `big` in three hours running (two of them one after the other), the
    others in one hour each, `tiny` taking the least time in all; failures never count."""
    now = datetime.now(UTC)
    # Hours that are over (sealed by the first statistics read) and the hour going on.
    before = [hour_start(now) - timedelta(hours=n) + timedelta(minutes=5) for n in (5, 4, 2)]
    for at in before:
        for duration in (1000, 2000, 3000, 60_000):
            add_run(runtime, "big", at, RunStatus.SUCCEEDED, duration)
    for number, job in enumerate(("b", "c", "d", "e")):
        add_run(runtime, job, before[0], RunStatus.SUCCEEDED, 5000 + number)
    add_run(runtime, "tiny", before[1], RunStatus.SUCCEEDED, 10)
    add_run(runtime, "tiny", before[1], RunStatus.FAILED, 900_000)
    add_run(runtime, "gone", now - timedelta(days=3), RunStatus.SUCCEEDED, 9_000_000)
    return now


def test_a_line_per_job_and_percentile_for_the_five_jobs_that_took_longest(
    admin: AuthActions, history: datetime
) -> None:
    run_id = assert_ok(admin.post(f"{JOBS}/report/actions/run"))["run_id"]
    assert wait_for_final(admin, run_id)["status"] == "succeeded"
    response = admin.get(CHART, query_string={"tz": "Asia/Shanghai"})
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    svg = response.get_data(as_text=True)
    assert svg.startswith("<svg ") and svg.endswith("</svg>") and "<script" not in svg
    found = series(svg)
    # `report` ran for a moment in this hour: it takes less time than the 5 s of b..e.
    jobs = ["big", "e", "d", "c", "b"]
    assert list(dict.fromkeys(job for job, _ in found)) == jobs
    assert found[("big", "p50")] == found[("big", "p90")] == 3
    assert all(found[(job, "p90")] == 1 for job in jobs[1:])
    # big's two joined hours are one stroke; its hour alone is a dot on each line.
    big = svg[svg.index('data-job-id="big" data-percentile="p90"') :].split("</g>")[0]
    assert re.search(r'd="M[\d. ]+L[\d. ]+M[\d. ]+"', big) and big.count("<circle") == 1
    # The axis reaches the longest p90 of an hour (big's: 3000 + 0.7 * 57000 ms = 42.9 s).
    assert ">50.0 s<" in svg and ">25.0 s<" in svg
    assert "Times in Asia/Shanghai" in svg and "median (solid) and p90 (dashed)" in svg
    assert "tiny" not in svg and "gone" not in svg

    more = series(admin.get(CHART, query_string={"jobs": 7}).get_data(as_text=True))
    assert {job for job, _ in more} == {*jobs, "report", "tiny"}
    assert ("tiny", "p50") in more

    week = {"since": (history - timedelta(days=7)).isoformat(), "percentile": "p99"}
    wide = admin.get(CHART, query_string=week).get_data(as_text=True)
    assert list(dict.fromkeys(job for job, _ in series(wide))) == ["gone", "big", "e", "d", "c"]
    assert ("gone", "p99") in series(wide) and ("big", "p90") not in series(wide)
    assert "median (solid) and p99 (dashed)" in wide


def test_the_chart_in_chinese_and_of_hours_without_runs(admin: AuthActions) -> None:
    query = {"since": "2020-01-01T00:00:00Z", "until": "2020-01-02T00:00:00Z", "lang": "zh"}
    svg = admin.get(CHART, query_string=query).get_data(as_text=True)
    assert 'class="series"' not in svg
    assert "这些小时内没有成功的运行" in svg and "中位数（实线）" in svg and "时间为 UTC" in svg


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"jobs": "0"}, "jobs"),
        ({"jobs": "11"}, "jobs"),
        ({"jobs": "five"}, "jobs"),
        ({"percentile": "p50"}, "percentile"),
        ({"percentile": "90"}, "percentile"),
        ({"percentile": ""}, "percentile"),
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"lang": "fr"}, "lang"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2020-01-01T00:00:00Z", "since": "2020-03-01T00:00:00Z"}, "until"),
        ({"since": "2020-01-01T00:00:00Z", "until": "2020-03-01T00:00:00Z"}, "since"),
    ],
)
def test_query_problems_are_named(admin: AuthActions, query: dict[str, Any], field: str) -> None:
    body = assert_error(admin.get(CHART, query_string=query), 400, "VALIDATION_ERROR")
    assert [detail["field"] for detail in body["details"]] == [field]


def test_the_chart_needs_a_login_and_a_viewer_may_see_it(
    auth: AuthActions, client: FlaskClient
) -> None:
    assert_error(client.get(CHART), 401, "AUTHENTICATION_REQUIRED")
    auth.login("viewer")
    assert auth.get(CHART).status_code == 200


def test_document_says_the_charts_are_svg(admin: AuthActions) -> None:
    doc = admin.get(f"{API}/openapi.json").get_json()
    for path in ("stats/durations.svg", "jobs/{job_id}/durations.svg"):
        answer = doc["paths"][f"/api/v1/scheduler/{path}"]["get"]["responses"]["200"]
        assert list(answer["content"]) == ["image/svg+xml"]
    names = [p["name"] for p in doc["paths"][f"{CHART}"]["get"]["parameters"]]
    assert {"jobs", "percentile"} <= set(names)
