"""Store fixtures: every contract test runs on a fresh SQLite file and on a real PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from gnomon.store.sql import SqlStore

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
_TABLES = "jobs, runs, users, api_tokens, audit, nodes, leases"


def _libpq_url(url: str, database: str | None = None) -> str:
    """The URL psycopg itself accepts (no '+psycopg' driver suffix)."""
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh, uniquely named PostgreSQL database for this session, migrated; dropped after."""
    if os.environ.get("GNOMON_TEST_SKIP_PG") == "1":
        pytest.skip("GNOMON_TEST_SKIP_PG=1: PostgreSQL store tests skipped")
    admin_url = os.environ.get("GNOMON_TEST_PG_URL", DEFAULT_PG_URL)
    name = f"gnomon_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(_libpq_url(admin_url), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        problem = str(exc).strip()
    else:
        problem = ""
    if problem:
        # Failing, not skipping: a CI run without PostgreSQL must not pass silently.
        pytest.fail(
            f"PostgreSQL at {make_url(admin_url).render_as_string(hide_password=True)} is "
            f"unreachable ({problem}). Start it, point GNOMON_TEST_PG_URL at a server whose user "
            "may create databases, or set GNOMON_TEST_SKIP_PG=1 to skip the PostgreSQL tests.",
            pytrace=False,
        )
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
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
