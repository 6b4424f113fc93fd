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
    for pid in children():
        # One ended meanwhile reads 0: it is counted in RUSAGE_CHILDREN once waited for.
        total += _stat_cpu(pid, 4)
    return total


def process_tree_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds of process `pid` alone, and with every process under it: its ended children
    and, live descendant by descendant, theirs (Linux's /proc; (0, 0) once it has ended)."""
    own = _stat_cpu(pid, 2)
    total = _stat_cpu(pid, 4)
    pending = list(children(pid))
    while pending:
        child = pending.pop()
        total += _stat_cpu(child, 4)
        pending += children(child)
    return own, total


def _stat_cpu(pid: int, fields: int) -> float:
    """The first `fields` of utime, stime, cutime, cstime of `pid`, in seconds (0: gone)."""
    try:
        # Fields after the command's closing parenthesis: utime is the 12th, then stime,
        # cutime, cstime (proc(5) numbers them 14-17).
        values = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in values[11 : 11 + fields]) / _TICK


def children(pid: int | str = "self") -> set[int]:
    """The live child processes of `pid` (of every thread of it)."""
    found: set[int] = set()
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found.update(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue
    return found
