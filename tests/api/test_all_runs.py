"""GET /scheduler/runs: the runs of every job, filtered by job, status, trigger source, node and
queued time, paged by the cursor of a job's runs, each query field checked and named."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from gnomon.domain import Run, RunStatus, TriggerSource
from gnomon.services.runtime import Runtime
from tests.api.conftest import API, JOBS, AuthActions, assert_error, assert_ok

RUNS = f"{API}/scheduler/runs"
T0 = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # 2026-12-01 00:00 in Shanghai


def add_run(
    runtime: Runtime,
    job_id: str,
    minutes: int,
    status: RunStatus = RunStatus.SUCCEEDED,
    *,
    manual: bool = False,
    node: str | None = "node-a",
) -> str:
    queued_at = T0 + timedelta(minutes=minutes)
    run = Run(
        id=str(uuid.uuid4()),
        job_id=job_id,
        trigger_source=TriggerSource.MANUAL if manual else TriggerSource.SCHEDULED,
        status=status,
        queued_at=queued_at,
        scheduled_for=None if manual else queued_at,
        node=node,
    )
    runtime.store.add_run(run)
    return run.id


@pytest.fixture
def history(runtime: Runtime) -> dict[str, str]:
    """Runs of two declared jobs and of a job no longer declared, by name."""
    return {
        "report_ok": add_run(runtime, "report", 0),
        "frozen_failed": add_run(runtime, "frozen", 10, RunStatus.FAILED, node="node-b"),
        "gone_missed": add_run(runtime, "removed.job", 20, RunStatus.MISSED, node=None),
        "report_manual": add_run(runtime, "report", 30, manual=True),
        "frozen_timed_out": add_run(runtime, "frozen", 40, RunStatus.TIMED_OUT),
    }


def ids(admin: AuthActions, **query: Any) -> list[str]:
    page = assert_ok(admin.get(RUNS, query_string=query))
    return [item["id"] for item in page["items"]]


def test_runs_of_every_job_newest_first_in_each_jobs_timezone(
    admin: AuthActions, history: dict[str, str]
) -> None:
    page = assert_ok(admin.get(RUNS))
    names = {run_id: name for name, run_id in history.items()}
    assert [names[item["id"]] for item in page["items"]] == [
        "frozen_timed_out",
        "report_manual",
        "gone_missed",
        "frozen_failed",
        "report_ok",
    ]
    assert page["next_cursor"] is None
    by_name = {names[item["id"]]: item for item in page["items"]}
    assert by_name["report_ok"]["queued_at"] == "2026-12-01T00:00:00+08:00"
    # A removed job's runs are kept, their times in UTC.
    assert by_name["gone_missed"]["queued_at"] == "2026-11-30T16:20:00+00:00"
    assert "output" not in by_name["report_ok"]
    assert set(by_name["report_ok"]) == set(assert_ok(admin.get(f"{JOBS}/report/runs"))["items"][0])


def test_each_filter_and_their_combination(admin: AuthActions, history: dict[str, str]) -> None:
    h = history
    assert ids(admin, job_id="frozen") == [h["frozen_timed_out"], h["frozen_failed"]]
    assert ids(admin, job_id="removed.job") == [h["gone_missed"]]
    assert ids(admin, job_id="never-existed") == []
    assert ids(admin, status="failed") == [h["frozen_failed"]]
    failures = [h["frozen_timed_out"], h["gone_missed"], h["frozen_failed"]]
    assert ids(admin, status="failed,missed,timed_out") == failures
    assert ids(admin, status=["failed", "missed", "timed_out"]) == failures
    assert ids(admin, status=["failed,missed", "timed_out", "failed"]) == failures
    assert ids(admin, trigger_source="manual") == [h["report_manual"]]
    assert ids(admin, node="node-b") == [h["frozen_failed"]]
    assert ids(admin, since="2026-12-01T00:10:00+08:00") == [
        h["frozen_timed_out"],
        h["report_manual"],
        h["gone_missed"],
        h["frozen_failed"],
    ]
    assert ids(admin, until="2026-11-30T16:10:00Z") == [h["report_ok"]]
    window = {"since": "2026-11-30T16:10:00Z", "until": "2026-11-30T16:40:00.000Z"}
    assert ids(admin, **window) == [h["report_manual"], h["gone_missed"], h["frozen_failed"]]
    assert ids(admin, **window, status="failed,missed", node="node-b", job_id="frozen") == [
        h["frozen_failed"]
    ]
    assert ids(admin, since="2026-11-30T16:10:00Z", until="2026-11-30T16:10:00Z") == []


def test_pages_follow_the_cursor_and_share_its_format_with_a_jobs_runs(
    admin: AuthActions, runtime: Runtime, history: dict[str, str]
) -> None:
    seen: list[str] = []
    query: dict[str, Any] = {"limit": 2}
    while True:
        page = assert_ok(admin.get(RUNS, query_string=query))
        seen += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        query["cursor"] = page["next_cursor"]
    assert seen == ids(admin)
    # The same cursor means the same place in either listing.
    first = assert_ok(admin.get(f"{JOBS}/report/runs", query_string={"limit": 1}))
    assert first["items"][0]["id"] == history["report_manual"]
    after = ids(admin, cursor=first["next_cursor"])
    assert after == [history["gone_missed"], history["frozen_failed"], history["report_ok"]]


def test_a_running_run_is_found_by_status_across_jobs(admin: AuthActions) -> None:
    run_id = assert_ok(admin.post(f"{JOBS}/sleeper/actions/run"))["run_id"]
    assert run_id in ids(admin, status="queued,running")
    assert_ok(admin.post(f"{RUNS}/{run_id}/actions/cancel"))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "done"}, "status"),
        ({"status": "failed,"}, "status"),
        ({"status": ""}, "status"),
        ({"status": ["failed", "FAILED"]}, "status"),
        ({"status": "failed missed"}, "status"),
        ({"trigger_source": "cron"}, "trigger_source"),
        ({"job_id": "j" * 65}, "job_id"),
        ({"node": "n" * 256}, "node"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-12-01"}, "since"),
        ({"since": "2026-12-01T00:00:00"}, "since"),  # no offset
        ({"since": "2026-12-01 00:00:00Z"}, "since"),
        ({"since": "2026-02-30T00:00:00Z"}, "since"),
        ({"since": ""}, "since"),
        ({"until": "0001-01-01T00:00:00+14:00"}, "until"),
        ({"until": "9999-12-31T23:59:59-01:00"}, "until"),
        ({"until": "２026-12-01T00:00:00Z"}, "until"),
        ({"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"}, "until"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"cursor": "garbage"}, "cursor"),
    ],
)
def test_a_bad_query_field_is_named(admin: AuthActions, query: dict[str, Any], field: str) -> None:
    body = assert_error(admin.get(RUNS, query_string=query), 400, "VALIDATION_ERROR")
    assert [detail["field"] for detail in body["details"]] == [field]
    assert body["details"][0]["message"]


def test_every_bad_field_is_named_at_once(admin: AuthActions) -> None:
    query = {"status": "nope", "trigger_source": "x", "since": "x", "until": "y", "limit": "0"}
    body = assert_error(admin.get(RUNS, query_string=query), 400, "VALIDATION_ERROR")
    fields = [detail["field"] for detail in body["details"]]
    assert fields == ["status", "trigger_source", "since", "until", "limit"]
    assert "RFC 3339" in body["details"][2]["message"]


def test_problems_are_told_in_chinese_when_asked(admin: AuthActions) -> None:
    response = admin.get(RUNS, query_string={"since": "x"}, headers={"Accept-Language": "zh"})
    body = assert_error(response, 400, "VALIDATION_ERROR")
    assert body["details"][0]["field"] == "since"
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"])


@pytest.mark.parametrize("key", ["job_id", "node"])
def test_a_key_no_row_can_hold_lists_none(
    admin: AuthActions, history: dict[str, str], key: str
) -> None:
    assert ids(admin, **{key: "a\x00b"}) == []


def test_viewer_may_read_and_anonymous_may_not(auth: AuthActions, client: FlaskClient) -> None:
    assert_error(client.get(RUNS), 401, "AUTHENTICATION_REQUIRED")
    auth.login("viewer")
    assert assert_ok(auth.get(RUNS))["next_cursor"] is None


def test_document_describes_the_query_and_links_pages(admin: AuthActions) -> None:
    doc = admin.get(f"{API}/openapi.json").get_json()
    operation = doc["paths"]["/api/v1/scheduler/runs"]["get"]
    names = [parameter["name"] for parameter in operation["parameters"]]
    assert names == [
        "job_id",
        "status",
        "trigger_source",
        "node",
        "since",
        "until",
        "limit",
        "cursor",
    ]
    links = operation["responses"]["200"]["links"]
    assert links["next_page"]["operationId"] == "list_all_runs"
    assert links["get_run"]["parameters"] == {"run_id": "$response.body#/data/items/0/id"}
