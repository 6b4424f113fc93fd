"""The store goes away under a running scheduler: PostgreSQL restarted, and separately its
connections killed, while runs are in flight; SQLite locked for 30 s by another process. Firing
resumes, every run ends, no fire time is recorded twice, and every fire time has a record."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from gnomon.domain import Run, utcnow
from gnomon.services.runtime import Runtime
from tests.components import libpq, pg_admin_url
from tests.conftest import WriteConfig
from tests.e2e.pg import fresh_database
from tests.e2e.procs import wait_for
from tests.faults.private_pg import private_postgres

JOBS = ("a", "b", "c")


def config(store_line: str) -> str:
    jobs = "".join(
        f'[[jobs]]\nid = "{job}"\ncommand = ["sleep", "0.3"]\n'
        'trigger = { type = "interval", seconds = 1 }  # fires: runs in flight at the fault\n\n'
        for job in JOBS
    )
    return (
        f"{store_line}\n"
        '[scheduler]\ntimezone = "UTC"\npoll_interval = 0.2\nlease_ttl = 4\nshutdown_grace = 2\n\n'
        '[[jobs]]\nid = "gnomon.prune_runs"\nenabled = false\n\n' + jobs
    )


def started(runtime: Runtime) -> dict[str, int]:
    items = runtime.runs.list_runs(limit=500).items
    return Counter(r.job_id for r in items if r.started_at is not None)


def seconds_until_every_job_runs_again(runtime: Runtime, timeout: float) -> float:
    before = started(runtime)
    begun = time.monotonic()
    wait_for(
        lambda: all(started(runtime)[j] > before[j] for j in JOBS),
        timeout=timeout,
        what="every job to run again",
        every=0.1,
    )
    return time.monotonic() - begun


def check_runs(runs: list[Run], stopped_at: object) -> None:
    assert isinstance(stopped_at, type(utcnow()))
    for job in JOBS:
        times = [r.scheduled_for for r in runs if r.job_id == job]
        assert len(times) == len(set(times)), f"{job}: a fire time recorded twice"
        assert not uncovered_fire_times([r for r in runs if r.job_id == job]), (
            f"{job}: fire times with no run and no record saying why"
        )
    settled = [
        r for r in runs if r.scheduled_for and r.scheduled_for < stopped_at - timedelta(seconds=2)
    ]
    assert all(r.status.is_final for r in settled), [r for r in settled if not r.status.is_final]


def uncovered_fire_times(runs: list[Run]) -> list[object]:
    """The fire times of a job every second, from its first recorded to its last, that no
    record covers: a run or a missed/skipped record holds one fire time, or, coalesced, every
    fire time from its scheduled_for to its last_scheduled_for."""
    spans = sorted(
        (r.scheduled_for, r.last_scheduled_for or r.scheduled_for)
        for r in runs
        if r.scheduled_for is not None
    )
    if not spans:
        return []
    step = timedelta(seconds=1)
    missing: list[object] = []
    when = spans[0][0]
    for first, last in spans:
        while when < first:
            missing.append(when)
            when += step
        while when <= last:
            when += step
    return missing


@pytest.mark.postgres
def test_restarted_postgresql_leaves_no_run_behind(
    write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime]
) -> None:
    # A server of the test's own: restarting the shared one would cut every other test off.
    with private_postgres() as server:
        runtime = runtime_factory(write_config(config(f'[store]\nurl = "{server.url}"\n')))
        runtime.start_scheduler()
        seconds_until_every_job_runs_again(runtime, 20)
        time.sleep(0.5)  # runs in flight
        server.stop("fast")
        time.sleep(3)  # down for three fire times
        server.start()
        resumed = seconds_until_every_job_runs_again(runtime, 30)
        time.sleep(2)
        stopped_at = utcnow()
        runs = runtime.runs.list_runs(limit=500).items
        runtime.close(grace=5)
    print(f"\nPostgreSQL restarted after 3 s down: every job ran again {resumed:.1f} s later")
    check_runs(runs, stopped_at)
    assert resumed <= 12


@pytest.mark.postgres
def test_killed_postgresql_connections_leave_no_run_behind(
    write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime]
) -> None:
    with fresh_database("gnomon_outage") as url:
        runtime = runtime_factory(write_config(config(f'[store]\nurl = "{url}"\n')))
        runtime.start_scheduler()
        seconds_until_every_job_runs_again(runtime, 20)
        name = url.rsplit("/", 1)[1]
        resumed = []
        for _ in range(2):
            time.sleep(0.5)  # runs in flight
            with psycopg.connect(libpq(pg_admin_url()), autocommit=True) as admin:
                killed = admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                ).fetchone()
            assert killed is not None and killed[0] > 0
            resumed.append(seconds_until_every_job_runs_again(runtime, 30))
        time.sleep(1)
        stopped_at = utcnow()
        runs = runtime.runs.list_runs(limit=500).items
        runtime.close(grace=5)
    print(f"\nPostgreSQL connections killed: every job ran again after {resumed} s")
    check_runs(runs, stopped_at)


LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


def test_sqlite_locked_by_another_process_for_30_seconds(
    write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime], tmp_path: Path
) -> None:
    runtime = runtime_factory(write_config(config("")))
    runtime.start_scheduler()
    seconds_until_every_job_runs_again(runtime, 20)
    database = tmp_path / "data" / "gnomon.db"
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(database), "30"], stdout=subprocess.PIPE, text=True
    )
    assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
    assert locker.wait(60) == 0
    resumed = seconds_until_every_job_runs_again(runtime, 30)
    time.sleep(1)
    stopped_at = utcnow()
    runs = runtime.runs.list_runs(limit=500).items
    runtime.close(grace=5)
    print(f"\nSQLite locked 30 s: every job ran again {resumed:.1f} s after the lock ended")
    check_runs(runs, stopped_at)
    assert resumed <= 10
