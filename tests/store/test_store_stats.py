"""Run statistics on SQLite and PostgreSQL: whatever is sealed into run_hours and whatever is
still counted from the runs, the answer is what counting every run in Python gives; sealing
waits for runs still going, survives pruning and concurrent sealers, and never counts twice."""

from __future__ import annotations

import math
import random
import threading
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from gnomon.domain import (
    PERCENTILES,
    DurationPoint,
    Run,
    RunStats,
    RunStatus,
    RunUpdate,
    StatusCounts,
    TriggerSource,
    hour_start,
)
from gnomon.errors import StoreError
from gnomon.store import sql_stats
from gnomon.store.sql import SqlStore
from gnomon.store.sql_stats import SETTLE, percentile_cont
from gnomon.store.tables import run_hours, run_hours_sealed
from tests.store.test_store_contract import run

HOUR = timedelta(hours=1)
JOBS = ["alpha", "beta", "gamma", "delta"]


def make_runs(store: SqlStore, now: datetime, count: int = 400, seed: int = 3) -> list[Run]:
    """Final runs queued over the last three days (some on a whole hour, some sharing a time),
    with durations (some equal, some missing), in every final status, of four jobs."""
    rng = random.Random(seed)
    made = []
    for _ in range(count):
        back = rng.choice([rng.uniform(0, 72 * 3600), 3600 * rng.randint(1, 72)])
        queued_at = (now - timedelta(seconds=back)).replace(microsecond=rng.choice([0, 500_000]))
        status = rng.choice([RunStatus.SUCCEEDED] * 5 + [s for s in RunStatus if s.is_final])
        duration = rng.choice([None, 0, 7, 7, rng.randint(1, 90_000)])
        if status in (RunStatus.MISSED, RunStatus.SKIPPED):
            duration = None
        made.append(add(store, rng.choice(JOBS), queued_at, status, duration))
    return made


def add(
    store: SqlStore,
    job_id: str,
    queued_at: datetime,
    status: RunStatus,
    duration: int | None = None,
    scheduled_for: datetime | None = None,
) -> Run:
    run = Run(
        id=str(uuid.uuid4()),
        job_id=job_id,
        trigger_source=TriggerSource.MANUAL if scheduled_for is None else TriggerSource.SCHEDULED,
        status=status,
        queued_at=queued_at,
        scheduled_for=scheduled_for,
        duration_ms=duration,
    )
    return store.add_run(run)


def expected(
    made: list[Run],
    since: datetime,
    until: datetime,
    windows: list[datetime],
    as_of: datetime,
    job_id: str | None = None,
    duration_jobs: int = 20,
) -> RunStats:
    """run_stats' answer, from every run, in Python."""
    counted = [
        r
        for r in made
        if (job_id is None or r.job_id == job_id)
        and not (r.status.is_active and r.scheduled_for and r.scheduled_for > as_of)
    ]
    totals = [
        StatusCounts(w, _all(Counter(r.status for r in counted if r.queued_at >= w)))
        for w in windows
    ]
    start = hour_start(since)
    hours = []
    at = start
    while at < until:
        end = min(at + HOUR, until)
        hours.append(
            StatusCounts(at, _all(Counter(r.status for r in counted if at <= r.queued_at < end)))
        )
        at += HOUR
    timed: dict[tuple[str, datetime], list[int]] = defaultdict(list)
    for r in counted:
        succeeded = r.status is RunStatus.SUCCEEDED and r.duration_ms is not None
        if succeeded and start <= r.queued_at < until:
            timed[(r.job_id, hour_start(r.queued_at))].append(r.duration_ms)
    spent: dict[str, int] = defaultdict(int)
    for (job, _), values in timed.items():
        spent[job] += sum(values)
    top = sorted(spent, key=lambda job: (-spent[job], job))[:duration_jobs]
    durations = {
        job: [
            DurationPoint(at, len(values), sum(values), _percentiles(sorted(values)))
            for (found, at), values in sorted(timed.items(), key=lambda item: item[0][1])
            if found == job
        ]
        for job in top
    }
    return RunStats(totals=totals, hours=hours, durations=durations)


def _all(counter: Counter[RunStatus]) -> dict[RunStatus, int]:
    return {status: counter.get(status, 0) for status in RunStatus}


