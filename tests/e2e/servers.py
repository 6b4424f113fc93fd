"""Start real `gnomon serve` / `gnomon api` processes and talk to them over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from tests.e2e.procs import wait_for

ADMIN_PASSWORD = "test-admin-password"
API = "/api/v1"
JOBS = f"{API}/scheduler/jobs"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """`python -m gnomon serve|api --config PATH --bind 127.0.0.1:PORT`, logging to a file.
    `env`: variables set for the process on top of the test's own environment."""

    def __init__(
        self,
        config: Path,
        log: Path,
        command: str = "serve",
        workers: int = 1,
        admin_password: str | None = ADMIN_PASSWORD,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        environ = dict(os.environ) | (env or {})
        environ.pop("GNOMON_ADMIN_PASSWORD", None)
        if admin_password is not None:
            environ["GNOMON_ADMIN_PASSWORD"] = admin_password
        environ.pop("GNOMON_CONFIG", None)
        self._log = log.open("ab")
        args = [command, "--config", str(config), "--bind", f"127.0.0.1:{self.port}"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gnomon", *args, "--workers", str(workers)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=environ,
        )
        try:
            wait_for(self._ready, timeout=30, what=f"gnomon {command} to answer /readyz")
        except BaseException:
            self.kill()  # a server that never answered is not left running behind the test
            raise

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"gnomon exited early:\n{self.output()}")
        try:
            return requests.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except (requests.ConnectionError, requests.Timeout):
            return False  # not listening yet, or a first answer slow on a loaded machine

    def stop(self, timeout: float = 30, signum: int = signal.SIGTERM) -> int:
        """SIGTERM (or `signum`) and wait: the clean stop."""
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"gnomon did not stop within {timeout}s; killed") from None
        finally:
            self._log.close()

    def kill(self) -> None:
        """SIGKILL, and wait for it."""
        self.proc.kill()
        self.proc.wait(10)
        self._log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


class SourceAddress(HTTPAdapter):
    """Connects from `address`: any of 127/8 reaches a server bound to 127.0.0.1, so a test
    can be a client at another address of this host."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


class Client:
    """A requests session against one server; `login` keeps the session's CSRF token.
    `source`: the local address to connect from (default: the system's choice, 127.0.0.1)."""

    def __init__(self, base: str, source: str | None = None) -> None:
        self.base = base
        self.http = requests.Session()
        if source is not None:
            self.http.mount("http://", SourceAddress(source))
        self.csrf: str | None = None
        self.bearer: str | None = None

    def attempt_login(
        self, username: str = "admin", password: str = ADMIN_PASSWORD
    ) -> requests.Response:
        """Fetch a CSRF token and log in with it; the answer, whatever it is."""
        token = self.http.get(f"{self.base}{API}/auth/csrf-token", timeout=10).json()
        response = self.http.post(
            f"{self.base}{API}/auth/login",
            json={"username": username, "password": password},
            headers={"X-CSRFToken": token["data"]["csrf_token"]},
            timeout=10,
        )
        if response.status_code == 200:
            self.csrf = response.json()["data"]["csrf_token"]
        return response

    def login(self, username: str = "admin", password: str = ADMIN_PASSWORD) -> Client:
        response = self.attempt_login(username, password)
        assert response.status_code == 200, response.text
        return self

    def request(
        self, method: str, path: str, json: Any = None, csrf: bool = True
    ) -> requests.Response:
        headers = {}
        if csrf and self.csrf:
            headers["X-CSRFToken"] = self.csrf
        if self.bearer:
            headers["Authorization"] = f"Bearer {self.bearer}"
        return self.http.request(
            method, f"{self.base}{path}", json=json, headers=headers, timeout=30
        )


def ok(response: requests.Response, status: int = 200) -> Any:
    body = response.json()
    assert response.status_code == status, body
    assert body["success"] is True
    return body["data"]


def error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert (response.status_code, body.get("message_code")) == (status, code), body
    assert body["success"] is False and len(body["error_id"]) == 32
    return body


def two_jobs_config(max_instances: int) -> str:
    """A config with an hourly job `tick` and a weekday cron job `report` (at 02:30), both from
    2099 like the shipped job: none fires during a test."""
    return f"""
data_dir = "data"

[scheduler]
timezone = "UTC"
shutdown_grace = 2

[[jobs]]
id = "tick"
command = ["true"]
max_instances = {max_instances}
trigger = {{ type = "interval", hours = 1, start_date = "2099-01-01T00:00:00Z" }}

[[jobs]]
id = "report"
command = ["true"]
max_instances = {max_instances}
trigger = {{ type = "cron", expression = "0 30 2 * * mon-fri 2099" }}

[[jobs]]
id = "gnomon.prune_runs"
trigger = {{ type = "date", run_date = "2099-01-01T00:00:00Z" }}
"""
