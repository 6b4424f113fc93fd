"""A PostgreSQL store on an install without psycopg (gnomon without its `postgres` extra)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gnomon.errors import StoreError
from gnomon.store import create_store


def test_a_postgresql_url_without_psycopg_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What `import psycopg` meets where it is not installed.
    monkeypatch.setitem(sys.modules, "psycopg", None)
    wanted = r"psycopg is not installed.*pip install 'gnomon\[postgres\]'"
    with pytest.raises(StoreError, match=wanted):
        create_store("postgresql://gnomon@127.0.0.1:1/gnomon")


def test_a_sqlite_store_does_not_import_psycopg(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    store = create_store(f"sqlite:///{tmp_path}/gnomon.db")
    try:
        store.upgrade()
        store.check_ready()
    finally:
        store.close()
