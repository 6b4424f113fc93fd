"""A fresh PostgreSQL database for one test, created on the test server and dropped after."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import make_url

from tests.components import connect_pg_admin, pg_admin_url


@contextmanager
def fresh_database(prefix: str = "gnomon_e2e") -> Iterator[str]:
    """Yield the URL of a new, empty database (not migrated); drop it afterwards. An unreachable
    server fails the test (see tests/components.py)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with connect_pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(pg_admin_url()).set(database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
