"""The audit trail records logins, failed logins, logouts and session ends made over the API."""

from __future__ import annotations

from gnomon.domain import AuditEntry
from gnomon.services.runtime import Runtime
from tests.api.conftest import API, PASSWORDS, AuthActions, assert_error, assert_ok


def entries(runtime: Runtime, action: str) -> list[AuditEntry]:
    return [e for e in runtime.store.list_audit(limit=500) if e.action == action]


def test_a_login_is_audited_with_who_and_from_where(auth: AuthActions, runtime: Runtime) -> None:
    assert auth.login("viewer").status_code == 200
    [entry] = entries(runtime, "auth.login")
    viewer = runtime.users.get_user("viewer")
    assert (entry.actor, entry.user_id, entry.target) == ("viewer", viewer.id, "user:viewer")
    assert entry.client == "127.0.0.1"


def test_a_failed_login_on_an_account_is_audited_without_the_password(
    auth: AuthActions, runtime: Runtime
) -> None:
    assert_error(auth.login("admin", "wrong-password"), 401, "INVALID_CREDENTIALS")
    [entry] = entries(runtime, "auth.login_failed")
    assert (entry.actor, entry.user_id, entry.target) == ("anonymous", None, "user:admin")
    assert entry.client == "127.0.0.1"
    assert entry.after == {"reason": "bad_password"}
    assert "wrong-password" not in repr(entry)


def test_a_login_of_a_disabled_account_is_audited(auth: AuthActions, runtime: Runtime) -> None:
    runtime.users.set_disabled("viewer")
    assert_error(auth.login("viewer"), 403, "ACCOUNT_DISABLED")
    [entry] = entries(runtime, "auth.login_failed")
    assert entry.target == "user:viewer" and entry.after == {"reason": "account_disabled"}


def test_a_failed_login_on_an_unknown_username_leaves_no_entry(
    auth: AuthActions, runtime: Runtime
) -> None:
    before = len(runtime.store.list_audit(limit=500))
    assert_error(auth.login("admin-password", "whatever-pass"), 401, "INVALID_CREDENTIALS")
    assert len(runtime.store.list_audit(limit=500)) == before


def test_logout_is_audited(admin: AuthActions, runtime: Runtime) -> None:
    assert_ok(admin.logout())
    [entry] = entries(runtime, "auth.logout")
    assert (entry.actor, entry.target, entry.client) == ("admin", "user:admin", "127.0.0.1")


def test_ending_a_users_sessions_is_audited_and_listed(admin: AuthActions) -> None:
    assert_ok(admin.post(f"{API}/auth/users/viewer/actions/end-sessions"))
    page = assert_ok(admin.get(f"{API}/scheduler/audit"))
    latest = page["items"][0]
    assert latest["action"] == "user.end_sessions" and latest["target"] == "user:viewer"
    assert latest["actor"] == "admin" and latest["client"] == "127.0.0.1"


def test_user_changes_name_the_acting_service_caller(runtime: Runtime) -> None:
    runtime.users.set_password("viewer", PASSWORDS["viewer"] + "2")
    runtime.users.set_disabled("viewer")
    actions = [(e.action, e.actor, e.target) for e in runtime.store.list_audit(limit=3)]
    assert actions[:2] == [
        ("user.disable", "system", "user:viewer"),
        ("user.set_password", "system", "user:viewer"),
    ]
    [disabled] = entries(runtime, "user.disable")
    assert (disabled.before, disabled.after) == ({"disabled": False}, {"disabled": True})
