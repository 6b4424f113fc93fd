"""`gnomon db …` on a real SQLite store: its schema revision, the shipped ones, and backups
taken while another connection writes."""

from __future__ import annotations

import json
import sqlite3
import stat
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from gnomon.cli import cli
from tests.conftest import WriteConfig

CONFIG = """
[scheduler]
timezone = "UTC"

[[jobs]]
id = "nightly"
command = ["true"]
trigger = { type = "cron", expression = "0 30 2 * * mon-fri 2099" }

[[jobs]]
id = "gnomon.prune_runs"
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
"""


@pytest.fixture
def config(write_config: WriteConfig) -> Path:
    return write_config(CONFIG)


def invoke(config: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [*args, "--config", str(config)], env=env)
    return result.exit_code, result.output


def store_at_revision(config: Path, revision: str) -> None:
    """Make the config's SQLite store (data/gnomon.db) with the schema at `revision`."""
    from alembic import command
    from sqlalchemy import create_engine

    from gnomon.store.sql import alembic_config

    (config.parent / "data").mkdir(exist_ok=True)
    engine = create_engine(f"sqlite:///{config.parent / 'data' / 'gnomon.db'}")
    try:
        with engine.begin() as conn:
            alembic = alembic_config()
            alembic.attributes["connection"] = conn
            command.upgrade(alembic, revision)
    finally:
        engine.dispose()


def upgrade(config: Path) -> None:
    code, out = invoke(config, "db", "upgrade")
    assert code == 0, out


def test_current_names_the_store_revision_and_history_the_shipped_ones(config: Path) -> None:
    code, out = invoke(config, "db", "current")
    assert code == 1 and "no schema: this gnomon's newest is" in out
    assert "run 'gnomon db upgrade'" in out

    code, out = invoke(config, "db", "history", "--json")
    assert code == 0, out
    shipped = json.loads(out)
    revisions = [migration["revision"] for migration in shipped]
    assert revisions[0] == "0001" and revisions == sorted(revisions)
    assert shipped[0]["description"].startswith("Initial schema")
    code, out = invoke(config, "db", "history")
    assert code == 0 and out.splitlines()[0].split() == ["REVISION", "DESCRIPTION"]

    upgrade(config)
    code, out = invoke(config, "db", "current", "--json")
    assert code == 0, out
    newest = revisions[-1]
    assert json.loads(out) == {"revision": newest, "newest": newest, "state": "current"}
    assert invoke(config, "db", "current") == (0, f"{newest}: up to date\n")


def test_an_older_gnomon_says_a_newer_one_migrated_the_store(config: Path) -> None:
    upgrade(config)
    with sqlite3.connect(config.parent / "data" / "gnomon.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    code, out = invoke(config, "db", "current")
    assert code == 1
    assert "9999: unknown to this gnomon" in out and "upgrade this installation" in out
    # An older gnomon neither migrates nor uses the store (it would not know its tables).
    for command in (["db", "upgrade"], ["jobs", "list"]):
        code, out = invoke(config, *command)
        assert code == 1, (command, out)
        assert "schema revision 9999 is newer than this gnomon knows" in out, (command, out)
        assert "upgrade this installation" in out


def test_a_backup_during_a_write_holds_what_was_committed_and_opens_as_a_store(
    config: Path, tmp_path: Path
) -> None:
    upgrade(config)
    code, out = invoke(config, "users", "create", "ops", "--role", "admin", "--password", "x" * 12)
    assert code == 0, out
    target = tmp_path / "backups" / "gnomon-backup.db"
    target.parent.mkdir()

    # Another process of gnomon is in the middle of a write transaction: the backup neither
    # waits for it (WAL readers do not) nor copies what it has not committed.
    writer = sqlite3.connect(config.parent / "data" / "gnomon.db", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE users SET disabled = 1")
        started = time.monotonic()
        code, out = invoke(config, "db", "backup", str(target))
        took = time.monotonic() - started
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert code == 0, out
    assert took < 5
    revision = invoke(config, "db", "current", "--json")[1]
    assert f"(schema {json.loads(revision)['revision']}) to {target}" in out
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no partial file left

    # Restored, the copy is a store gnomon opens as it is.
    copy = {"GNOMON_STORE_URL": f"sqlite:///{target}"}
    code, out = invoke(config, "users", "list", "--json", env=copy)
    assert code == 0, out
    assert [(u["username"], u["disabled"]) for u in json.loads(out)] == [("ops", False)]
    assert invoke(config, "db", "current", env=copy)[0] == 0


def test_a_backup_never_replaces_a_file(config: Path, tmp_path: Path) -> None:
    upgrade(config)
    target = tmp_path / "precious.db"
    target.write_text("keep me")
    code, out = invoke(config, "db", "backup", str(target))
    assert code == 1 and "exists; a backup never replaces a file" in out
    assert target.read_text() == "keep me"


def test_a_store_without_schema_is_not_backed_up(config: Path, tmp_path: Path) -> None:
    code, out = invoke(config, "db", "backup", str(tmp_path / "empty.db"))
    assert code == 1 and "has no schema: there is nothing to back up" in out
    assert not (tmp_path / "empty.db").exists()


def test_a_postgresql_store_is_pointed_to_pg_dump(config: Path, tmp_path: Path) -> None:
    env = {"GNOMON_STORE_URL": "postgresql://gnomon@127.0.0.1:1/gnomon"}
    code, out = invoke(config, "db", "backup", str(tmp_path / "pg.db"), env=env)
    assert code == 1 and "back a PostgreSQL store up with pg_dump" in out


def test_upgrade_says_what_it_did(config: Path) -> None:
    store = f"sqlite:///{config.parent / 'data' / 'gnomon.db'}"
    newest = json.loads(invoke(config, "db", "history", "--json")[1])[-1]["revision"]
    code, out = invoke(config, "db", "upgrade")
    assert code == 0, out
    assert out.splitlines() == [
        f"created the schema at revision {newest}: {store}",
        "registered the declared jobs: gnomon.prune_runs, nightly",
    ]
    assert invoke(config, "db", "upgrade") == (
        0,
        f"schema already at the newest revision, {newest}: {store}\n",
    )


def test_declared_jobs_are_registered_once_never_synced_by_commands(config: Path) -> None:
    upgrade(config)
    # The configuration loses a job: only a scheduler's start (or a reload) drops it, never
    # a command that reads the store with a configuration that may not be the servers'.
    config.write_text(config.read_text().replace('id = "nightly"', 'id = "weekly"'))
    code, out = invoke(config, "jobs", "list", "--json")
    assert code == 0, out
    assert [job["id"] for job in json.loads(out)] == ["gnomon.prune_runs", "nightly"]
    code, out = invoke(config, "db", "upgrade")
    assert code == 0 and "registered" not in out
