"""The console's Flask side without a browser: shells, headers, static files, translations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

import gnomon.web
from gnomon.services.audit import AUDIT_ACTIONS
from gnomon.web import register_console

STATIC = Path(gnomon.web.__file__).with_name("static")
TEMPLATES = Path(gnomon.web.__file__).with_name("templates")
# Keys built at run time from API values (t(`status.${status}`) …): every value must be covered.
DYNAMIC_KEYS = {
    "status": [
        "queued",
        "running",
        "succeeded",
        "failed",
        "missed",
        "skipped",
        "interrupted",
        "cancelled",
        "timed_out",
    ],
    "state": ["scheduled", "paused", "finished"],
    "audit.action": list(AUDIT_ACTIONS),
    "source": ["scheduled", "manual"],
    "role": ["admin", "viewer"],
    "kind": ["python", "command"],
}


@pytest.fixture
def client() -> FlaskClient:
    app = Flask("console-test")
    register_console(app)
    return app.test_client()


@pytest.mark.parametrize(
    ("path", "script"),
    [
        ("/", "overview.js"),
        ("/jobs", "jobs.js"),
        ("/login", "login.js"),
        ("/jobs/a.b", "job.js"),
        ("/runs", "runs.js"),
        ("/runs/x", "run.js"),
    ],
)
def test_pages_are_shells_loading_their_module_under_a_strict_policy(
    client: FlaskClient, path: str, script: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'<script type="module" src="/console/static/{script}"></script>' in html
    assert "<script>" not in html  # no inline script: the policy would block it anyway
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_job_id_reaches_the_page_escaped(client: FlaskClient) -> None:
    html = client.get("/jobs/%22%3E%3Cb%3E").get_data(as_text=True)
    assert 'data-job-id="&#34;&gt;&lt;b&gt;"' in html
    assert "<b>" not in html


def test_static_files_are_served_locally(client: FlaskClient) -> None:
    for name in ("api.js", "i18n.js", "console.css"):
        response = client.get(f"/console/static/{name}")
        assert response.status_code == 200, name
        response.close()


def _messages() -> dict[str, set[str]]:
    source = (STATIC / "i18n.js").read_text(encoding="utf-8")
    english, chinese = source.split("\n  zh: {\n", 1)
    key = re.compile(r'^\s+"([\w.]+)": ', re.MULTILINE)
    return {"en": set(key.findall(english)), "zh": set(key.findall(chinese))}


def _used_keys() -> set[str]:
    used: set[str] = set()
    for path in TEMPLATES.glob("*.html"):
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r'data-i18n="([\w.]+)"', text))
        used |= set(re.findall(r'"(?:field|type|editor)\.[\w.]+"', text))
        for attrs in re.findall(r'data-i18n-attr="([^"]+)"', text):
            used |= {pair.split(":")[1] for pair in attrs.split(",")}
    for path in STATIC.glob("*.js"):
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r'\bt\("([\w.]+)"', text))
        used |= set(re.findall(r'(?:title|body|label): "([\w.]+)"', text))
    used |= {f"{prefix}.{value}" for prefix, values in DYNAMIC_KEYS.items() for value in values}
    return {key.strip('"') for key in used}


def test_every_ui_string_exists_in_english_and_chinese() -> None:
    messages = _messages()
    assert messages["en"] == messages["zh"]
    missing = _used_keys() - messages["en"]
    assert not missing, f"untranslated keys: {sorted(missing)}"


def test_the_old_home_page_filters_lead_to_the_jobs_table(client: FlaskClient) -> None:
    response = client.get("/?state=paused&q=back+up")
    assert response.status_code == 302
    assert response.headers["Location"] == "/jobs?state=paused&q=back+up"
    assert client.get("/").status_code == 200
