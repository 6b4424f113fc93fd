"""Durable storage: the Store contract (base.py) and its SQL implementation (sql.py)."""

from __future__ import annotations

from gnomon.store.base import Store


def create_store(url: str) -> Store:
    """The store for a URL (``sqlite:///PATH`` or ``postgresql://…``); connects lazily.

    Raises StoreError for a URL gnomon cannot use.
    """
    # Imported here so importing gnomon.store does not pull in SQLAlchemy.
    from gnomon.store.sql import SqlStore

    return SqlStore(url)


__all__ = ["Store", "create_store"]
