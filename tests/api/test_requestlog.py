"""The access log: one line per request with method, path, status, duration, request id, user."""

from __future__ import annotations

import logging

import pytest
from flask.testing import FlaskClient

from gnomon.api import MAX_BODY
from tests.api.conftest import API, JOBS, AuthActions


def access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "gnomon.access"]


def test_each_request_logs_one_line_with_the_request_id_it_answered_with(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="gnomon.access"):
        response = client.get("/healthz", headers={"X-Request-ID": "probe-1"})
    assert response.headers["X-Request-ID"] == "probe-1"
    (record,) = access_records(caplog)
    assert record.levelno == logging.INFO
    fields = {k: getattr(record, k) for k in ("method", "path", "status", "request_id", "user")}
    assert fields == {
        "method": "GET",
        "path": "/healthz",
        "status": 200,
        "request_id": "probe-1",
        "user": None,
    }
    assert record.duration_ms >= 0  # type: ignore[attr-defined]
    assert record.getMessage().startswith("GET /healthz 200 ")
    assert "request_id=probe-1 user=-" in record.getMessage()


def test_a_malformed_request_id_is_replaced_and_the_line_has_the_new_one(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="gnomon.access"):
        response = client.get(f"{API}/nowhere?x=1", headers={"X-Request-ID": "bad id; rm"})
    given = response.headers["X-Request-ID"]
    assert given != "bad id; rm" and len(given) == 32
    (record,) = access_records(caplog)
    assert (record.status, record.request_id) == (404, given)  # type: ignore[attr-defined]
    assert record.path == f"{API}/nowhere?x=1"  # type: ignore[attr-defined]


def test_the_line_names_the_logged_in_user_and_errors_are_logged_too(
    admin: AuthActions, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="gnomon.access"):
        admin.get(JOBS)
        admin.request(
            "PUT", f"{JOBS}/report", data="x" * (MAX_BODY + 1), content_type="application/json"
        )
    ok, too_large = access_records(caplog)
    assert (ok.status, ok.user, ok.method) == (200, "admin", "GET")  # type: ignore[attr-defined]
    assert too_large.status == 413  # type: ignore[attr-defined]
    assert "user=admin" in ok.getMessage()
