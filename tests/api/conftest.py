"""API fixtures: a runtime with a live scheduler, the app, a client and an `auth` helper."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from gnomon.api import create_app
from gnomon.domain import Role
from gnomon.services.runtime import Runtime
from gnomon.services.users import UserService

API = "/api/v1"
JOBS = f"{API}/scheduler/jobs"
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORDS = {"admin": "admin-password", "viewer": "viewer-password"}

CONFIG = """
[scheduler]
timezone = "Asia/Shanghai"

[[jobs]]
id = "report"
name = "Nightly report"
command = ["true"]
trigger = { type = "cron", expression = "0 30 2 * * mon-fri 2099" }

[[jobs]]
id = "sleeper"
command = ["sleep", "5"]
trigger = { type = "interval", hours = 1, start_date = "2099-01-01T00:00:00Z" }

[[jobs]]
id = "frozen"
command = ["true"]
locked = true
trigger = { type = "cron", expression = "0 0 3 * * * 2099" }

[[jobs]]
id = "once"
command = ["true"]
trigger = { type = "date", run_date = "2020-01-01T00:00:00" }

[[jobs]]
id = "gnomon.prune_runs"
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
"""


@pytest.fixture
def config_path(write_config: Callable[[str], Path]) -> Path:
    return write_config(CONFIG)


@pytest.fixture
def runtime(config_path: Path, runtime_factory: Callable[[Path], Runtime]) -> Runtime:
    """A migrated SQLite runtime with users admin/viewer and a running scheduler (closed by
    runtime_factory at teardown)."""
    runtime = runtime_factory(config_path)
    # Cheap argon2 parameters: every test logs in, and the default cost dominates run time.
    runtime.users = UserService(runtime.store, hasher=CHEAP_HASHER)
    runtime.users.create_user("admin", Role.ADMIN, PASSWORDS["admin"])
    runtime.users.create_user("viewer", Role.VIEWER, PASSWORDS["viewer"])
    runtime.start_scheduler()
    return runtime


@pytest.fixture
def app(runtime: Runtime) -> Flask:
    return create_app(runtime)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class AuthActions:
    """Logs a client in through the API and sends its CSRF token in X-CSRFToken."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.csrf_token: str | None = None

    def fetch_csrf(self) -> str:
        response = self.client.get(f"{API}/auth/csrf-token")
        assert response.status_code == 200, response.json
        token = response.json["data"]["csrf_token"]
        self.csrf_token = token
        return str(token)

    def login(self, username: str = "admin", password: str | None = None) -> TestResponse:
        token = self.fetch_csrf()
        response = self.client.post(
            f"{API}/auth/login",
            json={"username": username, "password": password or PASSWORDS[username]},
            headers={"X-CSRFToken": token},
        )
        if response.status_code == 200:
            self.csrf_token = response.json["data"]["csrf_token"]
        return response

    def logout(self) -> TestResponse:
        return self.request("POST", f"{API}/auth/logout")

    def request(
        self, method: str, url: str, json: Any = None, csrf: bool = True, **kwargs: Any
    ) -> TestResponse:
        headers = dict(kwargs.pop("headers", {}))
        if csrf and self.csrf_token:
            headers.setdefault("X-CSRFToken", self.csrf_token)
        return self.client.open(url, method=method, json=json, headers=headers, **kwargs)

    def get(self, url: str, **kwargs: Any) -> TestResponse:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, json: Any = None, **kwargs: Any) -> TestResponse:
        return self.request("POST", url, json=json, **kwargs)

    def put(self, url: str, json: Any = None, **kwargs: Any) -> TestResponse:
        return self.request("PUT", url, json=json, **kwargs)


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


@pytest.fixture
def admin(auth: AuthActions) -> AuthActions:
    """A client logged in as admin."""
    assert auth.login("admin").status_code == 200
    return auth


def assert_error(response: TestResponse, status: int, code: str) -> dict[str, Any]:
    """The response is the error envelope with this status and message_code; returns the body."""
    assert response.status_code == status, response.get_json()
    body = assert_error_envelope(response)
    assert body["message_code"] == code, body
    return body


def assert_error_envelope(response: TestResponse) -> dict[str, Any]:
    """The response is the error envelope (SPEC §5.1), whatever its status; returns the body."""
    body = response.get_json()
    assert isinstance(body, dict), response.data[:200]
    assert body["success"] is False
    assert body["error"] is True
    assert isinstance(body["message_code"], str) and body["message_code"], body
    assert len(body["error_id"]) == 32
    int(body["error_id"], 16)
    assert body["category"] in {
        "validation",
        "business",
        "authentication",
        "authorization",
        "security",
        "system",
    }
    assert body["severity"] in {"low", "medium", "high", "critical"}
    assert isinstance(body["recoverable"], bool)
    assert isinstance(body["suggestions"], list)
    assert body["message"]
    assert body["timestamp"]
    assert set(body["context"]) >= {"request_id", "user_id", "url", "method"}
    assert response.headers["X-Request-ID"] == body["context"]["request_id"]
    return dict(body)


def assert_ok(response: TestResponse, status: int = 200) -> Any:
    """The response is the success envelope; returns its data."""
    body = response.get_json()
    assert response.status_code == status, body
    assert body["success"] is True
    assert body["error"] is False
    assert body["message"]
    assert body["timestamp"]
    assert response.headers["X-Request-ID"]
    return body["data"]
