"""A fresh PostgreSQL database for one test, created on the test server and dropped after."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy.engine import make_url

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def libpq(url: str) -> str:
    """The URL psycopg itself accepts (no '+psycopg' driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def fresh_database(prefix: str = "gnomon_e2e") -> Iterator[str]:
    """Yield the URL of a new, empty database (not migrated); drop it afterwards."""
    if os.environ.get("GNOMON_TEST_SKIP_PG") == "1":
        pytest.skip("GNOMON_TEST_SKIP_PG=1: PostgreSQL tests skipped")
    admin_url = os.environ.get("GNOMON_TEST_PG_URL", DEFAULT_PG_URL)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    # Failing, not skipping, when the server is down: a CI run without it must not pass silently.
    with psycopg.connect(libpq(admin_url), autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
