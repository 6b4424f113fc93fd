"""What the suite needs besides Python, chromium, PostgreSQL, RabbitMQ and Redis, and what a
missing one does.

A missing component fails the tests that need it, so that a run without it cannot pass as a
green suite. GNOMON_TEST_ALLOW_SKIP names the components a machine may lack (comma-separated:
`chromium`, `postgres`, `rabbitmq`, `redis`); their tests are then skipped instead. `.ci/run`
refuses the variable.
"""

from __future__ import annotations

import os
from typing import NoReturn

import psycopg
import pytest
from psycopg.rows import TupleRow
from sqlalchemy.engine import make_url

ALLOW_SKIP = "GNOMON_TEST_ALLOW_SKIP"
COMPONENTS = ("chromium", "postgres", "rabbitmq", "redis")
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def allowed_skips() -> set[str]:
    """The components GNOMON_TEST_ALLOW_SKIP names; a name it does not know is a usage error."""
    names = {name.strip() for name in os.environ.get(ALLOW_SKIP, "").split(",") if name.strip()}
    unknown = sorted(names - set(COMPONENTS))
    if unknown:
        raise pytest.UsageError(
            f"{ALLOW_SKIP} names {', '.join(unknown)}; it takes: {', '.join(COMPONENTS)}"
        )
    return names


def missing(component: str, problem: str, remedy: str) -> NoReturn:
    """Fail the test for want of `component`, or skip it when GNOMON_TEST_ALLOW_SKIP names it."""
    if component in allowed_skips():
        pytest.skip(f"{problem} ({ALLOW_SKIP}={os.environ[ALLOW_SKIP]})")
    pytest.fail(
        f"{problem}. {remedy}, or set {ALLOW_SKIP}={component} to skip these tests on a "
        "machine without it (CI refuses that).",
        pytrace=False,
    )


def pg_admin_url() -> str:
    """The PostgreSQL server the tests create their databases on (GNOMON_TEST_PG_URL)."""
    return os.environ.get("GNOMON_TEST_PG_URL", DEFAULT_PG_URL)


def libpq(url: str) -> str:
    """The URL psycopg itself accepts (no '+psycopg' driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def connect_pg_admin() -> psycopg.Connection[TupleRow]:
    """An autocommit connection to the test server, or the test fails (or skips) saying why."""
    url = pg_admin_url()
    try:
        return psycopg.connect(libpq(url), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        problem = str(exc).strip()
    missing(  # outside the except block: the message is the whole report, no chained trace
        "postgres",
        f"PostgreSQL at {make_url(url).render_as_string(hide_password=True)} is unreachable "
        f"({problem})",
        "Start it, or point GNOMON_TEST_PG_URL at a server whose user may create databases",
    )
