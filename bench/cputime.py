"""CPU seconds of this process, alone and with the processes it started (Linux's /proc)."""

from __future__ import annotations

import os
import resource
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def tree_cpu() -> float:
    """This process's CPU seconds, its ended children's (those it waited for: command jobs) and
    its live children's with their own ended children (multiprocessing's forkserver, which
    waits for the process-isolated runs it forks). Where /proc is missing, the first two only."""
    ended = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own_cpu() + ended.ru_utime + ended.ru_stime
    for pid in _children():
        try:
            # Fields after the command's closing parenthesis: utime is the 12th, then stime,
            # cutime, cstime (proc(5) numbers them 14-17).
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # ended meanwhile: counted in RUSAGE_CHILDREN once waited for
        total += sum(int(value) for value in fields[11:15]) / _TICK
    return total


def _children() -> set[int]:
    found: set[int] = set()
    try:
        tasks = list(Path("/proc/self/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found.update(int(pid) for pid in (task / "children").read_text().split())
        except OSError:
            continue
    return found
