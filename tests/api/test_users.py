"""Users over the API, for admins: list, create, change role, disable and enable, set a
password, with every field checked and named; the last enabled admin is kept; viewers get
403 on every one of them."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gnomon.services.runtime import Runtime
from tests.api.conftest import API, AuthActions, assert_error, assert_ok

USERS = f"{API}/auth/users"


def test_list_shows_every_user_without_secrets(admin: AuthActions) -> None:
    users = assert_ok(admin.get(USERS))
    assert [(u["username"], u["role"], u["disabled"]) for u in users] == [
        ("admin", "admin", False),
        ("viewer", "viewer", False),
    ]
    assert users[0]["permissions"] == ["admin", "view"] and users[0]["created_at"]
    assert not any("hash" in key or key == "password" for u in users for key in u)


def test_create_then_log_in_as_the_new_user(admin: AuthActions, app: Flask) -> None:
    response = admin.post(USERS, {"username": "carol", "role": "viewer", "password": "carol-pass"})
    assert response.status_code == 201
    assert response.get_json()["data"]["role"] == "viewer"
    carol = AuthActions(app.test_client())
    assert carol.login("carol", "carol-pass").status_code == 200
    assert_error(
        admin.post(USERS, {"username": "carol", "role": "admin", "password": "x" * 8}),
        409,
        "USER_EXISTS",
    )


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"role": "viewer", "password": "long-enough"}, ["username"]),
        ({"username": "dan", "role": "root", "password": "long-enough"}, ["role"]),
        ({"username": "dan", "role": "viewer"}, ["password"]),
        ({"username": "dan", "role": "viewer", "password": "short"}, ["password"]),
        ({"username": "d an", "role": "viewer", "password": "long-enough"}, ["username"]),
        ({"username": "dan", "role": "viewer", "password": "long-enough", "x": 1}, ["x"]),
        ({"username": 5, "role": None, "password": 7}, ["username", "role", "password"]),
    ],
)
def test_create_names_each_bad_field(
    admin: AuthActions, body: dict[str, Any], fields: list[str]
) -> None:
    found = assert_error(admin.post(USERS, body), 400, "VALIDATION_ERROR")
    assert sorted(d["field"] for d in found["details"]) == sorted(fields)


def test_role_change_holds_from_the_next_request_and_is_audited(
    admin: AuthActions, app: Flask, runtime: Runtime
) -> None:
    viewer = AuthActions(app.test_client())
    viewer.login("viewer")
    assert_error(viewer.get(USERS), 403, "PERMISSION_DENIED")
    user = assert_ok(admin.request("PATCH", f"{USERS}/viewer", {"role": "admin"}))
    assert user["role"] == "admin" and user["permissions"] == ["admin", "view"]
    assert_ok(viewer.get(USERS))
    entry = runtime.store.list_audit(limit=1)[0]
    assert (entry.action, entry.target, entry.before, entry.after) == (
        "user.set_role",
        "user:viewer",
        {"role": "viewer"},
        {"role": "admin"},
    )


def test_disable_ends_the_sessions_and_enable_lets_the_user_back(
    admin: AuthActions, app: Flask
) -> None:
    viewer = AuthActions(app.test_client())
    viewer.login("viewer")
    assert assert_ok(admin.request("PATCH", f"{USERS}/viewer", {"disabled": True}))["disabled"]
    assert_error(viewer.get(f"{API}/auth/me"), 401, "AUTHENTICATION_REQUIRED")
    assert_error(viewer.login("viewer"), 403, "ACCOUNT_DISABLED")
    assert_ok(admin.request("PATCH", f"{USERS}/viewer", {"disabled": False}))
    assert viewer.login("viewer").status_code == 200


def test_the_last_enabled_admin_can_be_neither_demoted_nor_disabled(admin: AuthActions) -> None:
    assert_error(admin.request("PATCH", f"{USERS}/admin", {"role": "viewer"}), 409, "LAST_ADMIN")
    assert_error(admin.request("PATCH", f"{USERS}/admin", {"disabled": True}), 409, "LAST_ADMIN")
    # With another admin, both are allowed; promoting comes first in one request.
    assert_ok(admin.request("PATCH", f"{USERS}/viewer", {"role": "admin", "disabled": False}))
    assert assert_ok(admin.request("PATCH", f"{USERS}/admin", {"role": "viewer"}))["role"] == (
        "viewer"
    )


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ["body"]),
        ({"role": "owner"}, ["role"]),
        ({"disabled": "yes"}, ["disabled"]),
        ({"disabled": True, "name": "x"}, ["name"]),
    ],
)
def test_update_names_each_bad_field(
    admin: AuthActions, body: dict[str, Any], fields: list[str]
) -> None:
    found = assert_error(admin.request("PATCH", f"{USERS}/viewer", body), 400, "VALIDATION_ERROR")
    assert [d["field"] for d in found["details"]] == fields


def test_update_of_an_unknown_user_is_404(admin: AuthActions) -> None:
    assert_error(
        admin.request("PATCH", f"{USERS}/nobody", {"role": "viewer"}), 404, "USER_NOT_FOUND"
    )


def test_set_password_ends_the_sessions_and_the_new_one_works(
    admin: AuthActions, app: Flask
) -> None:
    viewer = AuthActions(app.test_client())
    viewer.login("viewer")
    url = f"{USERS}/viewer/actions/set-password"
    assert_error(admin.post(url, {"password": "short"}), 400, "VALIDATION_ERROR")
    assert_error(admin.post(url, {}), 400, "VALIDATION_ERROR")
    assert_ok(admin.post(url, {"password": "brand-new-pass"}))
    assert_error(viewer.get(f"{API}/auth/me"), 401, "AUTHENTICATION_REQUIRED")
    assert_error(viewer.login("viewer"), 401, "INVALID_CREDENTIALS")
    assert viewer.login("viewer", "brand-new-pass").status_code == 200


def test_viewers_and_anonymous_may_do_none_of_it(auth: AuthActions, client: FlaskClient) -> None:
    calls = [
        ("GET", USERS, None),
        ("POST", USERS, {"username": "eve", "role": "admin", "password": "eve-password"}),
        ("PATCH", f"{USERS}/viewer", {"role": "admin"}),
        ("POST", f"{USERS}/viewer/actions/set-password", {"password": "eve-password"}),
    ]
    for method, url, body in calls:
        assert_error(client.open(url, method=method, json=body), 401, "AUTHENTICATION_REQUIRED")
    auth.login("viewer")
    for method, url, body in calls:
        assert_error(auth.request(method, url, body), 403, "PERMISSION_DENIED")


def test_session_writes_need_the_csrf_header(admin: AuthActions) -> None:
    response = admin.request("PATCH", f"{USERS}/viewer", {"role": "admin"}, csrf=False)
    assert_error(response, 403, "CSRF_MISSING")
