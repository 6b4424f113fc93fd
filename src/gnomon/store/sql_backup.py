"""Backups of a SQLite store through SQLite's online backup API: a consistent copy taken while
schedulers and API workers go on writing (in WAL mode a reader never waits for a writer)."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

from gnomon.errors import StoreError
from gnomon.filemodes import create_private_file

BUSY_TIMEOUT_S = 15


def backup_sqlite(source: Path, target: Path) -> str:
    """Copy the SQLite database `source` into the new file `target`, mode 0600; returns the
    copy's schema revision. The copy is checked, and appears under its name only once complete.
    Raises StoreError."""
    if target.exists() or target.is_symlink():
        raise _exists(target)
    if not target.parent.is_dir():
        raise StoreError(f"{target.parent} is not a directory")
    # The store holds password hashes and token digests: the copy is as private as the store,
    # from its first byte.
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    create_private_file(partial)
    try:
        revision = _copy(source, partial)
        _publish(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return revision


def _copy(source: Path, target: Path) -> str:
    try:
        # mode=rw: a mistyped path is an error, not a new empty database.
        uri = f"{source.resolve().as_uri()}?mode=rw"
        with (
            closing(sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S)) as src,
            closing(sqlite3.connect(target)) as dst,
        ):
            src.backup(dst)
            # One self-contained file (the copy of a WAL database is in WAL mode): readable
            # where it lies, read-only media included. gnomon turns WAL on again when it opens
            # a restored store.
            dst.execute("PRAGMA journal_mode = DELETE")
            [check] = dst.execute("PRAGMA quick_check").fetchone()
            row = dst.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error as exc:
        raise StoreError(f"backing up {source} failed: {exc}") from exc
    if check != "ok":
        raise StoreError(f"the copy of {source} failed SQLite's check: {check}")
    if row is None:
        raise StoreError(f"{source} has no schema revision: it is not a gnomon store")
    return str(row[0])


def _publish(partial: Path, target: Path) -> None:
    """Give the finished copy its name, never replacing a file made there meanwhile."""
    try:
        os.link(partial, target)
    except FileExistsError:
        raise _exists(target) from None
    except OSError:
        # A file system without hard links: a rename, after checking once more.
        if target.exists() or target.is_symlink():
            raise _exists(target) from None
        os.replace(partial, target)


def _exists(target: Path) -> StoreError:
    return StoreError(f"{target} exists; a backup never replaces a file: name a new one")
