"""Store fixtures: every contract test runs on a fresh SQLite file and on a real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from gnomon.store.sql import SqlStore
from tests.components import connect_pg_admin, pg_admin_url

_TABLES = (
    "jobs, runs, users, api_tokens, audit, nodes, leases, login_failures, deliveries, run_hours"
)


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh, uniquely named PostgreSQL database for this session, migrated; dropped after."""
    name = f"gnomon_test_{uuid.uuid4().hex[:12]}"
    with connect_pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        url = make_url(pg_admin_url()).set(database=name).render_as_string(hide_password=False)
        migrated = SqlStore(url)
        migrated.upgrade()
        migrated.close()
        try:
            yield url
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty store's URL: a new SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'data' / 'gnomon.db'}"
        store = SqlStore(url)
        store.upgrade()
        store.close()
        return url
    pg_url: str = request.getfixturevalue("pg_database_url")
    store = SqlStore(pg_url)
    try:
        with store._engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE"))
            conn.execute(text("UPDATE changes SET counter = 0"))
            conn.execute(text("UPDATE run_hours_sealed SET sealed_until = NULL, generation = 0"))
    finally:
        store.close()
    return pg_url


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    store = SqlStore(store_url)
    try:
        yield store
    finally:
        store.close()
