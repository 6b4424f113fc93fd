"""Upgrading a store made at the first migration (0001), and holding data, to the newest one:
`gnomon db upgrade` keeps the job, its runs and the user, and gnomon then works on them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from argon2 import PasswordHasher
from click.testing import CliRunner
from sqlalchemy import Connection, MetaData, create_engine, insert

from gnomon.api import create_app
from gnomon.cli import cli
from gnomon.domain import JobDefinition, JobKind, RunStatus
from gnomon.errors import StoreNotReady
from gnomon.services.runtime import Runtime
from gnomon.services.views import Actor
from gnomon.store.sql import SqlStore, alembic_config
from tests.api.conftest import AuthActions, assert_error, assert_ok
from tests.conftest import WriteConfig
from tests.e2e.pg import fresh_database
from tests.e2e.procs import wait_for

T0 = datetime(2026, 11, 20, 2, 30, tzinfo=UTC)
PASSWORD = "ops-password"
DECLARED = {"type": "cron", "expression": "0 30 2 * * * 2099", "timezone": "UTC"}
OVERRIDDEN = {"type": "cron", "expression": "0 0 5 * * * 2099", "timezone": "UTC"}
# A definition as revision 0001's code wrote it: the keys added since (public_kwargs,
# inherit_env, isolation) are absent.
DEFINITION_0001 = {
    "id": "nightly",
    "name": "Nightly report",
    "trigger": DECLARED,
    "kind": "command",
    "target": None,
    "command": ["sh", "-c", "echo report ready"],
    "shell": False,
    "description": "Builds the nightly report.",
    "kwargs": {},
    "env": {"REGION": "eu"},
    "cwd": None,
    "misfire_grace_time": 300,
    "coalesce": True,
    "max_instances": 1,
    "timeout": 600.0,
    "locked": False,
    "is_builtin": True,
}
CONFIG = """
[scheduler]
timezone = "UTC"
poll_interval = 0.2

[[jobs]]
id = "nightly"
name = "Nightly report"
description = "Builds the nightly report."
command = ["sh", "-c", "echo report ready"]
env = { REGION = "eu" }
timeout = 600
trigger = { type = "cron", expression = "0 30 2 * * * 2099" }

[[jobs]]
id = "gnomon.prune_runs"
enabled = false
"""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty store (no schema)."""
    if request.param == "sqlite":
        (tmp_path / "data").mkdir()
        yield f"sqlite:///{tmp_path / 'data' / 'gnomon.db'}"
        return
    with fresh_database("gnomon_migrate") as url:
        yield url


def fill_at_0001(conn: Connection, sqlite: bool) -> int:
    """Write a job, three runs, a user and an audit entry into revision 0001's tables, through
    those tables as the database describes them. Returns the user's id."""
    tables = MetaData()
    tables.reflect(conn)

    def at(when: datetime) -> datetime:  # revision 0001 kept naive UTC text on SQLite
        return when.replace(tzinfo=None) if sqlite else when

    user_id = conn.execute(
        insert(tables.tables["users"]).values(
            username="ops",
            role="admin",
            password_hash=PasswordHasher().hash(PASSWORD),
            disabled=False,
            created_at=at(T0),
            password_changed_at=None,
        )
    ).inserted_primary_key[0]
    conn.execute(
        insert(tables.tables["jobs"]).values(
            id="nightly",
            definition=DEFINITION_0001,
            trigger=OVERRIDDEN,
            paused=True,
            next_fire_time=None,
            revision=3,
            is_builtin=True,
            created_at=at(T0 - timedelta(days=30)),
            updated_at=at(T0),
        )
    )
    # Every column of 0001's runs table, each row then setting its own.
    common: dict[str, Any] = dict.fromkeys(
        (
            "created_by",
            "scheduled_for",
            "last_scheduled_for",
            "started_at",
            "finished_at",
            "duration_ms",
            "reason",
            "error_type",
            "error_message",
            "traceback",
            "output",
            "exit_code",
            "manual_job_id",
        )
    )
    common |= {
        "job_id": "nightly",
        "fire_count": 1,
        "cancel_requested": False,
        "node": "old-host-41-abcdef",
    }
    conn.execute(
        insert(tables.tables["runs"]),
        [
            {
                **common,
                "id": "00000000-0000-4000-8000-000000000001",
                "trigger_source": "scheduled",
                "status": "succeeded",
                "scheduled_for": at(T0 - timedelta(days=3)),
                "queued_at": at(T0 - timedelta(days=3)),
                "started_at": at(T0 - timedelta(days=3)),
                "finished_at": at(T0 - timedelta(days=3, seconds=-2)),
                "duration_ms": 2000,
                "output": "report ready\n",
                "exit_code": 0,
            },
            {
                **common,
                "id": "00000000-0000-4000-8000-000000000002",
                "trigger_source": "scheduled",
                "status": "missed",
                "scheduled_for": at(T0 - timedelta(days=2)),
                "last_scheduled_for": at(T0 - timedelta(days=1)),
                "fire_count": 2,
                "queued_at": at(T0),
                "finished_at": at(T0),
                "reason": "scheduler_down",
                "error_message": "2 fire time(s) later than the 300s grace",
            },
            {
                **common,
                "id": "00000000-0000-4000-8000-000000000003",
                "trigger_source": "manual",
                "status": "failed",
                "created_by": user_id,
                "manual_job_id": "manual-nightly-1",
                "scheduled_for": None,
                "queued_at": at(T0 + timedelta(hours=1)),
                "started_at": at(T0 + timedelta(hours=1)),
                "finished_at": at(T0 + timedelta(hours=1, seconds=1)),
                "duration_ms": 1000,
                "error_type": "CommandFailed",
                "error_message": "exited with code 2",
                "exit_code": 2,
            },
        ],
    )
    conn.execute(
        insert(tables.tables["audit"]).values(
            at=at(T0),
            actor="cli",
            action="job.pause",
            target="nightly",
            before={"paused": False},
            after={"paused": True},
            client=None,
            user_id=None,
        )
    )
    return int(user_id)


