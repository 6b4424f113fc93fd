"""A benchmark's subprocess (a server, a scheduler): its output to a log file, stopped as a
service manager stops it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path


class LoggedProcess:
    """`argv` started with its stdout and stderr appended to `log`; with `new_session`, in a
    session of its own, so that kill() ends whatever it started too."""

    def __init__(
        self,
        argv: list[str],
        log: Path,
        env: dict[str, str] | None = None,
        *,
        new_session: bool = False,
    ) -> None:
        self.log_path = log
        self._log = log.open("ab")
        self._new_session = new_session
        self.proc = subprocess.Popen(
            argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=new_session,
        )

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM, then wait up to `timeout` seconds (kill() after that); its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        finally:
            self._log.close()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL, to its whole session when it has one of its own."""
        with contextlib.suppress(ProcessLookupError):
            if self._new_session:
                os.killpg(self.proc.pid, signal.SIGKILL)
            else:
                self.proc.kill()
        self.proc.wait(10)
        self._log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")
