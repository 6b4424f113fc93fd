"""Modes of what gnomon keeps on disk (its data directory, the SQLite store with its WAL and
shared-memory files, the generated secret key): created private to gnomon's user, and a check
that finds any that are looser.

Modes are given at creation (``os.open``/``mkdir`` with a mode, then an exact ``chmod``), never by
changing the process's umask, which would change it for every thread of a program embedding
gnomon. Existing files and directories are left as they are: the check reports them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
#: Any permission for the group or others.
_SHARED_BITS = 0o077


def make_private_dir(path: Path) -> None:
    """Create the directory `path` with mode 0700 (its missing parents as the umask says),
    unless it exists."""
    if path.is_dir():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=PRIVATE_DIR)
    except FileExistsError:
        return  # made meanwhile by another process starting together with this one
    os.chmod(path, PRIVATE_DIR)  # mkdir's mode is masked by the umask


def create_private_file(path: Path) -> bool:
    """Create the empty file `path` with mode 0600, unless it exists; True if it was created."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, PRIVATE_FILE)  # os.open's mode is masked by the umask
    finally:
        os.close(fd)
    return True


def loose_modes(paths: Iterable[Path]) -> list[str]:
    """A message for each of `paths` that exists and lets the group or others in, saying how to
    tighten it."""
    messages = []
    for path in paths:
        try:
            mode = path.stat().st_mode
        except OSError:
            continue  # absent (a WAL between connections, a key not generated): nothing to see
        if not mode & _SHARED_BITS:
            continue
        want = PRIVATE_DIR if stat.S_ISDIR(mode) else PRIVATE_FILE
        messages.append(
            f"{path} has mode {stat.S_IMODE(mode):04o}: other users of this machine may read "
            f"what gnomon keeps there (password hashes, run output, the audit log, keys); "
            f"run: chmod {want:o} {path}"
        )
    return messages
