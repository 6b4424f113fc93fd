"""A real HTTP server process serving the API and the console (for tests and screenshots)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SERVE = Path(__file__).with_name("serve_console.py")
PASSWORDS = {"admin": "admin-password", "viewer": "viewer-password"}
USERS = [f"{name}:{name}:{password}" for name, password in PASSWORDS.items()]

CONFIG = """
data_dir = "data"

[scheduler]
timezone = "Asia/Shanghai"
poll_interval = 0.2

[[notifications]]
id = "ops"
type = "webhook"
url = "http://127.0.0.1:9/nobody-listens"  # every send fails: the delivery stays pending

[[jobs]]
id = "report"
name = "Nightly report"
description = "Builds the nightly sales report."
command = ["sh", "-c", "echo report ready"]
trigger = { type = "cron", expression = "0 30 2 * * mon-fri 2099" }

[[jobs]]
id = "backup"
name = "Database backup"
command = ["sh", "-c", "echo dumping; sleep 5; echo backup done"]
trigger = { type = "interval", hours = 6, start_date = "2099-01-01T00:00:00Z" }

[[jobs]]
id = "cleanup"
name = "Clean temp files"
command = ["true"]
trigger = { type = "cron", expression = "0 0 4 * * * 2099" }

[[jobs]]
id = "flaky"
name = "Flaky import"
command = ["sh", "-c", "echo importing; sleep 4; echo source unreachable >&2; exit 3"]
trigger = { type = "cron", expression = "0 0 5 * * * 2099" }
notify = ["ops"]

[[jobs]]
id = "frozen"
name = "Locked job"
command = ["true"]
locked = true
trigger = { type = "cron", expression = "0 0 3 * * * 2099" }

[[jobs]]
id = "gnomon.prune_runs"
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
"""


@dataclass
class ConsoleServer:
    url: str
    process: subprocess.Popen[str]
    workdir: Path | None = None  # holds its config and its SQLite store (data/gnomon.db)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_console_server(workdir: Path, *extra: str, config: str = CONFIG) -> ConsoleServer:
    """Write a config in `workdir`, start serve_console.py on it and wait for /healthz."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "gnomon.toml"
    config_path.write_text(textwrap.dedent(config), encoding="utf-8")
    args = [sys.executable, str(SERVE), str(config_path), *extra]
    for user in USERS:
        args += ["--user", user]
    process = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        text=True,
        cwd=workdir,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("PORT "):
        process.kill()
        raise RuntimeError(f"serve_console.py did not start: {line!r}")
    server = ConsoleServer(f"http://127.0.0.1:{int(line.split()[1])}", process, workdir)
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            if time.monotonic() > deadline:
                server.stop()
                raise
            time.sleep(0.1)
