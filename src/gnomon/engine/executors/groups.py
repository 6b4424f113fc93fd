"""Process groups of the executors' child processes: signal one, tell whether it is gone."""

from __future__ import annotations

import os
import signal


def signal_group(pgid: int, signum: int) -> bool:
    """Send ``signum`` to the process group; False once the group has no process left."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    return True


def group_alive(pgid: int) -> bool:
    """Whether any process of the group is still running. Orphaned members are reaped by PID 1,
    which in containers may be slow or never do it; a zombie answers a signal but is dead, so on
    Linux /proc tells them apart (read only while a group is being stopped)."""
    if not signal_group(pgid, 0):
        return False
    if not os.path.isdir("/proc/self"):
        return True
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if len(fields) > 2 and fields[2] == str(pgid).encode() and fields[0] != b"Z":  # pgrp, state
            return True
    return False


def describe_exit(code: int) -> str:
    """``exited with code 3``, or ``killed by signal SIGSEGV (exit code -11)``."""
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name} (exit code {code})"
        except ValueError:
            return f"killed by signal {-code} (exit code {code})"
    return f"exited with code {code}"