def made_at_0001(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "0001")
            return fill_at_0001(conn, sqlite=url.startswith("sqlite"))
    finally:
        engine.dispose()


def test_db_upgrade_from_0001_keeps_the_job_runs_and_user_and_gnomon_works_on_them(
    store_url: str, write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime]
) -> None:
    user_id = made_at_0001(store_url)
    config = write_config(f'[store]\nurl = "{store_url}"\n' + CONFIG)
    old = SqlStore(store_url)
    try:
        with pytest.raises(StoreNotReady, match="schema revision is 0001"):
            old.check_ready()
    finally:
        old.close()

    result = CliRunner().invoke(cli, ["db", "upgrade", "--config", str(config)])
    assert result.exit_code == 0, result.output
    upgraded = SqlStore(store_url)
    try:
        upgraded.check_ready()  # the newest revision now
    finally:
        upgraded.close()

    runtime = runtime_factory(config)
    job = runtime.store.get_job("nightly")
    assert job.definition == JobDefinition(
        id="nightly",
        name="Nightly report",
        trigger=DECLARED,
        kind=JobKind.COMMAND,
        command=("sh", "-c", "echo report ready"),
        description="Builds the nightly report.",
        env={"REGION": "eu"},
        timeout=600.0,
    )
    assert (job.trigger, job.paused, job.revision) == (OVERRIDDEN, True, 3)
    assert job.created_at == T0 - timedelta(days=30) and job.updated_at == T0

    runs = {r.id[-1]: r for r in runtime.store.list_runs(job_id="nightly").items}
    assert sorted(runs) == ["1", "2", "3"]
    succeeded = runtime.store.get_run(runs["1"].id)
    assert (succeeded.status, succeeded.output, succeeded.exit_code) == (
        RunStatus.SUCCEEDED,
        "report ready\n",
        0,
    )
    assert succeeded.scheduled_for == T0 - timedelta(days=3) and succeeded.duration_ms == 2000
    missed = runs["2"]
    assert (missed.status, missed.fire_count, missed.reason) == (
        RunStatus.MISSED,
        2,
        "scheduler_down",
    )
    assert missed.last_scheduled_for == T0 - timedelta(days=1)
    manual = runs["3"]
    assert (manual.status, manual.created_by, manual.manual_job_id, manual.exit_code) == (
        RunStatus.FAILED,
        user_id,
        "manual-nightly-1",
        2,
    )
    assert {r.lease_token for r in runs.values()} == {None}  # a column added since, left empty
    [entry] = runtime.store.list_audit(limit=10)
    assert (entry.action, entry.before, entry.after) == (
        "job.pause",
        {"paused": False},
        {"paused": True},
    )

    user = runtime.users.authenticate("ops", PASSWORD)
    assert (user.id, user.role.value, user.session_generation) == (user_id, "admin", 0)
    # Logins work on the upgraded store: a wrong password is counted, the right one let in.
    auth = AuthActions(create_app(runtime).test_client())
    assert_error(auth.login("ops", "not-the-password"), 401, "INVALID_CREDENTIALS")
    assert assert_ok(auth.login("ops", PASSWORD))["user"]["username"] == "ops"

    # A scheduler starts on it, keeps the job paused with its changed trigger, and runs it.
    runtime.start_scheduler()
    wait_for(runtime.jobs.scheduler_running, timeout=20, what="the scheduler to lead")
    view = runtime.jobs.get_job("nightly")
    assert (view.state, view.record.overridden) == ("paused", True)
    run = runtime.jobs.run_now("nightly", Actor("tester"))
    final = wait_for(
        lambda: r if (r := runtime.runs.get_run(run.id)).status.is_final else None,
        timeout=20,
        what="a run on the upgraded store",
    )
    assert final.status is RunStatus.SUCCEEDED and final.output == "report ready\n"
