"""The notification outbox in the store, on SQLite and PostgreSQL: events recorded in the
transaction that ends a run, and the deliveries' own lifecycle."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from gnomon.alerts import DEFAULT_EVENTS, Attempt, DeliveryStatus
from gnomon.domain import Alerting, Event, MissReason, Route, RunStatus, RunUpdate
from gnomon.errors import ValidationFailed
from gnomon.store.base import FireClaim
from gnomon.store.sql import SqlStore
from tests.store.test_store_contract import T0, add_job, claim, job, run

OPS = Route("ops", DEFAULT_EVENTS)
PAGER = Route("pager", frozenset({Event.FAILED}))
ALERTING = Alerting("backup", (OPS, PAGER))


def events(store: SqlStore, **filters: Any) -> list[tuple[str | None, str, Event]]:
    """(run_id, channel, event) of every delivery, oldest first."""
    page = store.list_deliveries(limit=500, **filters)
    return [(d.run_id, d.channel, d.event) for d in reversed(page.items)]


def running(store: SqlStore, job_id: str = "backup", minute: int = 0) -> str:
    r = store.add_run(
        run(job_id, T0 + timedelta(minutes=minute), status=RunStatus.RUNNING, node="n1")
    )
    return r.id


def end(
    store: SqlStore, run_id: str, status: RunStatus, alerting: Alerting | None = ALERTING
) -> list[RunUpdate]:
    return store.update_runs([RunUpdate(run_id, status, finished_at=T0, alerting=alerting)])


@contextmanager
def statements(store: SqlStore) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.append(sql)

    event.listen(store._engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(store._engine, "before_cursor_execute", note)


@pytest.mark.parametrize(
    ("status", "raised"),
    [
        (RunStatus.FAILED, Event.FAILED),
        (RunStatus.TIMED_OUT, Event.TIMED_OUT),
        (RunStatus.INTERRUPTED, Event.INTERRUPTED),
    ],
)
def test_a_failure_records_one_pending_delivery_per_listening_channel(
    store: SqlStore, status: RunStatus, raised: Event
) -> None:
    run_id = running(store)
    assert end(store, run_id, status) == []
    expected = [(run_id, "ops", raised)]
    if raised is Event.FAILED:
        expected.append((run_id, "pager", raised))
    assert sorted(events(store)) == sorted(expected)
    (delivery, *_) = store.list_deliveries().items
    assert delivery.status is DeliveryStatus.PENDING
    assert delivery.job_id == "backup"
    assert delivery.next_attempt_at == delivery.created_at
    assert (delivery.attempts, delivery.attempt_count) == ((), 0)


def test_no_delivery_without_channels_nor_for_a_refused_transition(store: SqlStore) -> None:
    quiet, refused = running(store), running(store, minute=1)
    end(store, refused, RunStatus.SUCCEEDED, alerting=None)
    end(store, quiet, RunStatus.FAILED, alerting=None)
    assert end(store, refused, RunStatus.FAILED)  # already final: refused, tells no one
    assert events(store) == []


def test_a_batch_without_channels_costs_no_statement_more(store: SqlStore) -> None:
    ids = [running(store, minute=m) for m in range(3)]
    with statements(store) as seen:
        store.update_runs([RunUpdate(i, RunStatus.FAILED, finished_at=T0) for i in ids])
    written = [sql for sql in seen if "deliveries" in sql or "earlier" in sql]
    assert written == []


def test_a_success_after_a_failure_is_recovered_and_after_a_success_is_not(
    store: SqlStore,
) -> None:
    first, second, third, fourth = (running(store, minute=m) for m in range(4))
    end(store, first, RunStatus.SUCCEEDED)  # no earlier outcome: nothing
    end(store, second, RunStatus.FAILED)
    end(store, third, RunStatus.SUCCEEDED)
    end(store, fourth, RunStatus.SUCCEEDED)
    assert sorted(events(store)) == sorted(
        [
            (second, "ops", Event.FAILED),
            (second, "pager", Event.FAILED),
            (third, "ops", Event.RECOVERED),
        ]
    )


def test_skips_and_cancels_are_looked_past_for_the_previous_outcome(store: SqlStore) -> None:
    failed, cancelled, ok = (running(store, minute=m) for m in range(3))
    skipped = store.add_run(run(scheduled_for=T0 + timedelta(minutes=1, seconds=30))).id
    end(store, failed, RunStatus.FAILED, alerting=None)
    end(store, cancelled, RunStatus.CANCELLED, alerting=None)
    end(store, skipped, RunStatus.SKIPPED, alerting=None)
    end(store, ok, RunStatus.SUCCEEDED)
    assert events(store) == [(ok, "ops", Event.RECOVERED)]


def test_a_failure_and_the_success_after_it_in_one_batch_raise_both(store: SqlStore) -> None:
    failed, ok = running(store, minute=0), running(store, minute=1)
    other = running(store, "other", minute=0)  # another job's failure does not count
    store.update_runs(
        [
            RunUpdate(ok, RunStatus.SUCCEEDED, alerting=ALERTING),
            RunUpdate(failed, RunStatus.FAILED, alerting=ALERTING),
            RunUpdate(other, RunStatus.FAILED),
        ]
    )
    assert (ok, "ops", Event.RECOVERED) in events(store)
    assert len(events(store, channel="ops")) == 2


def test_a_fire_claimed_missed_records_its_event_with_the_claim(store: SqlStore) -> None:
    record = add_job(store)
    missed = run(status=RunStatus.MISSED, reason=MissReason.SCHEDULER_DOWN.value, finished_at=T0)
    queued = run(scheduled_for=T0 + timedelta(minutes=1))
    store.claim_fires(
        [
            FireClaim(missed, record.revision, T0, alerting=ALERTING),
            FireClaim(queued, record.revision, T0, alerting=ALERTING),
        ]
    )
    store.claim_fires([claim(run(status=RunStatus.MISSED), record.revision)])  # a duplicate
    assert sorted(events(store)) == [(missed.id, "ops", Event.MISSED)]


def test_runs_interrupted_by_the_store_tell_the_channels_their_job_declares(
    store: SqlStore,
) -> None:
    add_job(store, definition=replace(job().definition, notify=(OPS,)))
    add_job(store, "quiet")
    loud = running(store)
    quiet = running(store, "quiet")
    store.interrupt_runs(T0 + timedelta(seconds=5), "node lost", nodes=["n1"])
    assert events(store) == [(loud, "ops", Event.INTERRUPTED)]
    assert store.get_run(quiet).status is RunStatus.INTERRUPTED


def test_due_deliveries_come_longest_due_first_and_updates_apply_while_pending(
    store: SqlStore,
) -> None:
    a, b = running(store, minute=0), running(store, minute=1)
    end(store, a, RunStatus.FAILED, Alerting("backup", (OPS,)))
    end(store, b, RunStatus.FAILED, Alerting("backup", (OPS,)))
    later = T0 + timedelta(days=3650)
    first, second = store.due_deliveries(later)
    assert [first.run_id, second.run_id] == [a, b]
    assert store.due_deliveries(later, except_channels={"ops", "other"}) == []
    assert len(store.due_deliveries(later, limit=1, except_channels={"other"})) == 1
    retry_at = later + timedelta(seconds=30)
    failed_once = replace(
        first,
        attempts=(Attempt(later, status_code=503, error="HTTP 503"),),
        attempt_count=1,
        next_attempt_at=retry_at,
    )
    assert store.update_delivery(failed_once)
    assert [d.id for d in store.due_deliveries(later)] == [second.id]
    (again,) = [d for d in store.due_deliveries(retry_at) if d.id == first.id]
    assert again.attempts == (Attempt(later, status_code=503, error="HTTP 503"),)
    done = replace(
        again, status=DeliveryStatus.DELIVERED, next_attempt_at=None, finished_at=retry_at
    )
    assert store.update_delivery(done)
    assert not store.update_delivery(done)  # no longer pending: written once
    assert [d.id for d in store.due_deliveries(retry_at)] == [second.id]


def test_deliveries_are_listed_newest_first_filtered_and_paged(store: SqlStore) -> None:
    ids = [running(store, minute=m) for m in range(5)]
    for run_id in ids:
        end(store, run_id, RunStatus.FAILED)
    assert len(events(store)) == 10
    assert {d.run_id for d in store.list_deliveries(channel="pager").items} == set(ids)
    assert store.list_deliveries(job_id="other").items == []
    assert store.list_deliveries(status=DeliveryStatus.DELIVERED).items == []
    seen, cursor = [], None
    while True:
        page = store.list_deliveries(limit=3, cursor=cursor)
        seen += page.items
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 10 == len({d.id for d in seen})
    assert [(d.created_at, d.id) for d in seen] == sorted(
        ((d.created_at, d.id) for d in seen), reverse=True
    )
    with pytest.raises(ValidationFailed):
        store.list_deliveries(cursor="not-a-cursor")


@pytest.mark.parametrize("key", ["a\x00", "\ud800"])
def test_deliveries_filtered_by_a_key_no_row_can_hold_are_none(store: SqlStore, key: str) -> None:
    # ?job_id=a%00 reached the query: PostgreSQL refused it and the API answered 500.
    end(store, running(store), RunStatus.FAILED)
    assert store.list_deliveries(job_id=key).items == []
    assert store.list_deliveries(channel=key).items == []
    with pytest.raises(ValidationFailed):
        store.list_deliveries(job_id=key, cursor="not-a-cursor")


def test_prune_forgets_old_deliveries_that_are_done_but_not_pending_ones(
    store: SqlStore,
) -> None:
    a, b = running(store, minute=0), running(store, minute=1)
    end(store, a, RunStatus.FAILED, Alerting("backup", (OPS,)))
    end(store, b, RunStatus.FAILED, Alerting("backup", (OPS,)))
    first = next(d for d in store.list_deliveries().items if d.run_id == a)
    store.update_delivery(replace(first, status=DeliveryStatus.FAILED))
    store.prune_runs(T0 + timedelta(days=36500))
    assert [d.run_id for d in store.list_deliveries().items] == [b]
