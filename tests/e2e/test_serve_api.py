"""End-to-end: a real `gnomon serve` (and `gnomon api`) process driven over HTTP."""

from __future__ import annotations

import socket
import textwrap
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from gnomon.domain import Role
from gnomon.services.runtime import Runtime
from tests.e2e.servers import (
    ADMIN_PASSWORD,
    API,
    JOBS,
    Client,
    ServerProcess,
    error,
    ok,
    two_jobs_config,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("processes")]

CONFIG = two_jobs_config(max_instances=10)
VIEWER_PASSWORD = "viewer-password"

READ, WRITE = "read", "write"
ENDPOINTS = [
    ("GET", f"{JOBS}", None, READ),
    ("GET", f"{JOBS}/tick", None, READ),
    ("PUT", f"{JOBS}/tick", {"trigger_type": "interval", "hours": 2}, WRITE),
    ("POST", f"{JOBS}/report/actions/pause", None, WRITE),
    ("POST", f"{JOBS}/report/actions/resume", None, WRITE),
    ("POST", f"{JOBS}/tick/actions/run", None, WRITE),
    ("POST", f"{JOBS}/actions/reload", None, WRITE),
]
# identity -> (answer to reads, answer to writes): a status, and the message_code of errors.
EXPECTED: dict[str, tuple[tuple[int, str | None], tuple[int, str | None]]] = {
    "anonymous": ((401, "AUTHENTICATION_REQUIRED"), (401, "AUTHENTICATION_REQUIRED")),
    "viewer": ((200, None), (403, "PERMISSION_DENIED")),
    "admin_csrf": ((200, None), (200, None)),
    "admin_no_csrf": ((200, None), (403, "CSRF_MISSING")),
    "bearer": ((200, None), (200, None)),
    "revoked_bearer": ((401, "TOKEN_INVALID"), (401, "TOKEN_INVALID")),
}


def write_config(directory: Path, body: str = CONFIG) -> Path:
    path = directory / "gnomon.toml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def add_viewer(config: Path) -> None:
    runtime = Runtime.from_config_file(config, env={})
    try:
        runtime.users.create_user("viewer", Role.VIEWER, VIEWER_PASSWORD)
    finally:
        runtime.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    directory = tmp_path_factory.mktemp("serve")
    config = write_config(directory)
    proc = ServerProcess(config, directory / "serve.log")
    add_viewer(config)
    yield proc
    assert proc.stop() == 0, proc.output()


@pytest.fixture(scope="module")
def clients(server: ServerProcess) -> dict[str, Client]:
    admin = Client(server.url).login()
    made: dict[str, Client] = {
        "anonymous": Client(server.url),
        "viewer": Client(server.url).login("viewer", VIEWER_PASSWORD),
        "admin_csrf": admin,
        "admin_no_csrf": Client(server.url).login(),
        "bearer": Client(server.url),
        "revoked_bearer": Client(server.url),
    }
    made["admin_no_csrf"].csrf = None
    for name in ("bearer", "revoked_bearer"):
        token = ok(admin.request("POST", f"{API}/auth/tokens", {"name": name}), 201)
        made[name].bearer = token["token"]
        if name == "revoked_bearer":
            ok(admin.request("DELETE", f"{API}/auth/tokens/{token['id']}"))
    return made


@pytest.mark.parametrize("identity", list(EXPECTED))
@pytest.mark.parametrize(("method", "path", "body", "kind"), ENDPOINTS)
def test_access_matrix(
    clients: dict[str, Client],
    identity: str,
    method: str,
    path: str,
    body: object,
    kind: str,
) -> None:
    status, code = EXPECTED[identity][0 if kind == READ else 1]
    response = clients[identity].request(method, path, body)
    if code is None:
        ok(response, status)
    else:
        error(response, status, code)


BAD_TRIGGERS = [
    ({"trigger_type": "interval", "hours": 1, "colour": "red"}, "colour"),
    ({"trigger_type": "interval", "hours": "1"}, "hours"),
    ({"trigger_type": "cron", "cron_expression": "0 61 * * *"}, "cron_expression"),
    ({"trigger_type": "cron", "cron_minute": "99"}, "cron_minute"),
    ({"trigger_type": "interval", "hours": 0, "minutes": 0}, None),
    ({"trigger_type": "date", "run_date": "2001-01-01T00:00:00"}, "run_date"),
    ({"trigger_type": "cron", "cron_expression": "0 2 * * *", "timezone": "Mars/Base"}, "timezone"),
    ({"trigger_type": 3}, "trigger_type"),
]


