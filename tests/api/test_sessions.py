"""Sessions end for real: a copied cookie stops working at logout, password change, disabling
and "end sessions", on every app of the store; idle and absolute lifetimes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask

from gnomon.api import create_app
from gnomon.domain import utcnow
from gnomon.services.runtime import Runtime
from gnomon.services.users import UserService
from gnomon.web import register_console
from tests.api.conftest import API, CHEAP_HASHER, JOBS, AuthActions, assert_error, assert_ok

ME = f"{API}/auth/me"
COOKIE = "gnomon_session"


def end_sessions_url(username: str) -> str:
    return f"{API}/auth/users/{username}/actions/end-sessions"


def copy_session(auth: AuthActions, app: Flask) -> AuthActions:
    """Another client holding a copy of `auth`'s session cookie and its CSRF token."""
    cookie = auth.client.get_cookie(COOKIE)
    assert cookie is not None
    thief = AuthActions(app.test_client())
    thief.client.set_cookie(COOKIE, cookie.value)
    thief.csrf_token = auth.csrf_token
    return thief


def assert_session_works(actions: AuthActions) -> None:
    assert_ok(actions.get(ME))
    assert_ok(actions.post(f"{JOBS}/report/actions/pause"))


def assert_session_over(actions: AuthActions) -> None:
    assert_error(actions.get(ME), 401, "AUTHENTICATION_REQUIRED")
    # The copy's CSRF token does not help: authentication is checked first.
    assert_error(actions.post(f"{JOBS}/report/actions/resume"), 401, "AUTHENTICATION_REQUIRED")


def test_a_copied_cookie_stops_working_at_logout(app: Flask, admin: AuthActions) -> None:
    thief = copy_session(admin, app)
    assert_session_works(thief)
    assert_ok(admin.logout())
    assert_session_over(thief)
    assert_session_over(admin)


def test_logout_ends_the_users_sessions_in_other_browsers_too(
    app: Flask, auth: AuthActions
) -> None:
    assert auth.login("admin").status_code == 200
    other = AuthActions(app.test_client())
    assert other.login("admin").status_code == 200
    assert_ok(auth.logout())
    assert_session_over(other)
    assert other.login("admin").status_code == 200
    assert_ok(other.get(ME))


def test_a_copied_cookie_stops_working_at_a_password_change(
    app: Flask, admin: AuthActions, runtime: Runtime
) -> None:
    thief = copy_session(admin, app)
    assert_session_works(thief)
    runtime.users.set_password("admin", "a-new-password")
    assert_session_over(thief)
    assert admin.login("admin", "a-new-password").status_code == 200
    assert_session_over(thief)


def test_enabling_a_disabled_user_again_does_not_revive_its_sessions(
    app: Flask, admin: AuthActions, runtime: Runtime
) -> None:
    thief = copy_session(admin, app)
    runtime.users.set_disabled("admin")
    runtime.users.set_disabled("admin", disabled=False)
    assert_session_over(thief)
    assert_session_over(admin)
    assert admin.login("admin").status_code == 200


def test_an_admin_ends_every_session_of_a_user(app: Flask, admin: AuthActions) -> None:
    viewer = AuthActions(app.test_client())
    assert viewer.login("viewer").status_code == 200
    data = assert_ok(admin.post(end_sessions_url("viewer")))
    assert data["username"] == "viewer"
    assert_error(viewer.get(ME), 401, "AUTHENTICATION_REQUIRED")
    assert_ok(admin.get(ME))  # only the named user's sessions end


def test_ending_sessions_needs_admin_csrf_and_a_known_user(app: Flask, admin: AuthActions) -> None:
    anonymous = app.test_client()
    assert_error(anonymous.post(end_sessions_url("viewer")), 401, "AUTHENTICATION_REQUIRED")
    assert_error(admin.post(end_sessions_url("viewer"), csrf=False), 403, "CSRF_MISSING")
    assert_error(admin.post(end_sessions_url("nobody")), 404, "USER_NOT_FOUND")
    assert_error(admin.post(end_sessions_url("viewer"), json={"x": 1}), 400, "VALIDATION_ERROR")
    viewer = AuthActions(app.test_client())
    assert viewer.login("viewer").status_code == 200
    assert_error(viewer.post(end_sessions_url("admin")), 403, "PERMISSION_DENIED")


