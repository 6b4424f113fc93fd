"""The batched firing writes at the sizes the scheduler uses: many claims, mixed updates."""

from __future__ import annotations

from datetime import timedelta

from gnomon.domain import RunStatus, RunUpdate
from gnomon.store.sql import SqlStore
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
            RunUpdate(runs[1].id, RunStatus.SUCCEEDED, finished_at=started, output="", exit_code=0),
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
