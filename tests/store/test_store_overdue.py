"""Overdue alerts in the store, on SQLite and PostgreSQL: told once per spell without success,
fenced by the lease, and answered by `recovered` on the next success."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from gnomon.domain import Alerting, Event, Lease, Route, RunStatus, RunUpdate, utcnow
from gnomon.store.base import LeaseLost, OverdueCheck
from gnomon.store.sql import SqlStore
from tests.store.test_store_contract import add_job, run

ROUTES = (
    Route("ops", frozenset({Event.OVERDUE, Event.RECOVERED})),
    Route("pager", frozenset({Event.FAILED})),  # hears neither
)


def lease(store: SqlStore) -> Lease:
    taken = store.acquire_lease("scheduler", "n1", 30)
    assert taken is not None
    return taken


def told(store: SqlStore) -> list[tuple[Event, str, str | None]]:
    items = store.list_deliveries(limit=100).items
    return sorted((d.event, d.channel, d.run_id) for d in items)


def succeed(store: SqlStore, job_id: str, watched: bool = True) -> str:
    now = utcnow()
    going = run(job_id, now - timedelta(seconds=1), status=RunStatus.RUNNING, started_at=now)
    store.add_run(going)
    update = RunUpdate(
        going.id,
        RunStatus.SUCCEEDED,
        finished_at=utcnow(),
        alerting=Alerting(job_id, ROUTES, watched=watched),
    )
    assert store.update_runs([update]) == []
    return going.id


def test_a_job_without_success_is_told_overdue_once_and_its_next_success_recovers(
    store: SqlStore,
) -> None:
    add_job(store, "nightly")
    fence = lease(store)
    check = OverdueCheck("nightly", 0.3, ROUTES)
    assert store.raise_overdue([check], utcnow(), fence) == []  # just added
    time.sleep(0.4)
    assert store.raise_overdue([check], utcnow(), fence) == ["nightly"]
    assert told(store) == [(Event.OVERDUE, "ops", None)]
    time.sleep(0.4)
    # Still overdue, but told already: not again, on this leader or the next.
    assert store.raise_overdue([check], utcnow(), fence) == []

    success = succeed(store, "nightly")
    assert told(store) == [(Event.OVERDUE, "ops", None), (Event.RECOVERED, "ops", success)]
    # A success that follows no `overdue` recovers nothing; a new spell without success is
    # told again, once.
    succeed(store, "nightly")
    assert len(told(store)) == 2
    assert store.raise_overdue([check], utcnow(), fence) == []
    time.sleep(0.4)
    assert store.raise_overdue([check], utcnow(), fence) == ["nightly"]
    assert store.raise_overdue([check], utcnow(), fence) == []
    assert [e for e, _, _ in told(store)].count(Event.OVERDUE) == 2


def test_overdue_is_fenced_by_the_lease(store: SqlStore) -> None:
    record = add_job(store, "nightly")
    assert record.created_at is not None
    fence = lease(store)
    store.release_lease("scheduler", "n1")
    check = OverdueCheck("nightly", 1.0, ROUTES)
    with pytest.raises(LeaseLost):
        store.raise_overdue([check], record.created_at + timedelta(seconds=5), fence)
    assert told(store) == []


def test_a_look_that_finds_nothing_overdue_takes_no_write_lock(
    store: SqlStore, store_url: str
) -> None:
    # It runs every few seconds beside claims and starts: it must not queue behind them, nor
    # hold them up. Another process holds the write lock meanwhile.
    record = add_job(store, "nightly")
    assert record.created_at is not None
    fence = lease(store)
    check = OverdueCheck("nightly", 60.0, ROUTES)
    blocker = write_lock_held_elsewhere(store_url)
    try:
        began = time.monotonic()
        assert store.raise_overdue([check], utcnow(), fence) == []
        assert time.monotonic() - began < 1.0
    finally:
        blocker.rollback()
        blocker.close()
    # Past its time it is told, under the write lock and the fence.
    assert store.raise_overdue([check], record.created_at + timedelta(seconds=61), fence) == [
        "nightly"
    ]


def write_lock_held_elsewhere(store_url: str) -> Any:
    """A connection of its own, in a transaction holding the store's write lock (on PostgreSQL
    the lease row's lock, which every fenced write takes)."""
    if store_url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(store_url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        return conn
    import psycopg

    conn = psycopg.connect(store_url.replace("postgresql+psycopg://", "postgresql://"))
    conn.execute("SELECT 1 FROM leases FOR UPDATE")
    return conn