def _percentiles(ordered: list[int]) -> tuple[float, ...]:
    """percentile_cont, written out again from PostgreSQL's definition."""
    found = []
    for fraction in PERCENTILES:
        position = fraction * (len(ordered) - 1)
        low, high = math.floor(position), math.ceil(position)
        value = ordered[low] + (position - low) * (ordered[high] - ordered[low])
        found.append(float(value))
    return tuple(found)


def assert_same(found: RunStats, want: RunStats) -> None:
    assert found.totals == want.totals
    assert found.hours == want.hours
    assert list(found.durations) == list(want.durations)
    for job, points in want.durations.items():
        got = found.durations[job]
        assert [(p.start, p.count, p.total_ms) for p in got] == [
            (p.start, p.count, p.total_ms) for p in points
        ], job
        for mine, theirs in zip(got, points, strict=True):
            assert mine.percentiles == pytest.approx(theirs.percentiles, rel=1e-12), job


def sealed_until(store: SqlStore) -> datetime | None:
    with store._read() as conn:
        found: datetime | None = conn.execute(select(run_hours_sealed.c.sealed_until)).scalar_one()
    return found


def hour_rows(store: SqlStore) -> int:
    with store._read() as conn:
        return len(conn.execute(select(run_hours.c.hour)).all())


def queries(now: datetime) -> list[dict[str, Any]]:
    windows = [now - timedelta(hours=24), now - timedelta(days=7)]
    return [
        {"since": now - timedelta(hours=24), "until": now, "windows": windows},
        {"since": now - timedelta(days=3, hours=1), "until": now, "windows": windows},
        {
            "since": now - timedelta(hours=50, minutes=17),
            "until": now - timedelta(hours=3, minutes=41),
            "windows": [now - timedelta(hours=30, minutes=5)],
        },
        {"since": now - timedelta(days=3), "until": now, "windows": windows, "job_id": "beta"},
        {"since": now - timedelta(days=3), "until": now, "windows": windows, "duration_jobs": 2},
        {"since": now - timedelta(hours=2), "until": now + HOUR, "windows": [now]},
    ]


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def no_sealing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql_stats, "SEAL_BUDGET_S", 0.0)


def test_counted_from_the_runs_alone_the_stats_are_what_python_counts(
    store: SqlStore, now: datetime, no_sealing: None
) -> None:
    made = make_runs(store, now)
    for query in queries(now):
        assert_same(store.run_stats(as_of=now, **query), expected(made, as_of=now, **query))
    assert sealed_until(store) is None


def test_sealed_hours_give_the_same_stats_and_only_the_last_hours_are_counted(
    store: SqlStore, now: datetime
) -> None:
    made = make_runs(store, now)
    for query in queries(now):
        assert_same(store.run_stats(as_of=now, **query), expected(made, as_of=now, **query))
    assert sealed_until(store) == hour_start(now - SETTLE)
    assert hour_rows(store) > 0
    # New runs of the unsealed hours are counted at once; the sealed ones are not read again.
    made.append(add(store, "alpha", now - timedelta(minutes=1), RunStatus.FAILED, 5))
    made.append(add(store, "beta", now, RunStatus.SUCCEEDED, 11))
    for query in queries(now):
        assert_same(store.run_stats(as_of=now, **query), expected(made, as_of=now, **query))


def test_an_hour_with_a_run_still_going_is_sealed_only_once_it_ends(
    store: SqlStore, now: datetime
) -> None:
    made = make_runs(store, now, count=100)
    long_ago = now - timedelta(hours=30, minutes=20)
    going = add(store, "gamma", long_ago, RunStatus.RUNNING)
    made.append(going)
    query = queries(now)[1]
    assert_same(store.run_stats(as_of=now, **query), expected(made, as_of=now, **query))
    assert sealed_until(store) == hour_start(long_ago)
    store.update_runs([RunUpdate(going.id, RunStatus.SUCCEEDED, finished_at=now, duration_ms=42)])
    made[-1] = going.replace(status=RunStatus.SUCCEEDED, duration_ms=42)
    assert_same(store.run_stats(as_of=now, **query), expected(made, as_of=now, **query))
    assert sealed_until(store) == hour_start(now - SETTLE)


