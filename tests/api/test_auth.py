"""Session login, CSRF (header only, checked after authentication), cookies and throttling."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gnomon.api import create_app
from gnomon.api.state import state
from gnomon.domain import Role
from gnomon.services.login_throttle import LoginThrottle
from gnomon.services.runtime import Runtime
from gnomon.services.users import UserService
from tests.api.conftest import (
    API,
    CHEAP_HASHER,
    JOBS,
    PASSWORDS,
    AuthActions,
    assert_error,
    assert_ok,
)
from tests.e2e.pg import fresh_database

RuntimeFactory = Callable[[Path], Runtime]

LOGIN = f"{API}/auth/login"


def test_csrf_token_sets_an_httponly_lax_session_cookie(client: FlaskClient) -> None:
    response = client.get(f"{API}/auth/csrf-token")
    assert assert_ok(response)["csrf_token"]
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("gnomon_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_cookie_is_secure_over_https_when_auto(client: FlaskClient) -> None:
    response = client.get(f"{API}/auth/csrf-token", base_url="https://localhost")
    assert "Secure" in response.headers["Set-Cookie"]


def test_login_answers_user_and_fresh_csrf_token(auth: AuthActions) -> None:
    before = auth.fetch_csrf()
    response = auth.client.post(
        LOGIN,
        json={"username": "viewer", "password": PASSWORDS["viewer"]},
        headers={"X-CSRFToken": before},
    )
    data = assert_ok(response)
    assert data["user"]["username"] == "viewer"
    assert data["user"]["role"] == "viewer"
    assert data["user"]["permissions"] == ["view"]
    assert data["csrf_token"] and data["csrf_token"] != before
    assert "password_hash" not in data["user"]


def test_me_names_the_logged_in_user(auth: AuthActions) -> None:
    assert_ok(auth.login("admin"))
    data = assert_ok(auth.get(f"{API}/auth/me"))
    assert data["username"] == "admin"
    assert data["permissions"] == ["admin", "view"]


def test_me_without_login_is_401(client: FlaskClient) -> None:
    body = assert_error(client.get(f"{API}/auth/me"), 401, "AUTHENTICATION_REQUIRED")
    assert body["category"] == "authentication"


def test_errors_of_a_logged_in_user_carry_the_user_id(auth: AuthActions, runtime: Runtime) -> None:
    assert_ok(auth.login("viewer"))
    body = assert_error(auth.get(f"{API}/nowhere"), 404, "NOT_FOUND")
    assert body["context"]["user_id"] == runtime.users.get_user("viewer").id


def test_login_needs_the_csrf_header(client: FlaskClient) -> None:
    token = assert_ok(client.get(f"{API}/auth/csrf-token"))["csrf_token"]
    credentials = {"username": "admin", "password": PASSWORDS["admin"]}
    assert_error(client.post(LOGIN, json=credentials), 403, "CSRF_MISSING")
    # The same request with the token the session holds is let in: only the header was missing.
    assert_ok(client.post(LOGIN, json=credentials, headers={"X-CSRFToken": token}))


def test_csrf_token_in_json_body_is_never_accepted(auth: AuthActions) -> None:
    token = auth.fetch_csrf()
    response = auth.client.post(
        LOGIN, json={"username": "admin", "password": PASSWORDS["admin"], "csrf_token": token}
    )
    assert_error(response, 403, "CSRF_MISSING")


def test_csrf_token_in_form_field_is_never_accepted(auth: AuthActions) -> None:
    token = auth.fetch_csrf()
    response = auth.client.post(
        LOGIN, data={"username": "admin", "password": PASSWORDS["admin"], "csrf_token": token}
    )
    assert_error(response, 403, "CSRF_MISSING")


def test_wrong_csrf_token_is_invalid(auth: AuthActions) -> None:
    auth.fetch_csrf()
    response = auth.client.post(
        LOGIN,
        json={"username": "admin", "password": PASSWORDS["admin"]},
        headers={"X-CSRFToken": "not-a-token"},
    )
    assert_error(response, 403, "CSRF_INVALID")


def test_csrf_token_of_another_session_is_invalid(app: Flask, auth: AuthActions) -> None:
    foreign = AuthActions(app.test_client()).fetch_csrf()
    auth.fetch_csrf()
    response = auth.client.post(
        LOGIN,
        json={"username": "admin", "password": PASSWORDS["admin"]},
        headers={"X-CSRFToken": foreign},
    )
    assert_error(response, 403, "CSRF_INVALID")


def test_stale_csrf_token_is_expired(app: Flask, admin: AuthActions) -> None:
    app.config["WTF_CSRF_TIME_LIMIT"] = -1  # every token is already too old
    assert_error(admin.post(f"{JOBS}/report/actions/pause"), 403, "CSRF_EXPIRED")


def test_cross_origin_write_over_https_is_csrf_invalid(client: FlaskClient) -> None:
    https = "https://localhost"
    token = client.get(f"{API}/auth/csrf-token", base_url=https).get_json()["data"]["csrf_token"]
    response = client.post(
        LOGIN,
        json={"username": "admin", "password": PASSWORDS["admin"]},
        headers={"X-CSRFToken": token, "Origin": "https://evil.example"},
        base_url=https,
    )
    assert_error(response, 403, "CSRF_INVALID")
    same = client.post(
        LOGIN,
        json={"username": "admin", "password": PASSWORDS["admin"]},
        headers={"X-CSRFToken": token, "Origin": https},
        base_url=https,
    )
    assert_ok(same)


def test_wrong_password_is_invalid_credentials(auth: AuthActions) -> None:
    body = assert_error(auth.login("admin", "wrong-password"), 401, "INVALID_CREDENTIALS")
    assert body["context"]["user_id"] is None


def test_unknown_user_is_invalid_credentials(auth: AuthActions) -> None:
    assert_error(auth.login("nobody", "whatever-pass"), 401, "INVALID_CREDENTIALS")


def test_disabled_user_is_account_disabled(auth: AuthActions, runtime: Runtime) -> None:
    runtime.users.set_disabled("viewer")
    assert_error(auth.login("viewer"), 403, "ACCOUNT_DISABLED")


def test_login_body_is_validated(auth: AuthActions) -> None:
    token = auth.fetch_csrf()
    response = auth.client.post(
        LOGIN, json={"username": 3, "extra": 1}, headers={"X-CSRFToken": token}
    )
    body = assert_error(response, 400, "VALIDATION_ERROR")
    fields = {d["field"] for d in body["details"]}
    assert fields == {"username", "password", "extra"}


def test_logout_ends_the_session(auth: AuthActions) -> None:
    assert_ok(auth.login("admin"))
    assert_ok(auth.logout())
    assert_error(auth.get(f"{API}/auth/me"), 401, "AUTHENTICATION_REQUIRED")


def test_logout_needs_csrf(auth: AuthActions) -> None:
    assert_ok(auth.login("admin"))
    assert_error(auth.request("POST", f"{API}/auth/logout", csrf=False), 403, "CSRF_MISSING")


def test_disabling_a_user_ends_its_session(auth: AuthActions, runtime: Runtime) -> None:
    assert_ok(auth.login("viewer"))
    assert_ok(auth.get(JOBS))
    runtime.users.set_disabled("viewer")
    assert_error(auth.get(JOBS), 401, "AUTHENTICATION_REQUIRED")


def test_password_change_ends_older_sessions(auth: AuthActions, runtime: Runtime) -> None:
    assert_ok(auth.login("viewer"))
    assert auth.get(f"{API}/auth/me").status_code == 200
    runtime.users.set_password("viewer", "another-password")
    assert_error(auth.get(f"{API}/auth/me"), 401, "AUTHENTICATION_REQUIRED")
    assert auth.login("viewer", "another-password").status_code == 200


def test_eleventh_failed_login_within_a_minute_is_rate_limited(auth: AuthActions) -> None:
    for _ in range(10):
        assert_error(auth.login("admin", "wrong-password"), 401, "INVALID_CREDENTIALS")
    response = auth.login("admin", PASSWORDS["admin"])
    body = assert_error(response, 429, "RATE_LIMITED")
    assert body["category"] == "security"
    assert int(response.headers["Retry-After"]) >= 1
    # Other usernames from the same address are counted apart.
    assert auth.login("viewer").status_code == 200


def test_rate_limit_window_slides(app: Flask, auth: AuthActions, runtime: Runtime) -> None:
    now = [datetime(2030, 1, 1, tzinfo=UTC)]
    throttle = LoginThrottle(runtime.store, max_failures=2, window_s=60, clock=lambda: now[0])
    app.extensions["gnomon"].throttle = throttle
    for _ in range(2):
        assert_error(auth.login("admin", "wrong-password"), 401, "INVALID_CREDENTIALS")
        now[0] += timedelta(seconds=10)
    response = auth.login("admin")
    assert_error(response, 429, "RATE_LIMITED")
    assert response.headers["Retry-After"] == "40"  # when the first failure leaves the window
    now[0] += timedelta(seconds=40)
    assert auth.login("admin").status_code == 200


def test_rate_limit_holds_across_the_apps_of_a_store(auth: AuthActions, runtime: Runtime) -> None:
    # Another app on the same store, with its own memory, in this process. (Two server
    # processes: tests/e2e/test_serve_api.py.)
    other = AuthActions(create_app(runtime).test_client())
    for actions in [auth, other] * 5:
        assert_error(actions.login("admin", "wrong-password"), 401, "INVALID_CREDENTIALS")
    assert_error(auth.login("admin"), 429, "RATE_LIMITED")
    assert_error(other.login("admin"), 429, "RATE_LIMITED")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new store for one test: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'throttle.db'}"
        return
    with fresh_database("gnomon_api") as url:
        yield url


def test_concurrent_wrong_passwords_get_exactly_the_allowed_failures(
    store_url: str, write_config: Callable[[str], Path], runtime_factory: RuntimeFactory
) -> None:
    # Each attempt is counted and checked in one store transaction: 40 at once, from 40 API
    # threads, let exactly 10 try a password. (With hash slots enough for all of them: here
    # the store's count alone decides.)
    runtime = runtime_factory(write_config(f'[store]\nurl = "{store_url}"\n'))
    runtime.users = UserService(runtime.store, hasher=CHEAP_HASHER)
    runtime.users.create_user("admin", Role.ADMIN, PASSWORDS["admin"])
    settings = runtime.config.settings.server.model_copy(update={"login_max_concurrent_hashes": 64})
    app = create_app(runtime, settings)
    clients = [AuthActions(app.test_client()) for _ in range(40)]
    tokens = [actions.fetch_csrf() for actions in clients]
    start = threading.Barrier(len(clients))

    def attempt(actions: AuthActions, token: str) -> int:
        start.wait()
        response = actions.client.post(
            LOGIN,
            json={"username": "admin", "password": "wrong-password"},
            headers={"X-CSRFToken": token},
        )
        return response.status_code

    with ThreadPoolExecutor(len(clients)) as pool:
        statuses = Counter(pool.map(attempt, clients, tokens))
    assert statuses == {401: 10, 429: 30}
    assert_error(clients[0].login("admin"), 429, "RATE_LIMITED")


def test_rate_limit_follows_the_server_settings(runtime: Runtime) -> None:
    settings = runtime.config.settings.server.model_copy(
        update={"login_max_failures": 3, "login_window": 600}
    )
    auth = AuthActions(create_app(runtime, settings).test_client())
    for _ in range(3):
        assert_error(auth.login("admin", "wrong-password"), 401, "INVALID_CREDENTIALS")
    response = auth.login("admin")
    assert_error(response, 429, "RATE_LIMITED")
    assert 590 <= int(response.headers["Retry-After"]) <= 600


def test_rate_limit_message_is_translated(app: Flask, auth: AuthActions) -> None:
    with app.test_request_context():
        state().throttle = LoginThrottle(state().runtime.store, max_failures=1)
    assert_error(auth.login("admin", "wrong-password"), 401, "INVALID_CREDENTIALS")
    token = auth.fetch_csrf()
    response = auth.client.post(
        LOGIN,
        json={"username": "admin", "password": "wrong-password"},
        headers={"X-CSRFToken": token, "Accept-Language": "zh"},
    )
    body = assert_error(response, 429, "RATE_LIMITED")
    assert "秒后重试" in body["message"]


@pytest.mark.parametrize("path", ["/healthz", "/readyz", f"{API}/auth/csrf-token"])
def test_open_endpoints_need_no_login(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 200
