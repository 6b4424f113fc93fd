"""GET /scheduler/stats: totals of the last 24 h and 7 days, runs per hour by status, duration
percentiles per job and hour; every query field checked and named."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from gnomon.domain import Run, RunStatus, TriggerSource, hour_start
from gnomon.services.runtime import Runtime
from tests.api.conftest import API, JOBS, AuthActions, assert_error, assert_ok
from tests.api.test_scheduler_jobs import wait_for_final

STATS = f"{API}/scheduler/stats"
STATUSES = [s.value for s in RunStatus]


def add_run(
    runtime: Runtime, job_id: str, queued_at: datetime, status: RunStatus, duration: int | None
) -> None:
    runtime.store.add_run(
        Run(
            id=str(uuid.uuid4()),
            job_id=job_id,
            trigger_source=TriggerSource.MANUAL,
            status=status,
            queued_at=queued_at,
            duration_ms=duration,
        )
    )


def test_stats_of_the_last_24_hours_by_default(admin: AuthActions, runtime: Runtime) -> None:
    now = datetime.now(UTC)
    three_hours_ago = now - timedelta(hours=3)
    add_run(runtime, "report", three_hours_ago, RunStatus.SUCCEEDED, 100)
    add_run(runtime, "report", three_hours_ago, RunStatus.SUCCEEDED, 300)
    add_run(runtime, "removed.job", three_hours_ago, RunStatus.FAILED, 5)
    add_run(runtime, "report", now - timedelta(days=3), RunStatus.MISSED, None)
    run_id = assert_ok(admin.post(f"{JOBS}/report/actions/run"))["run_id"]
    assert wait_for_final(admin, run_id)["status"] == "succeeded"

    data = assert_ok(admin.get(STATS))
    assert set(data) == {"now", "since", "until", "totals", "hours", "durations"}
    assert data["until"] == data["now"]
    assert list(data["totals"]) == ["24h", "7d"]
    day, week = data["totals"]["24h"], data["totals"]["7d"]
    assert list(day) == STATUSES
    assert (day["succeeded"], day["failed"], day["missed"]) == (3, 1, 0)
    assert (week["succeeded"], week["failed"], week["missed"]) == (3, 1, 1)
    hours = data["hours"]
    assert len(hours) in (24, 25)  # from the hour holding since, up to now
    assert hours[0]["start"] == hour_start(now - timedelta(hours=24)).isoformat()
    by_start = {hour["start"]: hour["counts"] for hour in hours}
    earlier = by_start[hour_start(three_hours_ago).isoformat()]
    assert (earlier["succeeded"], earlier["failed"]) == (2, 1)
    assert sum(hour["counts"]["succeeded"] for hour in hours) == 3
    [report] = [series for series in data["durations"] if series["job_id"] == "report"]
    earlier_start = hour_start(three_hours_ago).isoformat()
    point = next(p for p in report["points"] if p["start"] == earlier_start)
    assert point == {
        "start": earlier_start,
        "count": 2,
        "total_ms": 400,
        "p50_ms": 200.0,
        "p90_ms": 280.0,
        "p99_ms": 298.0,
    }


def test_stats_of_one_job_and_of_a_range(admin: AuthActions, runtime: Runtime) -> None:
    at = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)
    add_run(runtime, "report", at, RunStatus.SUCCEEDED, 10)
    add_run(runtime, "frozen", at, RunStatus.TIMED_OUT, 10)
    query = {"since": "2026-11-20T18:00:00+08:00", "until": "2026-11-20T12:00:00Z"}
    data = assert_ok(admin.get(STATS, query_string=query))
    assert data["since"] == "2026-11-20T10:00:00+00:00"
    assert [hour["start"] for hour in data["hours"]] == [
        "2026-11-20T10:00:00+00:00",
        "2026-11-20T11:00:00+00:00",
    ]
    assert data["hours"][0]["counts"]["timed_out"] == 1
    one = assert_ok(admin.get(STATS, query_string={**query, "job_id": "report"}))
    assert one["hours"][0]["counts"]["timed_out"] == 0
    assert one["hours"][0]["counts"]["succeeded"] == 1
    assert [series["job_id"] for series in one["durations"]] == ["report"]
    none = assert_ok(admin.get(STATS, query_string={**query, "job_id": "a\x00b"}))
    assert none["durations"] == [] and none["hours"][0]["counts"]["succeeded"] == 0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-12-01T00:00:00"}, "since"),
        ({"until": ""}, "until"),
        ({"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"}, "until"),
        ({"since": "2026-12-01T00:00:00Z", "until": "2026-12-01T00:00:00Z"}, "until"),
        ({"since": "2026-10-01T00:00:00Z", "until": "2026-11-01T00:00:01Z"}, "since"),
        ({"job_id": "j" * 65}, "job_id"),
        ({"until": "9999-12-31T23:59:59Z"}, "until"),
        ({"since": "1969-12-31T23:00:00Z"}, "since"),
    ],
)
def test_a_bad_query_field_is_named(admin: AuthActions, query: dict[str, Any], field: str) -> None:
    body = assert_error(admin.get(STATS, query_string=query), 400, "VALIDATION_ERROR")
    assert [detail["field"] for detail in body["details"]] == [field]


def test_the_longest_range_is_744_hours(admin: AuthActions) -> None:
    query = {"since": "2026-10-01T00:00:00Z", "until": "2026-11-01T00:00:00Z"}
    assert len(assert_ok(admin.get(STATS, query_string=query))["hours"]) == 744


def test_viewer_may_read_and_anonymous_may_not(auth: AuthActions, client: FlaskClient) -> None:
    assert_error(client.get(STATS), 401, "AUTHENTICATION_REQUIRED")
    auth.login("viewer")
    assert assert_ok(auth.get(STATS))["totals"]["24h"]["queued"] == 0


CHART = f"{STATS}/runs-per-hour.svg"


def test_chart_draws_the_hours_bars_stacked_by_status(admin: AuthActions, runtime: Runtime) -> None:
    now = datetime.now(UTC)
    add_run(runtime, "report", now - timedelta(hours=2), RunStatus.SUCCEEDED, 10)
    add_run(runtime, "report", now - timedelta(hours=2), RunStatus.FAILED, 10)
    response = admin.get(CHART, query_string={"tz": "Asia/Shanghai"})
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    svg = response.get_data(as_text=True)
    assert svg.startswith("<svg ") and svg.endswith("</svg>")
    assert "<script" not in svg
    assert svg.count('class="bar"') == 2
    assert 'data-status="failed" data-count="1"' in svg
    assert "Times in Asia/Shanghai" in svg and "Succeeded" in svg and "Failed" in svg
    zh = admin.get(CHART, query_string={"lang": "zh"}).get_data(as_text=True)
    assert "成功" in zh and "时间为 UTC" in zh


def test_chart_of_no_runs_says_so(admin: AuthActions) -> None:
    query = {"since": "2020-01-01T00:00:00Z", "until": "2020-01-02T00:00:00Z"}
    svg = admin.get(CHART, query_string=query).get_data(as_text=True)
    assert 'class="bar"' not in svg and "No runs in these hours" in svg


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"tz": "<script>"}, "tz"),
        ({"lang": "fr"}, "lang"),
        ({"since": "x"}, "since"),
    ],
)
def test_chart_query_problems_are_named(
    admin: AuthActions, query: dict[str, Any], field: str
) -> None:
    body = assert_error(admin.get(CHART, query_string=query), 400, "VALIDATION_ERROR")
    assert [detail["field"] for detail in body["details"]] == [field]


def test_chart_needs_a_login_and_a_viewer_may_see_it(
    auth: AuthActions, client: FlaskClient
) -> None:
    assert_error(client.get(CHART), 401, "AUTHENTICATION_REQUIRED")
    auth.login("viewer")
    assert auth.get(CHART).status_code == 200


def test_document_says_the_chart_is_svg(admin: AuthActions) -> None:
    doc = admin.get(f"{API}/openapi.json").get_json()
    answer = doc["paths"]["/api/v1/scheduler/stats/runs-per-hour.svg"]["get"]["responses"]["200"]
    assert list(answer["content"]) == ["image/svg+xml"]
