"""Shared helpers for the HTTP benchmarks: real server subprocesses, timing, percentiles."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import requests
from cputime import process_tree_cpu
from processes import LoggedProcess

BENCH_DIR = Path(__file__).resolve().parent
ADMIN_PASSWORD = "bench-admin-password"
API = "/api/v1"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def wait_for(check: Callable[[], T | None], timeout: float, what: str, every: float = 0.05) -> T:
    """Poll `check` until it returns something truthy; raise naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def vm_hwm_mb(pid: int) -> float | None:
    """Peak resident set size of a live process, from /proc/<pid>/status (VmHWM, kB)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """CPU time of a process, its reaped children and its live descendants, from /proc."""
    return process_tree_cpu(pid)[1]


def wait_quiet(pid: int, *, busy: float = 0.01, every: float = 0.1, timeout: float = 15) -> None:
    """Wait until a server has finished the work earlier requests left behind (runs started,
    schedules reloaded): less than `busy` CPU seconds over `every` seconds, or `timeout`."""
    deadline = time.monotonic() + timeout
    before = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(every)
        now = cpu_seconds(pid)
        if now - before < busy:
            return
        before = now


class Server(LoggedProcess):
    """A server subprocess on 127.0.0.1:<free port>, logging to a file, ready when `ready_path`
    answers 200; `stop` sends SIGTERM and waits (SIGKILL after the timeout)."""

    def __init__(
        self, command: list[str], log: Path, ready_path: str, env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__([part.replace("{port}", str(self.port)) for part in command], log, env)
        self.ready_path = ready_path

    def wait_ready(self, timeout: float = 120) -> Server:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.output()[-3000:]}")
            try:
                return requests.get(self.url + self.ready_path, timeout=5).status_code == 200
            except requests.RequestException:
                return False

        wait_for(ready, timeout, f"{self.url}{self.ready_path}", every=0.1)
        return self


def gnomon_serve(config: Path, log: Path, command: str = "serve") -> Server:
    """`gnomon serve` with one gunicorn worker (gthread, 4 threads) and the admin password set."""
    env = {"GNOMON_ADMIN_PASSWORD": ADMIN_PASSWORD}
    os.environ.pop("GNOMON_CONFIG", None)
    argv = [sys.executable, "-m", "gnomon", command, "--config", str(config)]
    argv += ["--bind", "127.0.0.1:{port}", "--workers", "1", "--log-level", "warning"]
    return Server(argv, log, "/readyz", env)


def login(base: str) -> requests.Session:
    """A session logged in as admin, with its CSRF token as a default header."""
    http = requests.Session()
    token = http.get(f"{base}{API}/auth/csrf-token", timeout=10).json()["data"]["csrf_token"]
    response = http.post(
        f"{base}{API}/auth/login",
        json={"username": "admin", "password": ADMIN_PASSWORD},
        headers={"X-CSRFToken": token},
        timeout=10,
    )
    response.raise_for_status()
    http.headers["X-CSRFToken"] = response.json()["data"]["csrf_token"]
    return http


def bearer_token(base: str) -> str:
    """A fresh API token for admin (what scripts use: no cookies, no CSRF)."""
    http = login(base)
    response = http.post(f"{base}{API}/auth/tokens", json={"name": "bench"}, timeout=10)
    response.raise_for_status()
    token: str = response.json()["data"]["token"]
    return token


def data(response: requests.Response) -> Any:
    response.raise_for_status()
    return response.json()["data"]


def write_gnomon_config(
    path: Path, store_url: str, jobs: list[str], *, extra: str = "", poll_interval: float = 1.0
) -> Path:
    """A config with `jobs` (TOML [[jobs]] blocks) after the scheduler section."""
    path.write_text(
        f'data_dir = "{path.parent}"\n[store]\nurl = "{store_url}"\n'
        f'[scheduler]\ntimezone = "UTC"\nshutdown_grace = 2\npoll_interval = {poll_interval}\n'
        f'python_path = ["{BENCH_DIR}"]\n'
        '[[jobs]]\nid = "gnomon.prune_runs"\nenabled = false\n' + "".join(jobs) + extra,
        encoding="utf-8",
    )
    return path
