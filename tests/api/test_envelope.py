"""The envelope of every answer (SPEC §5.1): success, framework errors, request ids, language."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gnomon.api import MAX_BODY
from gnomon.errors import StoreNotReady
from gnomon.services.runtime import Runtime
from tests.api.conftest import API, JOBS, AuthActions, assert_error, assert_ok


def test_success_envelope_has_flags_message_timestamp_and_data(admin: AuthActions) -> None:
    response = admin.get(JOBS)
    body = response.get_json()
    assert set(body) == {"success", "error", "message", "timestamp", "data"}
    assert body["timestamp"].endswith("+00:00")
    assert assert_ok(response)[0]["id"] == "frozen"


def test_unknown_route_is_not_found_envelope(client: FlaskClient) -> None:
    body = assert_error(client.get(f"{API}/nowhere"), 404, "NOT_FOUND")
    assert body["context"]["url"].endswith("/api/v1/nowhere")
    assert body["context"]["method"] == "GET"
    assert body["context"]["user_id"] is None
    assert "details" not in body


def test_wrong_method_is_405_envelope_with_allow_header(admin: AuthActions) -> None:
    response = admin.request("DELETE", f"{JOBS}/report")
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert "PUT" in response.headers["Allow"]


def test_malformed_json_is_invalid_json(admin: AuthActions) -> None:
    response = admin.request(
        "PUT", f"{JOBS}/report", data="{not json", content_type="application/json"
    )
    assert_error(response, 400, "INVALID_JSON")


def test_body_over_one_mebibyte_is_payload_too_large(admin: AuthActions) -> None:
    response = admin.request(
        "PUT", f"{JOBS}/report", data="x" * (MAX_BODY + 1), content_type="application/json"
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


def test_internal_error_leaks_nothing_and_is_logged_with_its_id(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    def boom() -> None:
        raise RuntimeError("secret database password hunter2")

    app.add_url_rule("/api/v1/test-boom", "test_boom", boom)
    with caplog.at_level(logging.ERROR, logger="gnomon.api.errors"):
        response = app.test_client().get("/api/v1/test-boom")
    body = assert_error(response, 500, "INTERNAL_ERROR")
    assert "hunter2" not in response.get_data(as_text=True)
    assert "RuntimeError" not in response.get_data(as_text=True)
    assert body["recoverable"] is False
    assert body["error_id"] in caplog.text
    assert "hunter2" in caplog.text  # the log keeps the traceback


def test_every_answer_is_nosniff(app: Flask) -> None:
    def boom() -> None:
        raise RuntimeError("boom")

    app.add_url_rule("/api/v1/test-boom", "test_boom", boom)
    anonymous = app.test_client()
    admin = AuthActions(app.test_client())
    assert admin.login("admin").status_code == 200
    answers = {
        200: admin.get(JOBS),
        400: admin.put(f"{JOBS}/report", json={"trigger_type": "never"}),
        401: anonymous.get(JOBS),
        404: admin.get(f"{API}/nowhere"),
        405: admin.request("DELETE", f"{JOBS}/report"),
        500: admin.get("/api/v1/test-boom"),
    }
    for status, answer in answers.items():
        assert answer.status_code == status
        assert answer.headers["X-Content-Type-Options"] == "nosniff", status
    for path in (f"{API}/openapi.json", "/healthz", "/readyz", "/metrics"):
        assert anonymous.get(path).headers["X-Content-Type-Options"] == "nosniff", path


def test_client_request_id_is_echoed(client: FlaskClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123:x_y.z"})
    assert response.headers["X-Request-ID"] == "abc-123:x_y.z"
    error = client.get(f"{API}/nowhere", headers={"X-Request-ID": "trace.42"})
    assert error.get_json()["context"]["request_id"] == "trace.42"


@pytest.mark.parametrize("given", ["-starts-with-dash", "has space", "x" * 129, "bad/slash", ""])
def test_malformed_request_id_is_replaced(client: FlaskClient, given: str) -> None:
    response = client.get(f"{API}/nowhere", headers={"X-Request-ID": given})
    generated = response.headers["X-Request-ID"]
    assert generated != given
    assert len(generated) == 32
    assert response.get_json()["context"]["request_id"] == generated


def test_longest_allowed_request_id_is_kept(client: FlaskClient) -> None:
    given = "a" * 128
    assert client.get("/healthz", headers={"X-Request-ID": given}).headers["X-Request-ID"] == given


def test_messages_follow_accept_language_but_codes_do_not(client: FlaskClient) -> None:
    english = client.get(f"{API}/nowhere", headers={"Accept-Language": "en-US"}).get_json()
    chinese = client.get(
        f"{API}/nowhere", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
    ).get_json()
    assert english["message_code"] == chinese["message_code"] == "NOT_FOUND"
    assert english["message"] == "No such resource."
    assert chinese["message"] == "资源不存在。"
    assert chinese["suggestions"] == ["请检查 URL。"]


def test_server_language_zh_is_the_default(runtime: Runtime) -> None:
    from gnomon.api import create_app

    settings = runtime.config.settings.server.model_copy(update={"language": "zh"})
    client = create_app(runtime, settings).test_client()
    assert client.get(f"{JOBS}").get_json()["message"] == "请先登录。"
    english = client.get(JOBS, headers={"Accept-Language": "en"}).get_json()
    assert english["message"] == "Log in first."


def test_zh_job_description_and_success_message(auth: AuthActions) -> None:
    auth.login("admin")
    body = auth.get(f"{JOBS}/report", headers={"Accept-Language": "zh"}).get_json()
    assert body["message"] == "成功"
    assert (
        body["data"]["trigger_description"]
        != auth.get(f"{JOBS}/report").get_json()["data"]["trigger_description"]
    )


def test_chinese_is_sent_as_utf8_text(client: FlaskClient) -> None:
    response = client.get(f"{API}/nowhere", headers={"Accept-Language": "zh"})
    assert response.content_type.startswith("application/json")
    assert "资源不存在" in response.get_data(as_text=True)


def test_healthz_needs_no_login(client: FlaskClient) -> None:
    assert assert_ok(client.get("/healthz")) == {"status": "ok"}


def test_readyz_is_ok_when_the_store_is_ready(client: FlaskClient) -> None:
    assert assert_ok(client.get("/readyz")) == {"status": "ready"}


def test_readyz_is_503_when_the_store_is_not(
    client: FlaskClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def not_ready() -> None:
        raise StoreNotReady("connection refused to db.internal:5432")

    monkeypatch.setattr(runtime.store, "check_ready", not_ready)
    response = client.get("/readyz")
    body = assert_error(response, 503, "STORE_NOT_READY")
    assert "db.internal" not in body["message"]


def test_readyz_is_503_on_any_store_failure(
    client: FlaskClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(runtime.store, "check_ready", broken)
    assert_error(client.get("/readyz"), 503, "STORE_NOT_READY")