def test_fires_claimed_ahead_are_not_counted_until_due(store: SqlStore, now: datetime) -> None:
    made = make_runs(store, now, count=50)
    ahead = add(store, "alpha", now, RunStatus.QUEUED, scheduled_for=now + timedelta(seconds=1))
    made.append(ahead)
    query = queries(now)[0]
    found = store.run_stats(as_of=now, **query)
    assert_same(found, expected(made, as_of=now, **query))
    assert found.totals[0].counts[RunStatus.QUEUED] == 0
    later = now + timedelta(seconds=1)
    due = store.run_stats(as_of=later, **query)
    assert due.totals[0].counts[RunStatus.QUEUED] == 1


def test_pruning_into_sealed_hours_leaves_the_stats_of_the_runs_kept(
    store: SqlStore, now: datetime
) -> None:
    made = make_runs(store, now)
    query = queries(now)[1]
    store.run_stats(as_of=now, **query)  # seals up to the last hour
    cutoff = now - timedelta(hours=40, minutes=25)
    store.prune_runs(cutoff)
    kept = [r for r in made if r.queued_at >= cutoff]
    assert_same(store.run_stats(as_of=now, **query), expected(kept, as_of=now, **query))
    with store._read() as conn:
        hours = set(conn.execute(select(run_hours.c.hour)).scalars())
    assert min(hours) >= hour_start(cutoff)  # nothing left of the hours pruned


def test_a_run_inserted_into_a_sealed_hour_unseals_it_and_is_counted(
    store: SqlStore, now: datetime
) -> None:
    made = make_runs(store, now, count=100)
    query = queries(now)[1]
    store.run_stats(as_of=now, **query)
    assert sealed_until(store) == hour_start(now - SETTLE)
    # A manual run asked for after the clock stepped back by a day and a half.
    back = now - timedelta(hours=36, minutes=7)
    late = run("beta", None, queued_at=back)
    store.add_manual_run(late, max_instances=5, now=back)
    assert sealed_until(store) == hour_start(back)
    store.update_runs([RunUpdate(late.id, RunStatus.CANCELLED, finished_at=back)])
    made.append(late.replace(status=RunStatus.CANCELLED))
    older = add(store, "alpha", now - timedelta(hours=50), RunStatus.SUCCEEDED, 12)
    made.append(older)
    assert sealed_until(store) == hour_start(older.queued_at)
    assert_same(store.run_stats(as_of=now, **query), expected(made, as_of=now, **query))
    assert sealed_until(store) == hour_start(now - SETTLE)  # sealed again, with both counted


def test_stats_are_counted_from_the_runs_when_sealing_is_refused(
    store: SqlStore,
    now: datetime,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    made = make_runs(store, now, count=100)

    def refuse(budget_s: float | None = None) -> None:
        raise StoreError("the store at … failed: read-only transaction")

    monkeypatch.setattr(store, "seal_hours", refuse)
    query = queries(now)[1]
    assert_same(store.run_stats(as_of=now, **query), expected(made, as_of=now, **query))
    assert sealed_until(store) is None
    assert "sealing hours failed" in caplog.text


def test_concurrent_sealers_write_every_hour_once(store_url: str, now: datetime) -> None:
    first = SqlStore(store_url)
    made = make_runs(first, now, count=300)
    stores = [SqlStore(store_url) for _ in range(4)]
    errors: list[BaseException] = []

    def seal(store: SqlStore) -> None:
        try:
            store.seal_hours(budget_s=30)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=seal, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert sealed_until(first) == hour_start(now - SETTLE)
        for query in queries(now):
            assert_same(first.run_stats(as_of=now, **query), expected(made, as_of=now, **query))
    finally:
        for store in [first, *stores]:
            store.close()


def test_a_job_id_no_row_can_hold_has_no_runs(store: SqlStore, now: datetime) -> None:
    make_runs(store, now, count=20)
    found = store.run_stats(now - HOUR, now, [now - HOUR], as_of=now, job_id="a\x00")
    assert all(count == 0 for c in [*found.totals, *found.hours] for count in c.counts.values())
    assert found.durations == {}


@pytest.mark.parametrize(
    ("values", "fraction", "want"),
    [
        ([5], 0.99, 5.0),
        ([1, 2], 0.5, 1.5),
        ([1, 2, 3, 4], 0.9, 3.7),
        ([10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110], 0.9, 100.0),
        ([0, 0, 1000], 0.99, 980.0),
    ],
)
def test_percentile_cont_interpolates_as_postgresql(
    values: list[int], fraction: float, want: float
) -> None:
    assert percentile_cont(values, fraction) == pytest.approx(want)
