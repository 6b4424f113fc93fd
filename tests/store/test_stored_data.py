"""What the store holds is readable data (SPEC §4.1): its rows, read with the database's own
client rather than gnomon's, hold JSON text and plain values, never pickled objects."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest

from gnomon.domain import RunStatus
from gnomon.services.runtime import Runtime
from gnomon.services.views import Actor
from tests.components import libpq
from tests.conftest import WriteConfig
from tests.e2e.pg import fresh_database
from tests.e2e.procs import wait_for

TESTER = Actor("tester")
TABLES = ("jobs", "runs", "audit", "nodes", "users")
JSON_COLUMNS = {
    "jobs": ("definition", "trigger"),
    "audit": ("before", "after"),
    "nodes": ("roles",),
}
NEW_TRIGGER = {"trigger_type": "cron", "cron_expression": "0 15 4 * * * 2099"}
# The opening bytes of a pickle (protocol 2 and later), as text would carry them.
PICKLE_MARKS = ("\x80\x02", "\x80\x03", "\x80\x04", "\x80\x05", "(dp0", "ccopy_reg")

CONFIG = """
[scheduler]
timezone = "UTC"
poll_interval = 0.2

[[jobs]]
id = "export"
target = "tests.engine.targets:prints"
kwargs = { text = "rows exported" }
trigger = { type = "interval", hours = 6, start_date = "2099-01-01T00:00:00Z" }

[[jobs]]
id = "backup"
command = ["sh", "-c", "echo dumping"]
trigger = { type = "cron", expression = "0 30 2 * * * 2099" }

[[jobs]]
id = "gnomon.prune_runs"
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
"""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'gnomon.db'}"
        return
    with fresh_database("gnomon_rows") as url:
        yield url


@pytest.fixture
def filled(
    store_url: str, write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime]
) -> Runtime:
    """A store a scheduler has used: a run of each job, a pause, a changed trigger, a user."""
    runtime = runtime_factory(write_config(f'[store]\nurl = "{store_url}"\n' + CONFIG))
    runtime.users.ensure_first_admin("admin-password")
    runtime.start_scheduler()
    wait_for(runtime.jobs.scheduler_running, timeout=20, what="the scheduler to lead")
    for job_id in ("export", "backup"):
        run = runtime.jobs.run_now(job_id, TESTER)
        wait_for(
            lambda run=run: runtime.runs.get_run(run.id).status is RunStatus.SUCCEEDED,
            timeout=20,
            what=f"the run of {job_id}",
        )
    runtime.jobs.pause("backup", TESTER)
    runtime.jobs.update_trigger("export", NEW_TRIGGER, TESTER)
    return runtime  # its scheduler still running: the nodes table has its row


def raw_rows(url: str) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """Every row of TABLES as the database's own client returns it (JSON columns as their
    text), and the names of the columns whose type holds bytes."""
    rows: dict[str, list[dict[str, Any]]] = {}
    if url.startswith("sqlite"):
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            conn.row_factory = sqlite3.Row
            for table in TABLES:
                rows[table] = [dict(row) for row in conn.execute(f"SELECT * FROM {table}")]
            blobs = [
                f"{table}.{column}"
                for table, table_rows in rows.items()
                for column in (table_rows[0] if table_rows else {})
                if conn.execute(
                    f"SELECT count(*) FROM {table} WHERE typeof(\"{column}\") = 'blob'"
                ).fetchone()[0]
            ]
        return rows, blobs
    with psycopg.connect(libpq(url)) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        ).fetchall()
        kinds = {(str(table), str(column)): str(kind) for table, column, kind in columns}
        blobs = [f"{table}.{column}" for (table, column), kind in kinds.items() if kind == "bytea"]
        for table, json_columns in JSON_COLUMNS.items():
            for column in json_columns:
                assert kinds[(table, column)] in ("json", "jsonb"), (table, column)
        for table in TABLES:
            names = [column for (owner, column) in kinds if owner == table]
            # JSON columns as the text stored, not as psycopg parses them.
            select = ", ".join(
                f'"{name}"::text' if kinds[(table, name)] in ("json", "jsonb") else f'"{name}"'
                for name in names
            )
            cursor = conn.execute(f"SELECT {select} FROM {table}".encode())
            rows[table] = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return rows, blobs


def test_rows_hold_json_text_and_plain_values_never_pickles(
    filled: Runtime, store_url: str
) -> None:
    rows, blobs = raw_rows(store_url)
    assert blobs == []
    for table, table_rows in rows.items():
        assert table_rows, f"{table} is empty: nothing was checked"
        for row in table_rows:
            for column, value in row.items():
                assert not isinstance(value, bytes | memoryview), (table, column)
                if isinstance(value, str):
                    assert not any(mark in value for mark in PICKLE_MARKS), (table, column)
    jobs = {row["id"]: row for row in rows["jobs"]}
    export = json.loads(jobs["export"]["definition"])
    assert (export["target"], export["kwargs"]) == (
        "tests.engine.targets:prints",
        {"text": "rows exported"},
    )
    # The trigger in force, changed through the service, is the spec, not an object.
    assert json.loads(jobs["export"]["trigger"]) == {
        "type": "cron",
        "expression": "0 15 4 * * * 2099",
        "timezone": "UTC",
    }
    assert json.loads(jobs["backup"]["definition"])["command"] == ["sh", "-c", "echo dumping"]
    assert json.loads(jobs["backup"]["trigger"])["type"] == "cron"
    assert jobs["backup"]["paused"] in (True, 1)
    for row in rows["audit"]:
        for column in ("before", "after"):
            if row[column] is not None:
                assert isinstance(json.loads(row[column]), dict | None), row
    changed = [r for r in rows["audit"] if r["action"] == "job.update_trigger"]
    assert json.loads(changed[0]["after"])["trigger"]["expression"] == "0 15 4 * * * 2099"
    assert all(isinstance(json.loads(row["roles"]), list) for row in rows["nodes"])
    outputs = {row["job_id"]: row["output"] for row in rows["runs"]}
    assert "rows exported" in outputs["export"] and "dumping" in outputs["backup"]