def test_another_worker_on_the_store_sees_the_revocation_at_once(
    admin: AuthActions, config_path: Path, runtime_factory: Callable[[Path], Runtime]
) -> None:
    # Another process of the same store: its own runtime, store connections and app memory;
    # it shares only the database and the secret key (the data directory's key file).
    other_runtime = runtime_factory(config_path)
    other_runtime.users = UserService(other_runtime.store, hasher=CHEAP_HASHER)
    other_app = create_app(other_runtime)
    elsewhere = copy_session(admin, other_app)
    assert_session_works(elsewhere)
    assert_ok(admin.logout())
    assert_session_over(elsewhere)


def test_a_session_ends_after_the_idle_timeout(app: Flask, admin: AuthActions) -> None:
    policy = app.extensions["gnomon"].sessions
    now = [utcnow()]
    policy.clock = lambda: now[0]
    now[0] += timedelta(hours=11)
    assert_ok(admin.get(ME))  # a request within the timeout keeps the session alive
    now[0] += timedelta(hours=11)
    assert_ok(admin.get(ME))
    now[0] += timedelta(hours=12, seconds=1)
    assert_error(admin.get(ME), 401, "AUTHENTICATION_REQUIRED")


def test_a_busy_session_still_ends_at_its_maximum_lifetime(app: Flask, admin: AuthActions) -> None:
    policy = app.extensions["gnomon"].sessions
    now = [utcnow()]
    policy.clock = lambda: now[0]
    for _ in range(16):  # a request every 10 hours: 160 hours
        now[0] += timedelta(hours=10)
        assert_ok(admin.get(ME))
    now[0] += timedelta(hours=9)  # 169 hours: past the 7 days (168 h), though not idle long
    assert_error(admin.get(ME), 401, "AUTHENTICATION_REQUIRED")


def test_session_lifetimes_follow_the_server_settings(runtime: Runtime) -> None:
    settings = runtime.config.settings.server.model_copy(
        update={"session_idle_timeout": 600, "session_max_lifetime": 3600}
    )
    app = create_app(runtime, settings)
    assert app.permanent_session_lifetime == timedelta(seconds=600)
    auth = AuthActions(app.test_client())
    assert auth.login("viewer").status_code == 200
    policy = app.extensions["gnomon"].sessions
    start = utcnow()
    policy.clock = lambda: start + timedelta(seconds=601)
    assert_error(auth.get(ME), 401, "AUTHENTICATION_REQUIRED")
    # The maximum lifetime: a request every 500 s keeps a new session from idling, until 3600 s.
    policy.clock = lambda: start
    assert auth.login("viewer").status_code == 200
    for seconds in range(500, 3600, 500):
        policy.clock = lambda seconds=seconds: start + timedelta(seconds=seconds)
        assert_ok(auth.get(ME))
    policy.clock = lambda: start + timedelta(seconds=3601)
    assert_error(auth.get(ME), 401, "AUTHENTICATION_REQUIRED")


def test_a_session_signed_before_generations_existed_is_over(
    app: Flask, admin: AuthActions
) -> None:
    with admin.client.session_transaction() as session:
        del session["gnomon_gen"]
    assert_error(admin.get(ME), 401, "AUTHENTICATION_REQUIRED")


@pytest.fixture
def console(app: Flask) -> Flask:
    register_console(app)
    return app


def test_the_console_sends_a_copied_cookie_to_login_after_logout(
    console: Flask, admin: AuthActions
) -> None:
    thief = copy_session(admin, console)
    assert_ok(admin.logout())
    # The console pages are shells; their scripts ask /auth/me first and go to the login page
    # on a 401 AUTHENTICATION_REQUIRED (static/api.js), which is what the copy now gets.
    assert thief.client.get("/").status_code == 200
    assert_error(thief.get(ME), 401, "AUTHENTICATION_REQUIRED")


def test_an_admin_page_asked_with_an_undecodable_query_sends_to_login_not_a_500(
    console: Flask,
) -> None:
    client = console.test_client()
    response = client.get("/admin/users", environ_overrides={"QUERY_STRING": "next=\xff"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
