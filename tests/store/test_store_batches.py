"""The batched firing writes at the sizes the scheduler uses: many claims, mixed updates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from gnomon.domain import RunStatus, RunUpdate
from gnomon.store.sql import SqlStore
from gnomon.store.sql_batch import sqlite_time
from tests.store.test_store_contract import T0, add_job, claim, run


def test_claim_fires_in_one_batch_of_thousands_inserts_each_fire_time_once(
    store: SqlStore,
) -> None:
    record = add_job(store)
    times = [T0 + timedelta(seconds=i) for i in range(1300)]  # several statement chunks
    first = [run(scheduled_for=t) for t in times[:700]]
    assert store.claim_fires([claim(r, record.revision) for r in first]) == first
    # Half already claimed, interleaved with new ones, and a duplicate within the batch.
    again = [run(scheduled_for=t) for t in times[350:]]
    duplicate = run(scheduled_for=times[-1])
    claimed = store.claim_fires(
        [claim(r, record.revision) for r in [*again, duplicate]]
    )  # fmt: skip
    assert claimed == again[350:]
    assert len(store.list_runs(limit=5000).items) == 1300


def test_update_runs_batch_keeps_stored_values_where_a_field_is_not_given(
    store: SqlStore,
) -> None:
    runs = [
        store.add_run(run(scheduled_for=T0 + timedelta(seconds=i), node="n1")) for i in range(3)
    ]
    started = T0 + timedelta(seconds=5)
    store.update_runs(
        [
            RunUpdate(runs[0].id, RunStatus.RUNNING, started_at=started),
            # A start and an end merged into one update: it applies from queued.
            RunUpdate(
                runs[1].id,
                RunStatus.SUCCEEDED,
                finished_at=started,
                output="",
                exit_code=0,
                expected=frozenset({RunStatus.QUEUED}),
            ),
            # Two updates of one run in one batch apply in order.
            RunUpdate(runs[2].id, RunStatus.RUNNING, started_at=started, node="n2"),
            RunUpdate(runs[2].id, RunStatus.FAILED, finished_at=started, error_type="E"),
        ]
    )
    first, second, third = (store.get_run(r.id) for r in runs)
    assert (first.status, first.started_at, first.node) == (RunStatus.RUNNING, started, "n1")
    assert (second.status, second.output, second.exit_code) == (RunStatus.SUCCEEDED, "", 0)
    assert second.started_at is None
    assert (third.status, third.started_at, third.node) == (RunStatus.FAILED, started, "n2")
    assert third.error_type == "E"


def test_claimed_times_keep_microseconds(store: SqlStore) -> None:
    record = add_job(store)
    when = T0 + timedelta(microseconds=123_456)
    r = run(scheduled_for=when, queued_at=when - timedelta(microseconds=7))
    assert store.claim_fires([claim(r, record.revision, when + timedelta(seconds=1))]) == [r]
    assert store.get_run(r.id) == r
    assert store.get_job(record.id).next_fire_time == when + timedelta(seconds=1)


def test_update_runs_refuses_moves_a_run_cannot_make_and_applies_the_rest(
    store: SqlStore,
) -> None:
    queued, running, ended = (
        store.add_run(run(scheduled_for=T0 + timedelta(seconds=i), node="n1", status=status))
        for i, status in enumerate((RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.INTERRUPTED))
    )
    at = T0 + timedelta(seconds=9)
    refused = store.update_runs(
        [
            RunUpdate(queued.id, RunStatus.SUCCEEDED, finished_at=at),  # never started
            RunUpdate(running.id, RunStatus.RUNNING, started_at=at),  # not backwards
            RunUpdate(ended.id, RunStatus.SUCCEEDED, finished_at=at),  # out of a final status
            RunUpdate(ended.id, RunStatus.RUNNING, started_at=at),
            RunUpdate("no-such-run", RunStatus.FAILED, finished_at=at),
        ]
    )
    assert {(u.run_id, u.status) for u in refused} == {
        (queued.id, RunStatus.SUCCEEDED),
        (running.id, RunStatus.RUNNING),
        (ended.id, RunStatus.SUCCEEDED),
        (ended.id, RunStatus.RUNNING),
        ("no-such-run", RunStatus.FAILED),
    }
    assert [store.get_run(r.id) for r in (queued, running, ended)] == [queued, running, ended]
    # The allowed moves of the same runs do apply.
    assert (
        store.update_runs(
            [
                RunUpdate(queued.id, RunStatus.RUNNING, started_at=at),
                RunUpdate(running.id, RunStatus.SUCCEEDED, finished_at=at),
            ]
        )
        == []
    )
    assert store.get_run(queued.id).status is RunStatus.RUNNING
    assert store.get_run(running.id).status is RunStatus.SUCCEEDED


def test_update_runs_with_an_owner_applies_only_to_that_nodes_runs(store: SqlStore) -> None:
    mine = store.add_run(run(scheduled_for=T0, node="n1", status=RunStatus.RUNNING))
    theirs = store.add_run(
        run(scheduled_for=T0 + timedelta(seconds=1), node="n2", status=RunStatus.RUNNING)
    )
    updates = [
        RunUpdate(r.id, RunStatus.FAILED, finished_at=T0, owner="n1") for r in (mine, theirs)
    ]
    assert [u.run_id for u in store.update_runs(updates)] == [theirs.id]
    assert store.get_run(mine.id).status is RunStatus.FAILED
    assert store.get_run(theirs.id).status is RunStatus.RUNNING


def test_text_with_nul_and_undecodable_bytes_is_stored_visibly_replaced(store: SqlStore) -> None:
    dirty = "a\x00b" + b"\xff".decode("utf-8", "surrogateescape") + "c 中"
    clean = "a\u2400b\ufffdc 中"
    claimed = store.add_run(
        run(scheduled_for=T0, node="n1", status=RunStatus.RUNNING, error_message=dirty)
    )
    assert store.get_run(claimed.id).error_message == clean
    running = [
        store.add_run(
            run(scheduled_for=T0 + timedelta(seconds=i), node="n1", status=RunStatus.RUNNING)
        )
        for i in range(1, 4)
    ]
    # One dirty update among clean ones: every run of the batch gets its final status.
    assert (
        store.update_runs(
            [
                RunUpdate(running[0].id, RunStatus.SUCCEEDED, finished_at=T0, output="ok"),
                RunUpdate(
                    running[1].id,
                    RunStatus.FAILED,
                    finished_at=T0,
                    output=dirty,
                    traceback=dirty,
                    error_type=dirty,
                    reason=dirty,
                ),
                RunUpdate(running[2].id, RunStatus.SUCCEEDED, finished_at=T0, output="ok"),
            ]
        )
        == []
    )
    first, second, third = (store.get_run(r.id) for r in running)
    assert (first.status, third.status) == (RunStatus.SUCCEEDED, RunStatus.SUCCEEDED)
    assert second.status is RunStatus.FAILED
    assert (second.output, second.traceback, second.error_type, second.reason) == (clean,) * 4


def test_sqlite_time_writes_the_same_text_for_an_instant_whatever_its_zone_and_refuses_naive() -> (
    None
):
    when = datetime(2030, 1, 2, 3, 4, 5, 60, tzinfo=UTC)
    assert sqlite_time(when) == "2030-01-02 03:04:05.000060"
    assert sqlite_time(when) == "2030-01-02 03:04:05.000060"  # the second time from the cache
    in_paris = when.astimezone(timezone(timedelta(hours=1)))
    assert sqlite_time(in_paris) == "2030-01-02 03:04:05.000060"
    assert sqlite_time(datetime(2030, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1)))) == (
        "2030-01-02 03:04:05.000000"
    )
    with pytest.raises(ValueError, match="naive"):
        sqlite_time(datetime(2030, 1, 2, 3, 4, 5, 60))  # equal fields to a cached instant
    assert sqlite_time(None) is None
