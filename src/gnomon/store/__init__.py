"""Durable storage: the Store contract (base.py) and its SQL implementation (sql.py)."""

from __future__ import annotations

from pathlib import Path

from gnomon.store.base import Store


def create_store(url: str) -> Store:
    """The store for a URL (``sqlite:///PATH`` or ``postgresql://…``); connects lazily.

    Raises StoreError for a URL gnomon cannot use.
    """
    # Imported here so importing gnomon.store does not pull in SQLAlchemy.
    from gnomon.store.sql import SqlStore

    return SqlStore(url)


def store_files(url: str) -> list[Path]:
    """The files holding a store's data: a SQLite database with its WAL and shared-memory files
    (whether they exist now or not); none for PostgreSQL. Raises StoreError for a URL gnomon
    cannot use."""
    from gnomon.store.sql_engine import normalise_url, sqlite_files

    return sqlite_files(normalise_url(url))


def store_in_memory(url: str) -> bool:
    """Whether the store URL names an in-memory SQLite database (``sqlite://``)."""
    from gnomon.store.sql_engine import normalise_url, sqlite_in_memory

    return sqlite_in_memory(normalise_url(url))


__all__ = ["Store", "create_store", "store_files", "store_in_memory"]
