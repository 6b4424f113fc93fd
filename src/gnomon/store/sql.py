"""SqlStore: the Store on SQLite or PostgreSQL through SQLAlchemy Core, migrated by Alembic."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from gnomon.errors import StoreError, StoreNotReady, StoreSchemaNewer
from gnomon.store.alembic_logs import alembic_at_warning
from gnomon.store.base import Migration, Store
from gnomon.store.sql_auth import SqlAuth
from gnomon.store.sql_backup import backup_sqlite
from gnomon.store.sql_deliveries import SqlDeliveries
from gnomon.store.sql_engine import sqlite_file
from gnomon.store.sql_jobs import SqlJobs
from gnomon.store.sql_lifecycle import SqlLifecycle
from gnomon.store.sql_nodes import SqlNodes
from gnomon.store.sql_runs import SqlRuns
from gnomon.store.sql_stats import SqlStats
from gnomon.store.sql_workers import SqlWorkers

# Importing Alembic the first time sets up its plugins, each announced at INFO.
with alembic_at_warning():
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# Any fixed number: PostgreSQL advisory lock key that serialises concurrent upgrades.
_UPGRADE_LOCK_KEY = 0x676E6F6D6F6E


def alembic_config() -> Config:
    """The Alembic configuration for gnomon's migrations, built in code (no alembic.ini)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@dataclass(frozen=True)
class ShippedSchema:
    """The schema revisions of the migrations this gnomon ships."""

    heads: frozenset[str]
    known: frozenset[str]


@functools.cache
def shipped_schema() -> ShippedSchema:
    """Read from the migrations directory once per process: it changes only with the code, and
    reading it (Alembic loads every migration script) takes longer than asking the database
    (/readyz asks on every probe)."""
    script = ScriptDirectory.from_config(alembic_config())
    return ShippedSchema(
        heads=frozenset(script.get_heads()),
        known=frozenset(migration.revision for migration in script.walk_revisions()),
    )


def _refuse_newer(current: set[str]) -> None:
    """Raise StoreSchemaNewer when the store is at a revision this gnomon does not ship."""
    shipped = shipped_schema()
    unknown = sorted(current - shipped.known)
    if unknown:
        raise StoreSchemaNewer(", ".join(unknown), ", ".join(sorted(shipped.heads)))


class SqlStore(
    SqlJobs,
    SqlRuns,
    SqlStats,
    SqlLifecycle,
    SqlWorkers,
    SqlDeliveries,
    SqlAuth,
    SqlNodes,
    Store,
):
    """The store on a SQL database: ``sqlite:///PATH`` or ``postgresql://USER@HOST/DB``.

    Constructing it connects to nothing (beyond creating a SQLite file, empty, and its
    directory, both private to this user); the first method call does.
    """

    def upgrade(self) -> None:
        config = alembic_config()
        # One write transaction: on SQLite it takes the write lock first and on PostgreSQL an
        # advisory lock, so processes starting together migrate one after the other.
        with self._write() as conn:
            if self._is_pg:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK_KEY})
            # An older gnomon (a node not upgraded yet in a rolling upgrade) must not start on
            # a schema it does not know, and Alembic would only say it cannot find a revision.
            with alembic_at_warning():
                current = set(MigrationContext.configure(conn).get_current_heads())
            _refuse_newer(current)
            config.attributes["connection"] = conn
            with alembic_at_warning():
                command.upgrade(config, "head")

    def check_ready(self) -> None:
        heads = shipped_schema().heads
        try:
            with self._read() as conn, alembic_at_warning():
                current = set(MigrationContext.configure(conn).get_current_heads())
        except (StoreError, SQLAlchemyError) as exc:
            raise StoreNotReady(f"cannot reach the database ({exc})") from exc
        _refuse_newer(current)
        if current != heads:
            found = ", ".join(sorted(current)) or "no schema"
            raise StoreNotReady(f"schema revision is {found}, expected {', '.join(sorted(heads))}")

    def schema_revision(self) -> str | None:
        with self._read() as conn, alembic_at_warning():
            heads = MigrationContext.configure(conn).get_current_heads()
        return ", ".join(sorted(heads)) or None

    def migrations(self) -> list[Migration]:
        scripts = ScriptDirectory.from_config(alembic_config()).walk_revisions()
        return [Migration(script.revision, script.doc) for script in reversed(list(scripts))]

    def backup(self, target: Path) -> str:
        source = sqlite_file(self._url)
        if self._is_pg:
            raise StoreError(
                "gnomon db backup copies a SQLite store; back a PostgreSQL store up with "
                "pg_dump --format=custom (see README, Backup and restore)"
            )
        if source is None:
            raise StoreError("an in-memory store cannot be backed up")
        if self.schema_revision() is None:
            raise StoreError(f"the store at {source} has no schema: there is nothing to back up")
        return backup_sqlite(source, target)

    def close(self) -> None:
        self._engine.dispose()

    def __repr__(self) -> str:
        return f"SqlStore({self._url.render_as_string(hide_password=True)!r})"
