"""Start and stop real `gnomon scheduler` processes for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class SchedulerProcess:
    """`python -m gnomon scheduler --config PATH` in a subprocess, logging to a file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log_path = log
        env = dict(os.environ)
        env["GNOMON_ADMIN_PASSWORD"] = "test-admin-password"
        env.pop("GNOMON_CONFIG", None)
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gnomon", "scheduler", "--config", str(config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM and wait: the clean stop."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()  # not left running behind the test
            raise AssertionError(f"the scheduler did not stop within {timeout}s; killed") from None
        finally:
            self._log.close()

    def kill(self) -> None:
        """SIGKILL: the crash."""
        self.proc.kill()
        self.proc.wait(10)
        self._log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_for(check: Callable[[], T | None], timeout: float, what: str, every: float = 0.2) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def wait_until_stopped(pid: int) -> None:
    """Wait until every thread of `pid` is in the stopped state ("T" in /proc)."""

    def all_stopped() -> bool:
        states = [
            (Path(f"/proc/{pid}/task") / tid / "stat").read_text().rsplit(")", 1)[1].split()[0]
            for tid in os.listdir(f"/proc/{pid}/task")
        ]
        return all(state in ("T", "t") for state in states)

    wait_for(all_stopped, timeout=10, what=f"process {pid} to stop", every=0.01)
