"""Who may call the seven contract endpoints: login, then CSRF, then permission (SPEC §5.2)."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from gnomon.services.runtime import Runtime
from tests.api.conftest import JOBS, AuthActions, assert_error, assert_ok

PUT_BODY = {"trigger_type": "cron", "cron_expression": "0 0 4 * * *"}
# (method, url, body, permission); `report` is a quick job (`true`).
CONTRACT = [
    ("GET", JOBS, None, "view"),
    ("GET", f"{JOBS}/report", None, "view"),
    ("PUT", f"{JOBS}/report", PUT_BODY, "admin"),
    ("POST", f"{JOBS}/report/actions/pause", None, "admin"),
    ("POST", f"{JOBS}/report/actions/resume", None, "admin"),
    ("POST", f"{JOBS}/report/actions/run", None, "admin"),
    ("POST", f"{JOBS}/actions/reload", None, "admin"),
]
WRITES = [e for e in CONTRACT if e[3] == "admin"]
IDS = [f"{m} {u.removeprefix(JOBS) or '/'}" for m, u, _, _ in CONTRACT]
WRITE_IDS = [f"{m} {u.removeprefix(JOBS)}" for m, u, _, _ in WRITES]


@pytest.mark.parametrize(("method", "url", "body", "permission"), CONTRACT, ids=IDS)
def test_anonymous_is_401_before_any_csrf_check(
    client: FlaskClient, method: str, url: str, body: Any, permission: str
) -> None:
    response = client.open(url, method=method, json=body)
    assert_error(response, 401, "AUTHENTICATION_REQUIRED")


@pytest.mark.parametrize(("method", "url", "body", "permission"), CONTRACT, ids=IDS)
def test_viewer_reads_but_may_not_write(
    auth: AuthActions, method: str, url: str, body: Any, permission: str
) -> None:
    auth.login("viewer")
    response = auth.request(method, url, json=body)
    if permission == "view":
        assert_ok(response)
    else:
        error = assert_error(response, 403, "PERMISSION_DENIED")
        assert error["context"]["permission"] == "admin"
        assert "'admin'" in error["message"]
        assert error["category"] == "authorization"


@pytest.mark.parametrize(("method", "url", "body", "permission"), CONTRACT, ids=IDS)
def test_admin_with_csrf_gets_200(
    admin: AuthActions, method: str, url: str, body: Any, permission: str
) -> None:
    assert_ok(admin.request(method, url, json=body))


@pytest.mark.parametrize(("method", "url", "body", "permission"), WRITES, ids=WRITE_IDS)
def test_admin_write_without_csrf_header_is_csrf_missing(
    admin: AuthActions, method: str, url: str, body: Any, permission: str
) -> None:
    assert_error(admin.request(method, url, json=body, csrf=False), 403, "CSRF_MISSING")


@pytest.mark.parametrize(("method", "url", "body", "permission"), WRITES, ids=WRITE_IDS)
def test_admin_write_with_wrong_token_is_csrf_invalid(
    admin: AuthActions, method: str, url: str, body: Any, permission: str
) -> None:
    response = admin.request(method, url, json=body, headers={"X-CSRFToken": "forged"})
    assert_error(response, 403, "CSRF_INVALID")


@pytest.mark.parametrize(("method", "url", "body", "permission"), WRITES, ids=WRITE_IDS)
def test_csrf_token_in_json_body_is_refused(
    admin: AuthActions, method: str, url: str, body: Any, permission: str
) -> None:
    payload = {**(body or {}), "csrf_token": admin.csrf_token}
    response = admin.request(method, url, json=payload, csrf=False)
    assert_error(response, 403, "CSRF_MISSING")


@pytest.mark.parametrize(("method", "url", "body", "permission"), WRITES, ids=WRITE_IDS)
def test_viewer_write_without_csrf_is_refused_for_csrf_first(
    auth: AuthActions, method: str, url: str, body: Any, permission: str
) -> None:
    auth.login("viewer")
    assert_error(auth.request(method, url, json=body, csrf=False), 403, "CSRF_MISSING")


@pytest.mark.parametrize(("method", "url", "body", "permission"), CONTRACT, ids=IDS)
def test_no_live_scheduler_is_409(
    admin: AuthActions, runtime: Runtime, method: str, url: str, body: Any, permission: str
) -> None:
    assert runtime.scheduler is not None
    runtime.scheduler.stop(grace=1)  # a clean stop gives the lease up at once
    runtime.scheduler = None
    body_ = assert_error(admin.request(method, url, json=body), 409, "SCHEDULER_NOT_RUNNING")
    assert body_["suggestions"]


@pytest.mark.parametrize(("method", "url", "body", "permission"), CONTRACT[1:6], ids=IDS[1:6])
def test_unknown_job_is_404_on_every_job_endpoint(
    admin: AuthActions, method: str, url: str, body: Any, permission: str
) -> None:
    response = admin.request(method, url.replace("/report", "/no-such-job"), json=body)
    error = assert_error(response, 404, "JOB_NOT_FOUND")
    assert "no-such-job" in error["message"]


@pytest.mark.parametrize(("method", "url", "body", "permission"), WRITES[1:], ids=WRITE_IDS[1:])
def test_post_actions_accept_no_body_or_empty_object(
    admin: AuthActions, method: str, url: str, body: Any, permission: str
) -> None:
    assert_ok(admin.request(method, url))
    if url.endswith("/run"):
        return  # a second run could meet the first one still queued
    assert_ok(admin.request(method, url, json={}))


@pytest.mark.parametrize(("method", "url", "body", "permission"), WRITES[1:], ids=WRITE_IDS[1:])
def test_post_actions_refuse_unknown_keys(
    admin: AuthActions, method: str, url: str, body: Any, permission: str
) -> None:
    error = assert_error(admin.request(method, url, json={"force": True}), 400, "VALIDATION_ERROR")
    assert error["details"] == [
        {"field": "force", "message": "unknown key; this action takes no parameters"}
    ]
