"""The OpenAPI document's links: each names a real operation and parameter, and followed from
a real answer it reaches the resource it promises."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.api.conftest import API, JOBS, AuthActions, assert_ok

#: A body for the targets that need one: a valid new trigger.
BODIES = {"update_job": {"trigger_type": "cron", "cron_expression": "0 0 3 * * * 2099"}}
#: What a follower may meet besides success: the first job listed is locked (update_job), the
#: job already has its one run (run_job), the run has finished (cancel_run).
REFUSALS = {
    "update_job": "JOB_NOT_EDITABLE",
    "run_job": "JOB_ALREADY_RUNNING",
    "cancel_run": "RUN_NOT_CANCELLABLE",
}
ACTIVE = ("queued", "running")


def _operations(doc: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    return {
        operation["operationId"]: (method.upper(), path, operation)
        for path, methods in doc["paths"].items()
        for method, operation in methods.items()
    }


def _links(doc: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(source operation, status, link name, link) for every link of the document."""
    return [
        (source, status, name, link)
        for source, (_, _, operation) in _operations(doc).items()
        for status, answer in operation["responses"].items()
        for name, link in answer.get("links", {}).items()
    ]


def test_every_link_names_an_operation_and_its_parameters(client: FlaskClient) -> None:
    doc = client.get(f"{API}/openapi.json").get_json()
    operations = _operations(doc)
    links = _links(doc)
    assert len(links) >= 30
    for source, _, name, link in links:
        _, _, target = operations[link["operationId"]]
        accepted = {(p["in"], p["name"]) for p in target.get("parameters", [])}
        for key, expression in link["parameters"].items():
            place, _, parameter = key.rpartition(".")
            assert (place or "path", parameter) in accepted, (source, name, key)
            assert expression.startswith(("$response.body#/", "$request.path.")), expression


def _resolve(expression: str, body: Any, path_values: dict[str, str]) -> Any:
    """The value of a runtime expression in an answer (None when its pointer finds nothing)."""
    if expression.startswith("$request.path."):
        return path_values[expression.removeprefix("$request.path.")]
    value = body
    for part in expression.removeprefix("$response.body#/").split("/"):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return None
    return value


def _follow(
    admin: AuthActions, doc: dict[str, Any], source: str, body: Any, path_values: dict[str, str]
) -> int:
    """Send every request the links of `source`'s answer lead to; returns how many."""
    operations = _operations(doc)
    _, _, operation = operations[source]
    followed = 0
    for answer in operation["responses"].values():
        for link in answer.get("links", {}).values():
            target = link["operationId"]
            if target == "end_sessions":
                continue  # it would end the session the rest of the test needs
            method, url, _ = operations[target]
            query: dict[str, Any] = {}
            for key, expression in link["parameters"].items():
                place, _, name = key.rpartition(".")
                value = _resolve(expression, body, path_values)
                if value is None:
                    break
                if place == "query":
                    query[name] = value
                else:
                    url = url.replace(f"{{{name}}}", str(value))
            else:
                response = admin.request(method, url, json=BODIES.get(target), query_string=query)
                if response.status_code >= 300:
                    refusal = response.get_json()["message_code"]
                    assert refusal == REFUSALS.get(target), (url, response.get_json())
                followed += 1
    return followed


def _finished_run(admin: AuthActions) -> None:
    """A manual run of `report` (it runs `true`), waited for: the job runs one at a time."""
    run_id = assert_ok(admin.post(f"{JOBS}/report/actions/run"))["run_id"]
    deadline = time.monotonic() + 10
    while assert_ok(admin.get(f"{API}/scheduler/runs/{run_id}"))["status"] in ACTIVE:
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("source", "method", "url", "path_values"),
    [
        ("list_jobs", "GET", JOBS, {}),
        ("get_job", "GET", f"{JOBS}/report", {"job_id": "report"}),
        ("pause_job", "POST", f"{JOBS}/report/actions/pause", {"job_id": "report"}),
        ("run_job", "POST", f"{JOBS}/report/actions/run", {"job_id": "report"}),
        ("list_runs", "GET", f"{JOBS}/report/runs?limit=1", {"job_id": "report"}),
        ("list_all_runs", "GET", f"{API}/scheduler/runs?limit=1", {}),
        ("get_stats", "GET", f"{API}/scheduler/stats", {}),
        ("reload_jobs", "POST", f"{JOBS}/actions/reload", {}),
        ("create_token", "POST", f"{API}/auth/tokens", {}),
        ("list_tokens", "GET", f"{API}/auth/tokens", {}),
        ("list_audit", "GET", f"{API}/scheduler/audit?limit=1", {}),
    ],
)
def test_links_followed_from_a_real_answer_reach_their_resource(
    admin: AuthActions, source: str, method: str, url: str, path_values: dict[str, str]
) -> None:
    doc = admin.get(f"{API}/openapi.json").get_json()
    for _ in range(2):  # two runs and two tokens (and audit entries): every page has a next one
        _finished_run(admin)
        assert_ok(admin.post(f"{API}/auth/tokens", json={"name": "ci"}), 201)
    body = {"name": "ci"} if source == "create_token" else None
    response = admin.request(method, url, json=body)
    assert 200 <= response.status_code < 300, response.get_json()
    assert _follow(admin, doc, source, response.get_json(), path_values) >= 1
