"""A SQLite store's files, and the directory made for them, are private to gnomon's user."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gnomon.store import store_files
from gnomon.store.sql import SqlStore

pytestmark = pytest.mark.usefixtures("common_umask")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_its_wal_and_shm_and_a_new_data_directory_are_private(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    url = f"sqlite:///{data_dir / 'gnomon.db'}"
    store = SqlStore(url)
    try:
        store.upgrade()  # writes, in WAL mode: the WAL and shared-memory files exist until close
        files = store_files(url)
        assert [f.name for f in files] == ["gnomon.db", "gnomon.db-wal", "gnomon.db-shm"]
        assert {f: mode(f) for f in files} == dict.fromkeys(files, 0o600)
        assert mode(data_dir) == 0o700
    finally:
        store.close()


def test_an_existing_directory_and_database_keep_their_modes(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o750)
    database = data_dir / "gnomon.db"
    database.touch(mode=0o640)
    store = SqlStore(f"sqlite:///{database}")
    try:
        store.upgrade()
    finally:
        store.close()
    assert (mode(data_dir), mode(database)) == (0o750, 0o640)  # reported at start-up instead


def test_a_postgresql_store_has_no_files_here() -> None:
    assert store_files("postgresql://gnomon@db/gnomon") == []