@pytest.mark.parametrize(("body", "field"), BAD_TRIGGERS)
def test_put_validation_names_the_field(
    clients: dict[str, Client], body: dict[str, object], field: str | None
) -> None:
    admin = clients["admin_csrf"]
    before = ok(admin.request("GET", f"{JOBS}/report"))
    answer = error(admin.request("PUT", f"{JOBS}/report", body), 400, "VALIDATION_ERROR")
    assert answer["details"]
    if field is not None:
        assert field in {d["field"] for d in answer["details"]}, answer["details"]
    assert ok(admin.request("GET", f"{JOBS}/report"))["trigger"] == before["trigger"]


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", ""),
        ("PUT", ""),
        ("POST", "/actions/pause"),
        ("POST", "/actions/resume"),
        ("POST", "/actions/run"),
    ],
)
def test_unknown_job_is_404(clients: dict[str, Client], method: str, suffix: str) -> None:
    body = {"trigger_type": "interval", "hours": 1} if method == "PUT" else None
    response = clients["admin_csrf"].request(method, f"{JOBS}/nope{suffix}", body)
    error(response, 404, "JOB_NOT_FOUND")


def test_unknown_route_and_metrics(server: ServerProcess) -> None:
    error(requests.get(f"{server.url}{API}/nothing", timeout=10), 404, "NOT_FOUND")
    metrics = requests.get(f"{server.url}/metrics", timeout=10)
    assert metrics.status_code == 200 and "gnomon_nodes 1.0" in metrics.text
    doc = requests.get(f"{server.url}{API}/openapi.json", timeout=10).json()
    assert "/api/v1/scheduler/jobs/{job_id}" in doc["paths"]


