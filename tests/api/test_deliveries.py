"""GET /api/v1/scheduler/deliveries: the notification outbox, for admins only."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from gnomon.domain import Alerting, Event, Route, RunStatus, RunUpdate
from gnomon.services.runtime import Runtime
from tests.api.conftest import API, AuthActions, assert_error, assert_ok
from tests.engine.targets import new_run

DELIVERIES = f"{API}/scheduler/deliveries"
ROUTES = (Route("ops", frozenset({Event.FAILED})), Route("mail", frozenset({Event.FAILED})))


def failed_runs(runtime: Runtime, job_id: str, count: int) -> list[str]:
    """Runs recorded failed with two channels told: two deliveries each. Each runs on the
    fixture's own scheduler node until then, so that its orphan check (a running run of no
    live node) cannot interrupt it first."""
    assert runtime.scheduler is not None
    node = runtime.scheduler.node_id
    ids = []
    for _ in range(count):
        run = runtime.store.add_run(new_run(job_id, scheduled_for=None, node=node))
        alerting = Alerting(job_id, ROUTES)
        runtime.store.update_runs([RunUpdate(run.id, RunStatus.FAILED, alerting=alerting)])
        ids.append(run.id)
    return ids


def test_admins_list_deliveries_newest_first_with_their_attempts(
    admin: AuthActions, runtime: Runtime
) -> None:
    (run_id,) = failed_runs(runtime, "report", 1)
    page = assert_ok(admin.get(DELIVERIES))
    assert page["next_cursor"] is None
    assert {item["channel"] for item in page["items"]} == {"ops", "mail"}
    item = page["items"][0]
    assert item["event"] == "failed" and item["job_id"] == "report"
    assert item["run_id"] == run_id
    assert item["status"] in {"pending", "delivered", "failed"}
    assert {"created_at", "next_attempt_at", "finished_at", "attempt_count"} <= set(item)
    assert isinstance(item["attempts"], list)


def test_deliveries_are_filtered_and_paged(admin: AuthActions, runtime: Runtime) -> None:
    failed_runs(runtime, "report", 3)
    failed_runs(runtime, "sleeper", 1)
    assert len(assert_ok(admin.get(f"{DELIVERIES}?job_id=report"))["items"]) == 6
    mail = assert_ok(admin.get(f"{DELIVERIES}?channel=mail&job_id=sleeper"))["items"]
    assert [(d["channel"], d["job_id"]) for d in mail] == [("mail", "sleeper")]
    assert assert_ok(admin.get(f"{DELIVERIES}?status=delivered&channel=nope"))["items"] == []
    seen, cursor = [], None
    while True:
        query = f"?limit=3&cursor={cursor}" if cursor else "?limit=3"
        page = assert_ok(admin.get(DELIVERIES + query))
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 8


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=501", "status=sent", "cursor=nonsense", "status="]
)
def test_the_query_is_validated(admin: AuthActions, query: str) -> None:
    assert_error(admin.get(f"{DELIVERIES}?{query}"), 400, "VALIDATION_ERROR")


def test_deliveries_are_for_admins_only(auth: AuthActions, client: FlaskClient) -> None:
    assert_error(client.get(DELIVERIES), 401, "AUTHENTICATION_REQUIRED")
    assert auth.login("viewer").status_code == 200
    assert_error(auth.get(DELIVERIES), 403, "PERMISSION_DENIED")


def test_the_openapi_document_describes_the_outbox(client: FlaskClient) -> None:
    doc = client.get(f"{API}/openapi.json").get_json()
    operation = doc["paths"]["/api/v1/scheduler/deliveries"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"job_id", "channel", "status"}
    assert "Delivery" in doc["components"]["schemas"]
