"""Beyond the contract (SPEC §5.4): run history, trigger previews, scheduler status."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from gnomon.services.runtime import Runtime
from tests.api.conftest import API, JOBS, AuthActions, assert_error, assert_ok
from tests.api.test_scheduler_jobs import wait_for_final

RUNS = f"{API}/scheduler/runs"
PREVIEW = f"{API}/scheduler/triggers/preview"
STATUS = f"{API}/scheduler/status"


def make_runs(admin: AuthActions, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        run_id = assert_ok(admin.post(f"{JOBS}/report/actions/run"))["run_id"]
        wait_for_final(admin, run_id)
        ids.append(run_id)
    return ids


def test_runs_are_listed_newest_first_with_cursor_pages(admin: AuthActions) -> None:
    ids = make_runs(admin, 3)
    first = assert_ok(admin.get(f"{JOBS}/report/runs?limit=2"))
    assert [r["id"] for r in first["items"]] == ids[::-1][:2]
    assert "output" not in first["items"][0]
    assert first["items"][0]["queued_at"].endswith("+08:00")  # the job's timezone
    second = assert_ok(admin.get(f"{JOBS}/report/runs?limit=2&cursor={first['next_cursor']}"))
    assert [r["id"] for r in second["items"]] == [ids[0]]
    assert second["next_cursor"] is None


def test_runs_filter_by_status_and_source(admin: AuthActions) -> None:
    make_runs(admin, 1)
    url = f"{JOBS}/report/runs"
    assert len(assert_ok(admin.get(f"{url}?status=succeeded&trigger_source=manual"))["items"]) == 1
    assert assert_ok(admin.get(f"{url}?status=failed"))["items"] == []
    assert assert_ok(admin.get(f"{url}?trigger_source=scheduled"))["items"] == []


def test_run_query_problems_are_named_together(admin: AuthActions) -> None:
    response = admin.get(f"{JOBS}/report/runs?limit=501&status=done&trigger_source=cron")
    body = assert_error(response, 400, "VALIDATION_ERROR")
    assert [d["field"] for d in body["details"]] == ["status", "trigger_source", "limit"]


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1.5"])
def test_bad_limit_is_a_validation_error(admin: AuthActions, limit: str) -> None:
    body = assert_error(admin.get(f"{JOBS}/report/runs?limit={limit}"), 400, "VALIDATION_ERROR")
    assert body["details"][0]["field"] == "limit"


def test_bad_cursor_is_a_validation_error(admin: AuthActions) -> None:
    body = assert_error(admin.get(f"{JOBS}/report/runs?cursor=garbage"), 400, "VALIDATION_ERROR")
    assert body["details"][0]["field"] == "cursor"


def test_runs_of_unknown_job_is_404(admin: AuthActions) -> None:
    assert_error(admin.get(f"{JOBS}/nope/runs"), 404, "JOB_NOT_FOUND")


def test_run_detail_has_output(admin: AuthActions) -> None:
    [run_id] = make_runs(admin, 1)
    run = assert_ok(admin.get(f"{RUNS}/{run_id}"))
    assert run["status"] == "succeeded"
    assert "output" in run and "traceback" in run
    assert run["exit_code"] == 0


def test_run_output_is_never_cached(admin: AuthActions) -> None:
    (run_id,) = make_runs(admin, 1)
    detail = admin.get(f"{RUNS}/{run_id}")
    assert "output" in assert_ok(detail)
    assert detail.headers["Cache-Control"] == "no-store"
    running = assert_ok(admin.post(f"{JOBS}/sleeper/actions/run"))["run_id"]
    cancel = admin.post(f"{RUNS}/{running}/actions/cancel")
    assert "output" in assert_ok(cancel)
    assert cancel.headers["Cache-Control"] == "no-store"
    wait_for_final(admin, running)


def test_unknown_run_is_404(admin: AuthActions) -> None:
    assert_error(admin.get(f"{RUNS}/nope"), 404, "RUN_NOT_FOUND")
    assert_error(admin.post(f"{RUNS}/nope/actions/cancel"), 404, "RUN_NOT_FOUND")


def test_viewer_may_read_runs_but_not_cancel(auth: AuthActions) -> None:
    auth.login("viewer")
    assert_ok(auth.get(f"{JOBS}/report/runs"))
    assert_error(auth.post(f"{RUNS}/nope/actions/cancel"), 403, "PERMISSION_DENIED")


def test_job_preview_gives_count_times(admin: AuthActions) -> None:
    data = assert_ok(admin.get(f"{JOBS}/report/preview?count=7"))
    assert len(data["next_run_times"]) == 7
    assert data["trigger"] == "cron[0 30 2 * * mon-fri 2099] Asia/Shanghai"
    assert data["timezone"] == "Asia/Shanghai"
    assert data["description"]
    assert len(assert_ok(admin.get(f"{JOBS}/report/preview"))["next_run_times"]) == 5


@pytest.mark.parametrize("count", ["0", "101", "x"])
def test_job_preview_count_is_validated(admin: AuthActions, count: str) -> None:
    body = assert_error(admin.get(f"{JOBS}/report/preview?count={count}"), 400, "VALIDATION_ERROR")
    assert body["details"][0]["field"] == "count"


def test_trigger_preview_validates_like_put_and_changes_nothing(admin: AuthActions) -> None:
    body = {"trigger_type": "cron", "cron_expression": "0 0 9 * * mon", "count": 3}
    data = assert_ok(admin.post(PREVIEW, json=body))
    assert len(data["next_run_times"]) == 3
    assert data["timezone"] == "Asia/Shanghai"  # the configured default
    bad = {"trigger_type": "cron", "cron_expression": "0 0 9 * * funday", "count": 500}
    error = assert_error(admin.post(PREVIEW, json=bad), 400, "VALIDATION_ERROR")
    assert {d["field"] for d in error["details"]} == {"count", "cron_expression"}


def test_trigger_preview_is_a_view_write_needing_csrf(auth: AuthActions) -> None:
    auth.login("viewer")
    body = {"trigger_type": "interval", "minutes": 5}
    assert len(assert_ok(auth.post(PREVIEW, json=body))["next_run_times"]) == 5
    assert_error(auth.post(PREVIEW, json=body, csrf=False), 403, "CSRF_MISSING")


def test_status_names_leader_nodes_and_job_counts(admin: AuthActions, runtime: Runtime) -> None:
    data = assert_ok(admin.get(STATUS))
    assert runtime.scheduler is not None
    assert data["running"] is True
    assert data["leader"] == runtime.scheduler.node_id == data["node"]
    assert [n["is_leader"] for n in data["nodes"]] == [True]
    assert data["jobs"] == {"total": 5, "paused": 0, "running": 0}
    assert data["version"]
    assert data["uptime_s"] >= 0


def test_status_never_409(admin: AuthActions, runtime: Runtime) -> None:
    assert runtime.scheduler is not None
    runtime.scheduler.stop(grace=1)
    runtime.scheduler = None
    data = assert_ok(admin.get(STATUS))
    assert data["running"] is False
    assert data["leader"] is None
    assert data["node"].endswith("-api")


def test_status_needs_login(client: FlaskClient) -> None:
    assert_error(client.get(STATUS), 401, "AUTHENTICATION_REQUIRED")