def test_a_keep_alive_connection_idle_for_seconds_still_serves_the_next_request(
    server: ServerProcess,
) -> None:
    # One raw connection, so nothing can quietly reconnect: gunicorn's default closed it after
    # 2 s, and a client sending just then (a POST is not retried) got "connection reset".
    host, port = "127.0.0.1", server.port
    with socket.create_connection((host, port), timeout=10) as conn:
        reader = conn.makefile("rb")
        for _ in range(2):
            conn.sendall(f"GET {API}/nothing HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            status = reader.readline()
            assert status.startswith(b"HTTP/1.1 404"), status
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                length = int(value) if name.lower() == "content-length" else length
            assert b"NOT_FOUND" in reader.read(length)
            time.sleep(3)


def test_api_without_scheduler_answers_409(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    proc = ServerProcess(config, tmp_path / "api.log", command="api")
    try:
        admin = Client(proc.url).login()
        for method, path, body, _kind in ENDPOINTS:
            error(admin.request(method, path, body), 409, "SCHEDULER_NOT_RUNNING")
        status = ok(admin.request("GET", f"{API}/scheduler/status"))
        assert status["running"] is False and status["leader"] is None
    finally:
        assert proc.stop() == 0, proc.output()


def restart(config: Path, log: Path, proc: ServerProcess) -> ServerProcess:
    assert proc.stop() == 0, proc.output()
    return ServerProcess(config, log)


def test_trigger_change_and_pause_survive_restart(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    proc = ServerProcess(config, tmp_path / "serve.log")
    try:
        admin = Client(proc.url).login()
        changed = {"trigger_type": "cron", "cron_expression": "0 15 4 * * * 2099"}
        ok(admin.request("PUT", f"{JOBS}/tick", changed))
        ok(admin.request("POST", f"{JOBS}/report/actions/pause"))
        proc = restart(config, tmp_path / "serve.log", proc)
        admin = Client(proc.url).login()
        tick = ok(admin.request("GET", f"{JOBS}/tick"))
        assert tick["trigger_type"] == "cron" and tick["cron_expression"] == "0 15 4 * * * 2099"
        assert tick["overridden"] is True
        assert ok(admin.request("GET", f"{JOBS}/report"))["state"] == "paused"
    finally:
        assert proc.stop() == 0, proc.output()


def test_reload_with_a_broken_config_changes_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    proc = ServerProcess(config, tmp_path / "serve.log")
    try:
        admin = Client(proc.url).login()
        ok(admin.request("POST", f"{JOBS}/report/actions/pause"))
        before = ok(admin.request("GET", JOBS))
        config.write_text(CONFIG.replace('id = "tick"', 'id = "tick"\ncolour = 3'), "utf-8")
        answer = error(admin.request("POST", f"{JOBS}/actions/reload"), 400, "CONFIG_INVALID")
        assert answer["details"]
        after = ok(admin.request("GET", JOBS))
        assert [(j["id"], j["state"]) for j in after] == [(j["id"], j["state"]) for j in before]
        write_config(tmp_path)
        reloaded = ok(admin.request("POST", f"{JOBS}/actions/reload"))
        assert "report" in reloaded["changed"]
        assert ok(admin.request("GET", f"{JOBS}/report"))["state"] == "scheduled"
    finally:
        assert proc.stop() == 0, proc.output()


def test_bad_json_and_unknown_route_keep_the_envelope(server: ServerProcess) -> None:
    admin = Client(server.url).login()
    response = admin.http.put(
        f"{server.url}{JOBS}/tick",
        data="{not json",
        headers={"X-CSRFToken": admin.csrf or "", "Content-Type": "application/json"},
        timeout=10,
    )
    error(response, 400, "INVALID_JSON")


def test_login_throttle_counts_one_address_failures_across_two_server_processes(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path)
    first = ServerProcess(config, tmp_path / "first.log")
    second: ServerProcess | None = None
    try:
        second = ServerProcess(config, tmp_path / "second.log")
        # The same client address, 127.0.0.2, at each process: five wrong passwords at each
        # are the ten allowed, then neither process lets the right password through.
        away = [Client(first.url, source="127.0.0.2"), Client(second.url, source="127.0.0.2")]
        for client in away * 5:
            error(client.attempt_login(password="wrong-password"), 401, "INVALID_CREDENTIALS")
        for client in away:
            response = client.attempt_login()
            error(response, 429, "RATE_LIMITED")
            assert int(response.headers["Retry-After"]) >= 1
        # The same user from another address (127.0.0.1) is counted apart: let in by both.
        for server in (first, second):
            me = ok(Client(server.url).login().request("GET", f"{API}/auth/me"))
            assert me["username"] == "admin"
    finally:
        # Both stopped before either's exit code is judged: no process outlives a failure.
        codes = [(proc.stop(), proc.output()) for proc in (first, second) if proc is not None]
    assert [code for code, _ in codes] == [0, 0], codes


def test_one_address_trying_random_usernames_is_throttled_by_a_real_server(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, CONFIG + "\n[server]\nlogin_max_client_failures = 4\n")
    proc = ServerProcess(config, tmp_path / "serve.log")
    try:
        away = Client(proc.url, source="127.0.0.3")
        for n in range(4):  # four usernames, each tried once: the address's four failures
            response = away.attempt_login(username=f"random-{n}", password="wrong-password")
            error(response, 401, "INVALID_CREDENTIALS")
        for username, password in [("random-4", "wrong-password"), ("admin", ADMIN_PASSWORD)]:
            response = away.attempt_login(username=username, password=password)
            error(response, 429, "RATE_LIMITED")
            assert 1 <= int(response.headers["Retry-After"]) <= 60
        # Another address (127.0.0.1) is counted apart.
        assert ok(Client(proc.url).login().request("GET", f"{API}/auth/me"))["username"] == "admin"
    finally:
        assert proc.stop() == 0, proc.output()


def test_a_real_server_refuses_logins_beyond_its_hash_slots_at_once(tmp_path: Path) -> None:
    # One hash at a time, real argon2 (a fraction of a second each): of eight logins sent at
    # once, each from an address of its own (no throttle applies), those that find the slot
    # taken are refused at once with 503 and Retry-After.
    config = write_config(tmp_path, CONFIG + "\n[server]\nlogin_max_concurrent_hashes = 1\n")
    proc = ServerProcess(config, tmp_path / "serve.log")
    try:
        clients = [Client(proc.url, source=f"127.0.2.{n + 1}") for n in range(8)]
        tokens = [
            c.http.get(f"{proc.url}{API}/auth/csrf-token", timeout=10).json() for c in clients
        ]
        start = threading.Barrier(len(clients))

        def attempt(client: Client, token: dict[str, Any]) -> requests.Response:
            start.wait()
            return client.http.post(
                f"{proc.url}{API}/auth/login",
                json={"username": f"random-{uuid.uuid4().hex}", "password": "wrong-password"},
                headers={"X-CSRFToken": token["data"]["csrf_token"]},
                timeout=30,
            )

        with ThreadPoolExecutor(len(clients)) as pool:
            answers = list(pool.map(attempt, clients, tokens))
        statuses = Counter(response.status_code for response in answers)
        assert set(statuses) == {401, 503} and statuses[401] >= 1, statuses
        for response in answers:
            if response.status_code == 503:
                error(response, 503, "LOGIN_BUSY")
                assert response.headers["Retry-After"] == "1"
        # The slot is free again afterwards.
        assert ok(Client(proc.url).login().request("GET", f"{API}/auth/me"))["username"] == "admin"
    finally:
        assert proc.stop() == 0, proc.output()


def session_cookie(url: str) -> str:
    response = requests.get(f"{url}{API}/auth/csrf-token", timeout=10)
    assert response.status_code == 200, response.text
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("gnomon_session="), cookie
    return cookie


def test_session_cookie_is_secure_over_plain_http_when_always(
    server: ServerProcess, tmp_path: Path
) -> None:
    # The default, "auto", marks it Secure only over HTTPS: not over this plain HTTP...
    assert "Secure" not in session_cookie(server.url)
    # ...while "always" does (for a server behind a TLS proxy it cannot tell about).
    config = write_config(tmp_path, CONFIG + '\n[server]\ncookie_secure = "always"\n')
    proc = ServerProcess(config, tmp_path / "serve.log")
    try:
        cookie = session_cookie(proc.url)
        assert "; Secure" in cookie and "HttpOnly" in cookie
    finally:
        assert proc.stop() == 0, proc.output()
