"""The audit trail, /metrics and the OpenAPI document with its docs page."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from tests.api.conftest import API, JOBS, AuthActions, assert_error, assert_ok

AUDIT = f"{API}/scheduler/audit"


def test_audit_records_who_what_when_where(admin: AuthActions) -> None:
    assert_ok(admin.post(f"{JOBS}/report/actions/pause"))
    page = assert_ok(admin.get(AUDIT))
    entry = page["items"][0]
    assert entry["action"] == "job.pause" and entry["target"] == "report"
    assert entry["actor"] == "admin" and entry["user_id"] == 1
    assert entry["client"] == "127.0.0.1" and entry["at"]
    assert {"before", "after"} <= set(entry)


def test_audit_pages_with_before_id(admin: AuthActions) -> None:
    for action in ("pause", "resume", "pause"):
        assert_ok(admin.post(f"{JOBS}/report/actions/{action}"))
    first = assert_ok(admin.get(f"{AUDIT}?limit=2"))
    assert len(first["items"]) == 2 and first["next_before_id"] == first["items"][-1]["id"]
    second = assert_ok(admin.get(f"{AUDIT}?limit=2&before_id={first['next_before_id']}"))
    assert all(e["id"] < first["next_before_id"] for e in second["items"])


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=x", "before_id=0"])
def test_audit_query_is_validated(admin: AuthActions, query: str) -> None:
    assert_error(admin.get(f"{AUDIT}?{query}"), 400, "VALIDATION_ERROR")


def test_audit_is_admin_only(auth: AuthActions, client: FlaskClient) -> None:
    assert_error(client.get(AUDIT), 401, "AUTHENTICATION_REQUIRED")
    assert auth.login("viewer").status_code == 200
    assert_error(auth.get(AUDIT), 403, "PERMISSION_DENIED")


def test_metrics_need_no_login_and_are_prometheus_text(client: FlaskClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    text = response.get_data(as_text=True)
    for name in ("gnomon_fire_lag_seconds", "gnomon_scheduler_leader", "gnomon_queue_depth"):
        assert f"# TYPE {name}" in text
    assert "gnomon_nodes 1.0" in text


def test_openapi_document_is_public_and_valid(client: FlaskClient) -> None:
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    validate(doc)
    assert doc["openapi"].startswith("3.")
    put = doc["paths"]["/api/v1/scheduler/jobs/{job_id}"]["put"]
    assert put["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "TriggerInput"
    )
    schemas = doc["components"]["schemas"]
    assert {"ErrorEnvelope", "Job", "Run", "JobEnvelope"} <= set(schemas)


def test_openapi_documents_every_route(app: Flask, client: FlaskClient) -> None:
    doc = client.get(f"{API}/openapi.json").get_json()
    undocumented = {f"{API}/openapi.json", "/static/<path:filename>"}
    undocumented |= {f"{API}/docs", f"{API}/docs.js", f"{API}/docs.css"}
    for rule in app.url_map.iter_rules():
        if rule.rule in undocumented:
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        methods = {m.lower() for m in rule.methods or ()} - {"head", "options"}
        assert methods <= set(doc["paths"].get(path, {})), path


def test_docs_page_loads_nothing_from_elsewhere_and_runs_no_inline_code(
    client: FlaskClient,
) -> None:
    response = client.get(f"{API}/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert '<script src="docs.js" defer></script>' in page
    assert '<link rel="stylesheet" href="docs.css">' in page
    assert "<script>" not in page and "<style>" not in page and " on" not in page
    assert "https://" not in page
    policy = response.headers["Content-Security-Policy"]
    for directive in (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
    ):
        assert directive in policy
    assert "unsafe-inline" not in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_docs_script_and_stylesheet_are_served_with_their_types(client: FlaskClient) -> None:
    script = client.get(f"{API}/docs.js")
    assert script.status_code == 200 and script.mimetype == "text/javascript"
    code = script.get_data(as_text=True)
    assert 'fetch("openapi.json")' in code
    # Nodes and text only: nothing from the document is parsed as HTML.
    assert "innerHTML" not in code and "onsubmit" not in code and "insertAdjacent" not in code
    stylesheet = client.get(f"{API}/docs.css")
    assert stylesheet.status_code == 200 and stylesheet.mimetype == "text/css"
    for response in (script, stylesheet):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
