"""API tokens: created by admins, shown once, bearer auth without CSRF, revocable, expiring."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from flask.testing import FlaskClient

from gnomon.api import create_app
from gnomon.domain import utcnow
from gnomon.services.runtime import Runtime
from gnomon.services.tokens import hash_token
from tests.api.conftest import API, JOBS, AuthActions, assert_error, assert_ok

TOKENS = f"{API}/auth/tokens"


def create(admin: AuthActions, **body: object) -> dict[str, object]:
    data = assert_ok(admin.post(TOKENS, json={"name": "ci", **body}), 201)
    assert isinstance(data, dict)
    return data


def bearer(token: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_token_is_shown_once_and_listed_without_secret(admin: AuthActions) -> None:
    made = create(admin, user="viewer", expires_in_days=7)
    assert str(made["token"]).startswith("gnm_") and len(str(made["token"])) > 40
    assert made["user"] == "viewer" and made["expires_at"] and made["revoked_at"] is None
    listed = assert_ok(admin.get(TOKENS))
    assert [t["id"] for t in listed] == [made["id"]]
    assert "token" not in listed[0] and "token_hash" not in listed[0]


def test_token_is_stored_hashed(admin: AuthActions, runtime: Runtime) -> None:
    made = create(admin)
    stored = runtime.store.list_tokens()[0]
    assert stored.token_hash == hash_token(str(made["token"]))
    assert str(made["token"]) not in stored.token_hash


def test_token_answer_is_never_cached(admin: AuthActions) -> None:
    response = admin.post(TOKENS, json={"name": "ci"})
    assert assert_ok(response, 201)["token"]
    assert response.headers["Cache-Control"] == "no-store"


def test_token_defaults_to_the_caller(admin: AuthActions) -> None:
    assert create(admin)["user"] == "admin"


def test_bearer_reads_and_writes_without_csrf(admin: AuthActions, client: FlaskClient) -> None:
    token = create(admin)["token"]
    fresh = client.application.test_client()
    assert len(assert_ok(fresh.get(JOBS, headers=bearer(token)))) == 5
    data = assert_ok(fresh.post(f"{JOBS}/report/actions/pause", headers=bearer(token)))
    assert data["state"] == "paused"


def test_bearer_use_is_recorded(admin: AuthActions, runtime: Runtime) -> None:
    token = create(admin)["token"]
    assert runtime.store.list_tokens()[0].last_used_at is None
    assert_ok(admin.client.application.test_client().get(JOBS, headers=bearer(token)))
    assert runtime.store.list_tokens()[0].last_used_at is not None


def test_viewer_token_cannot_write(admin: AuthActions) -> None:
    token = create(admin, user="viewer")["token"]
    fresh = admin.client.application.test_client()
    response = fresh.post(f"{JOBS}/report/actions/pause", headers=bearer(token))
    assert_error(response, 403, "PERMISSION_DENIED")


def test_revoked_token_is_refused(admin: AuthActions) -> None:
    made = create(admin)
    revoked = assert_ok(admin.request("DELETE", f"{TOKENS}/{made['id']}"))
    assert revoked["revoked_at"]
    fresh = admin.client.application.test_client()
    assert_error(fresh.get(JOBS, headers=bearer(made["token"])), 401, "TOKEN_INVALID")


def test_expired_token_is_refused(admin: AuthActions, runtime: Runtime) -> None:
    past = utcnow() - timedelta(days=2)
    user = runtime.users.get_user("admin")
    runtime.store.add_token(user.id, "old", hash_token("gnm_expired"), past, past)
    fresh = admin.client.application.test_client()
    assert_error(fresh.get(JOBS, headers=bearer("gnm_expired")), 401, "TOKEN_INVALID")


@pytest.mark.parametrize("token", ["gnm_unknown", "not-a-token", ""])
def test_unknown_token_is_refused(client: FlaskClient, token: str) -> None:
    assert_error(client.get(JOBS, headers=bearer(token)), 401, "TOKEN_INVALID")


def test_disabled_users_token_is_refused(admin: AuthActions, runtime: Runtime) -> None:
    token = create(admin, user="viewer")["token"]
    runtime.users.set_disabled("viewer")
    fresh = admin.client.application.test_client()
    assert_error(fresh.get(JOBS, headers=bearer(token)), 403, "ACCOUNT_DISABLED")


def test_a_password_change_and_ended_sessions_leave_tokens_working(
    admin: AuthActions, runtime: Runtime
) -> None:
    # Chosen and documented (README, Security): tokens serve automation, not the person; a
    # password change ends the person's sessions, and tokens are revoked on their own.
    token = create(admin, user="viewer")["token"]
    runtime.users.set_password("viewer", "a-new-password")
    runtime.users.end_sessions("viewer")
    fresh = admin.client.application.test_client()
    assert_ok(fresh.get(JOBS, headers=bearer(token)))


def test_token_endpoints_are_admin_only(auth: AuthActions) -> None:
    assert auth.login("viewer").status_code == 200
    assert_error(auth.get(TOKENS), 403, "PERMISSION_DENIED")
    assert_error(auth.post(TOKENS, json={"name": "x"}), 403, "PERMISSION_DENIED")


def test_token_create_needs_csrf_for_sessions(admin: AuthActions) -> None:
    assert_error(admin.post(TOKENS, json={"name": "x"}, csrf=False), 403, "CSRF_MISSING")


def test_token_create_validates_every_field(admin: AuthActions) -> None:
    body = {"name": "", "expires_in_days": "7", "color": "red"}
    problems = assert_error(admin.post(TOKENS, json=body), 400, "VALIDATION_ERROR")["details"]
    assert {p["field"] for p in problems} == {"name", "expires_in_days", "color"}
    response = admin.post(TOKENS, json={"name": "x", "expires_in_days": 0})
    assert_error(response, 400, "VALIDATION_ERROR")


def test_token_for_unknown_user_is_404(admin: AuthActions) -> None:
    assert_error(admin.post(TOKENS, json={"name": "x", "user": "nobody"}), 404, "USER_NOT_FOUND")


@pytest.mark.parametrize("token_id", ["999", "abc", "0", "99999999999999999999"])
def test_revoking_unknown_token_is_404(admin: AuthActions, token_id: str) -> None:
    assert_error(admin.request("DELETE", f"{TOKENS}/{token_id}"), 404, "TOKEN_NOT_FOUND")


def test_token_changes_are_audited(admin: AuthActions, runtime: Runtime) -> None:
    made = create(admin)
    admin.request("DELETE", f"{TOKENS}/{made['id']}")
    actions = [e.action for e in runtime.store.list_audit()]
    assert actions[:2] == ["token.revoke", "token.create"]


def capped_admin(runtime: Runtime, days: int) -> AuthActions:
    settings = runtime.config.settings.server.model_copy(update={"token_max_lifetime": days})
    auth = AuthActions(create_app(runtime, settings).test_client())
    assert auth.login("admin").status_code == 200
    return auth


def days_left(made: dict[str, object]) -> float:
    expires = datetime.fromisoformat(str(made["expires_at"]))
    return (expires - utcnow()) / timedelta(days=1)


@pytest.mark.parametrize(("asked", "lives"), [(None, 30), (365, 30), (7, 7)])
def test_token_max_lifetime_caps_longer_and_open_ended_expiries(
    runtime: Runtime, asked: int | None, lives: int
) -> None:
    made = create(capped_admin(runtime, 30), expires_in_days=asked)
    assert lives - 0.01 < days_left(made) <= lives
    [stored] = runtime.store.list_tokens()
    assert stored.expires_at == datetime.fromisoformat(str(made["expires_at"]))


def test_without_token_max_lifetime_a_token_may_never_expire(admin: AuthActions) -> None:
    assert create(admin)["expires_at"] is None
