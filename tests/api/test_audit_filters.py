"""GET /scheduler/audit filtered by actor, action, job (or any target) and time range, paged
with before_id under the filter; every filter checked and named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gnomon.domain import AuditEntry
from gnomon.services.runtime import Runtime
from tests.api.conftest import API, JOBS, AuthActions, assert_error, assert_ok

AUDIT = f"{API}/scheduler/audit"
T0 = datetime(2026, 6, 1, tzinfo=UTC)


def add_entry(runtime: Runtime, at: datetime, actor: str, action: str, target: str) -> None:
    runtime.store.add_audit(AuditEntry(id=None, at=at, actor=actor, action=action, target=target))


def test_a_jobs_trail_holds_only_that_jobs_entries(admin: AuthActions) -> None:
    for job, action in (("report", "pause"), ("sleeper", "pause"), ("report", "resume")):
        assert_ok(admin.post(f"{JOBS}/{job}/actions/{action}"))
    items = assert_ok(admin.get(AUDIT, query_string={"job_id": "report"}))["items"]
    assert [(e["action"], e["target"]) for e in items] == [
        ("job.resume", "report"),
        ("job.pause", "report"),
    ]
    assert items[0]["before"]["paused"] is True and items[0]["after"]["paused"] is False


def test_filters_combine_and_page_under_the_filter(admin: AuthActions, runtime: Runtime) -> None:
    for minute in range(5):
        add_entry(runtime, T0 + timedelta(minutes=minute), "alice", "job.pause", "report")
        add_entry(runtime, T0 + timedelta(minutes=minute), "bob", "job.pause", "report")
    add_entry(runtime, T0, "alice", "token.create", "token:1")
    query = {
        "actor": "alice",
        "action": "job.pause,job.resume",
        "since": "2026-06-01T00:01:00Z",
        "until": "2026-06-01T08:04:00+08:00",
        "limit": 2,
    }
    first = assert_ok(admin.get(AUDIT, query_string=query))
    assert [e["at"] for e in first["items"]] == [
        "2026-06-01T00:03:00+00:00",
        "2026-06-01T00:02:00+00:00",
    ]
    assert {e["actor"] for e in first["items"]} == {"alice"}
    query["before_id"] = first["next_before_id"]
    second = assert_ok(admin.get(AUDIT, query_string=query))
    assert [e["at"] for e in second["items"]] == ["2026-06-01T00:01:00+00:00"]
    assert second["next_before_id"] is None


def test_action_may_be_repeated_and_target_names_a_user_or_token(
    admin: AuthActions, runtime: Runtime
) -> None:
    add_entry(runtime, T0, "alice", "token.create", "token:7")
    add_entry(runtime, T0, "alice", "token.revoke", "token:7")
    add_entry(runtime, T0, "alice", "user.create", "user:carol")
    found = assert_ok(admin.get(f"{AUDIT}?action=token.create&action=token.revoke&target=token:7"))[
        "items"
    ]
    assert [e["action"] for e in found] == ["token.revoke", "token.create"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("action=job.explode", "action"),
        ("action=", "action"),
        ("action=job.pause,,job.resume", "action"),
        ("since=yesterday", "since"),
        ("until=2026-06-01", "until"),
        ("since=2026-06-02T00:00:00Z&until=2026-06-01T00:00:00Z", "until"),
        ("job_id=report&target=user:admin", "target"),
        ("actor=" + "x" * 151, "actor"),
        ("job_id=" + "j" * 65, "job_id"),
    ],
)
def test_each_bad_filter_is_named(admin: AuthActions, query: str, field: str) -> None:
    body = assert_error(admin.get(f"{AUDIT}?{query}"), 400, "VALIDATION_ERROR")
    assert [detail["field"] for detail in body["details"]] == [field]


def test_filters_stay_admin_only(auth: AuthActions) -> None:
    auth.login("viewer")
    assert_error(auth.get(AUDIT, query_string={"job_id": "report"}), 403, "PERMISSION_DENIED")
