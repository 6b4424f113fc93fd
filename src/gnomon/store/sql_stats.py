"""SqlStore's run statistics: runs by status per window and per hour, and duration percentiles
per job and hour, fast on a store of a million runs.

Counting runs row by row is what made statistics slow (a week of a million runs kept 30 days
is 230,000 rows: about a second on either backend, and a day over 100 ms), so the hours that
are over are counted once and kept in `run_hours`, and only the hours after `sealed_until` are
counted from the runs.

An hour is sealed when it ended SETTLE ago or more (by the store's clock) and no run queued in
it is still queued or running: from then on nothing changes its runs, because a run's status
only ever leaves queued or running, and a run is inserted with queued_at = its writer's now.
(A run inserted into a sealed hour all the same unseals it: a manual run asked for after the
clock stepped back, say; see reopen_sealed. Runs the scheduler claims in batches are not
checked: its clock never goes back, and a node's clock behind the store's by more than SETTLE
would insert runs that are listed but not counted.)

Sealing happens in the first statistics read that finds an hour to seal: the runs are
aggregated in a read, then written in a short write that also moves `sealed_until`, a
compare-and-set on it and on `generation`, so two sealers never both write an hour, and one
that read runs before they were pruned (or an hour was unsealed) writes nothing. prune_runs
rewrites the hour it cuts into (see reseal_pruned). A store that refuses the write (busy, or
one this process may only read) still answers: the hours are counted from the runs.

Percentiles are PostgreSQL's percentile_cont; SQLite has none, so there the durations of the
hours aggregated (one batch of SEAL_BATCH at most, or the unsealed hours) are read, sorted and
interpolated in Python by the same definition, which gives the same numbers.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    cast,
    extract,
    func,
    literal,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from gnomon.domain import (
    ACTIVE_STATUSES,
    PERCENTILES,
    DurationPoint,
    RunStats,
    RunStatus,
    StatusCounts,
    hour_start,
)
from gnomon.errors import StoreError
from gnomon.store.sql_engine import SqlBase
from gnomon.store.storable import holdable
from gnomon.store.tables import run_hours, run_hours_sealed, runs

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
#: How long after its end an hour is sealed: runs of it may still be committing, or come from
#: a node whose clock is a little behind.
SETTLE = timedelta(minutes=10)
#: The most hours sealed in one transaction.
SEAL_BATCH = timedelta(hours=24)
#: Seconds one statistics read spends sealing at most; the hours left are counted from the
#: runs (correct, only slower) and sealed by the next reads.
SEAL_BUDGET_S = 2.0
#: The job id of rows over all jobs: no job has an empty id.
ALL_JOBS = ""
#: Before every instant gnomon stores: nothing sealed.
_NOTHING_SEALED = datetime.min.replace(tzinfo=UTC)
_ALL = [s.value for s in RunStatus]
_ACTIVE = [s.value for s in ACTIVE_STATUSES]
_SUCCEEDED = RunStatus.SUCCEEDED.value
#: Statuses by their stored value: a lookup per row costs less than RunStatus(value).
_STATUS = {status.value: status for status in RunStatus}


@dataclass(frozen=True)
class HourRow:
    """Runs of one job (or ALL_JOBS) and status queued in one hour; a run_hours row."""

    job_id: str
    hour: datetime
    status: RunStatus
    runs: int
    timed: int
    total_ms: int | None
    percentiles: tuple[float, ...] | None

    def params(self) -> dict[str, Any]:
        ps = self.percentiles or (None,) * len(PERCENTILES)
        return {
            "job_id": self.job_id,
            "hour": self.hour,
            "status": self.status.value,
            "runs": self.runs,
            "timed": self.timed,
            "total_ms": self.total_ms,
            "p50_ms": ps[0],
            "p90_ms": ps[1],
            "p99_ms": ps[2],
        }


class SqlStats(SqlBase):
    """The statistics part of SqlStore."""

    def run_stats(
        self,
        since: datetime,
        until: datetime,
        windows: Sequence[datetime],
        as_of: datetime,
        job_id: str | None = None,
        duration_jobs: int = 20,
    ) -> RunStats:
        start = hour_start(since)
        if job_id is not None and not holdable(job_id):
            return RunStats(
                totals=[StatusCounts(w, _zeros()) for w in windows],
                hours=[StatusCounts(h, _zeros()) for h in _hours(start, until)],
                durations={},
            )
        query = _StatsQuery(start, until, windows, as_of, job_id, duration_jobs, self._is_pg)
        with self._read() as conn:
            state = self._seal_state(conn)
            if state.pending is None:
                return query.read(conn, state.sealed)
        try:
            self.seal_hours()
        except (StoreError, SQLAlchemyError) as exc:
            # A store this process may only read, or busy: the hours are counted from the runs.
            log.warning(
                "run statistics: sealing hours failed, counting them from the runs: %s", exc
            )
        with self._read() as conn:
            return query.read(conn, _sealed_until(conn)[0])

    # --- sealing ---------------------------------------------------------------------------------

    def seal_hours(self, budget_s: float | None = None) -> None:
        """Seal the hours that are over and settled, a batch at a time, for about `budget_s`
        (default SEAL_BUDGET_S) seconds."""
        deadline = time.monotonic() + (SEAL_BUDGET_S if budget_s is None else budget_s)
        while time.monotonic() < deadline:
            with self._read() as conn:
                state = self._seal_state(conn)
                if state.pending is None:
                    return
                first, end = state.pending
                end = min(end, first + SEAL_BATCH)
                rows = _with_all_jobs(_aggregate(conn, self._is_pg, first, end))
            with self._write(urgent=False) as conn:
                moved = conn.execute(
                    update(run_hours_sealed)
                    .where(
                        run_hours_sealed.c.id == 1,
                        run_hours_sealed.c.generation == state.generation,
                        run_hours_sealed.c.sealed_until.is_(None)
                        if state.sealed is None
                        else run_hours_sealed.c.sealed_until == state.sealed,
                    )
                    .values(sealed_until=end)
                ).rowcount
                if moved and rows:
                    conn.execute(run_hours.insert(), [row.params() for row in rows])

    def _seal_state(self, conn: Connection) -> _SealState:
        """Where sealing stands, and the hours it may seal now, read in one statement."""
        # The oldest queued and the oldest running run, each its own min() so that it is the
        # first entry of its status in the index on (status, queued_at): PostgreSQL planned a
        # min() over `status IN (…)` as a walk of all runs from the oldest, for a second.
        oldest = [
            select(func.min(runs.c.queued_at)).where(runs.c.status == status).scalar_subquery()
            for status in _ACTIVE
        ]
        columns = [run_hours_sealed.c.sealed_until, run_hours_sealed.c.generation, *oldest]
        if self._is_pg:
            columns.append(func.now())  # the store's clock
        found = conn.execute(select(*columns).where(run_hours_sealed.c.id == 1)).one()
        sealed, generation = found[0], int(found[1])
        active = [_instant(value) for value in found[2 : 2 + len(_ACTIVE)] if value is not None]
        now = found[-1].astimezone(UTC) if self._is_pg else self._clock()
        end = hour_start(now - SETTLE)
        if active:
            end = min(end, hour_start(min(active)))
        first = sealed or _first_hour(conn)
        pending = None if first is None or end <= first else (first, end)
        return _SealState(sealed, generation, pending)


def _instant(value: Any) -> datetime:
    """A time read without its column's type (a subquery's): SQLite gives its UTC text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


@dataclass(frozen=True)
class _SealState:
    sealed: datetime | None
    generation: int
    #: The hours [first, end) that may be sealed now, or None.
    pending: tuple[datetime, datetime] | None


@dataclass(frozen=True)
class _StatsQuery:
    """One run_stats call's reads, given how far hours are sealed."""

    start: datetime
    until: datetime
    windows: Sequence[datetime]
    as_of: datetime
    job_id: str | None
    duration_jobs: int
    is_pg: bool

    def read(self, conn: Connection, sealed_until: datetime | None) -> RunStats:
        start, until, job_id = self.start, self.until, self.job_id
        sealed = sealed_until or _NOTHING_SEALED
        # Hours before `split` come from run_hours, the rest from the runs.
        split = max(start, min(sealed, hour_start(until)))
        # The first whole hour of each window: before it, the window is counted from the runs.
        whole = [
            hour_start(w) + (HOUR if hour_start(w) != w else timedelta()) for w in self.windows
        ]
        lowest = min([start, *(w for w in whole if w < sealed)])
        upper = max(split, sealed) if any(first < sealed for first in whole) else split
        rolled = _rolled_counts(conn, job_id, lowest, upper)
        counted = _aggregate(conn, self.is_pg, split, until, job_id) if split < until else []
        spent = _sealed_spent(conn, job_id, start, split)
        for row in counted:
            if row.status is RunStatus.SUCCEEDED and row.total_ms is not None:
                spent[row.job_id] = spent.get(row.job_id, 0) + row.total_ms
        top = sorted(spent, key=lambda job: (-spent[job], job))[: max(0, self.duration_jobs)]
        sealed_points = _sealed_durations(conn, top, start, split) if top else {}
        totals = _totals(conn, self.windows, whole, sealed, job_id, rolled)
        ahead = _claimed_ahead(conn, self.as_of, job_id)
        per_hour: dict[tuple[datetime, RunStatus], int] = defaultdict(int)
        for (at, status), count in rolled.items():
            if start <= at < split:
                per_hour[(at, status)] += count
        for row in counted:
            per_hour[(row.hour, row.status)] += row.runs
        for status, queued_at in ahead:
            # Fires claimed ahead of their time are the scheduler's business until it comes.
            for counts, window in zip(totals, self.windows, strict=True):
                if queued_at >= window:
                    counts[status] -= 1
            if start <= queued_at < until:
                per_hour[(hour_start(queued_at), status)] -= 1
        return RunStats(
            totals=[
                StatusCounts(window, counts)
                for window, counts in zip(self.windows, totals, strict=True)
            ],
            hours=[
                StatusCounts(h, {status: per_hour.get((h, status), 0) for status in RunStatus})
                for h in _hours(start, until)
            ],
            durations=_durations(sealed_points, counted, top),
        )


def reseal_pruned(conn: Connection, is_pg: bool, cutoff: datetime) -> None:
    """In prune_runs' transaction, after its runs queued before `cutoff` are deleted: drop the
    sealed hours before the cutoff's hour, and count that hour again from the runs left."""
    conn.execute(
        update(run_hours_sealed)
        .where(run_hours_sealed.c.id == 1)
        .values(generation=run_hours_sealed.c.generation + 1)
    )
    sealed = _sealed_until(conn)[0]
    if sealed is None:
        return
    cut = hour_start(cutoff)
    conn.execute(run_hours.delete().where(run_hours.c.hour < min(cut, sealed)))
    if cut < sealed and cut != cutoff:
        conn.execute(run_hours.delete().where(run_hours.c.hour == cut))
        rows = _with_all_jobs(_aggregate(conn, is_pg, cut, cut + HOUR))
        if rows:
            conn.execute(run_hours.insert(), [row.params() for row in rows])


def reopen_sealed(conn: Connection, queued_at: datetime) -> None:
    """In the transaction inserting a run queued at `queued_at`: should its hour be sealed
    already (its writer's clock stepped back, or lags the store's), unseal from that hour on,
    so the run is counted. The statement locks nothing unless it changes something."""
    hour = hour_start(queued_at)
    reopened = conn.execute(
        update(run_hours_sealed)
        .where(run_hours_sealed.c.id == 1, run_hours_sealed.c.sealed_until > queued_at)
        .values(sealed_until=hour, generation=run_hours_sealed.c.generation + 1)
    ).rowcount
    if reopened:
        conn.execute(run_hours.delete().where(run_hours.c.hour >= hour))


# --- reading -------------------------------------------------------------------------------------


def _sealed_until(conn: Connection) -> tuple[datetime | None, int]:
    sealed, generation = conn.execute(
        select(run_hours_sealed.c.sealed_until, run_hours_sealed.c.generation).where(
            run_hours_sealed.c.id == 1
        )
    ).one()
    return sealed, int(generation)


def _first_hour(conn: Connection) -> datetime | None:
    first = conn.execute(select(func.min(runs.c.queued_at))).scalar_one()
    return None if first is None else hour_start(first)


def _hours(start: datetime, until: datetime) -> list[datetime]:
    found = []
    at = start
    while at < until:
        found.append(at)
        at += HOUR
    return found


def _zeros() -> dict[RunStatus, int]:
    return dict.fromkeys(RunStatus, 0)


def _of_job(job_id: str | None) -> list[ColumnElement[bool]]:
    return [] if job_id is None else [runs.c.job_id == job_id]


def _hour_reader() -> Callable[[Any], datetime]:
    """Reads run_hours.hour values as _raw_hour gives them, each distinct one converted once:
    the UtcDateTime conversion of every row cost more than the rest of reading them."""
    seen: dict[Any, datetime] = {}

    def convert(raw: Any) -> datetime:
        found = seen.get(raw)
        if found is None:
            if isinstance(raw, int):  # PostgreSQL's seconds since 1970
                found = datetime.fromtimestamp(raw, UTC)
            else:  # SQLite's text, UTC
                found = datetime.fromisoformat(raw).replace(tzinfo=UTC)
            seen[raw] = found
        return found

    return convert


def _raw_hour(conn: Connection) -> ColumnElement[Any]:
    """run_hours.hour as cheap to read as the driver allows (see _hour_reader): on PostgreSQL
    its seconds since 1970 (psycopg took twice as long to load a row with the timestamptz, and
    hashing an aware datetime to find it converted costs more than an int), on SQLite the UTC
    text it is stored as."""
    if conn.dialect.name == "postgresql":
        return cast(extract("epoch", run_hours.c.hour), BigInteger)
    return literal_column("run_hours.hour")


def _rolled_counts(
    conn: Connection, job_id: str | None, start: datetime, end: datetime
) -> dict[tuple[datetime, RunStatus], int]:
    """Sealed runs per hour of [start, end) and status: of the job, or of all jobs."""
    found: dict[tuple[datetime, RunStatus], int] = defaultdict(int)
    if end <= start:
        return found
    stmt = select(_raw_hour(conn), run_hours.c.status, run_hours.c.runs).where(
        run_hours.c.job_id == (ALL_JOBS if job_id is None else job_id),
        run_hours.c.hour >= start,
        run_hours.c.hour < end,
    )
    hour = _hour_reader()
    for at, status, count in conn.execute(stmt).all():
        found[(hour(at), _STATUS[status])] += count
    return found


def _sealed_spent(
    conn: Connection, job_id: str | None, start: datetime, end: datetime
) -> dict[str, int]:
    """Per job (or for the job), the time its succeeded runs of sealed hours [start, end) took."""
    if end <= start:
        return {}
    stmt = (
        select(run_hours.c.job_id, func.sum(run_hours.c.total_ms))
        .where(
            run_hours.c.status == _SUCCEEDED,
            run_hours.c.hour >= start,
            run_hours.c.hour < end,
            run_hours.c.total_ms.is_not(None),
            run_hours.c.job_id != ALL_JOBS if job_id is None else run_hours.c.job_id == job_id,
        )
        .group_by(run_hours.c.job_id)
    )
    return {found: int(total) for found, total in conn.execute(stmt).all()}


def _sealed_durations(
    conn: Connection, jobs: list[str], start: datetime, end: datetime
) -> dict[str, list[DurationPoint]]:
    """Per job of `jobs`, the points of its sealed hours [start, end) with succeeded runs that
    have a duration, oldest first: made straight from the rows, which a 30-day range of ten
    jobs has thousands of."""
    if end <= start:
        return {}
    stmt = select(
        run_hours.c.job_id,
        _raw_hour(conn),
        run_hours.c.timed,
        run_hours.c.total_ms,
        run_hours.c.p50_ms,
        run_hours.c.p90_ms,
        run_hours.c.p99_ms,
    ).where(
        run_hours.c.job_id.in_(jobs),
        run_hours.c.status == _SUCCEEDED,
        run_hours.c.hour >= start,
        run_hours.c.hour < end,
        run_hours.c.total_ms.is_not(None),
        run_hours.c.p50_ms.is_not(None),
    )
    hour = _hour_reader()
    points: dict[str, list[DurationPoint]] = defaultdict(list)
    for found_job, at, timed, total, p50, p90, p99 in conn.execute(stmt).all():
        points[found_job].append(DurationPoint(hour(at), timed, total, (p50, p90, p99)))
    # Sorted here, not by an ORDER BY: SQLite sorted them in a temporary b-tree, for 40 % of
    # the statement's time, and they mostly come in order (of the index on status and hour).
    for series in points.values():
        series.sort(key=lambda point: point.start)
    return points


def _totals(
    conn: Connection,
    windows: Sequence[datetime],
    whole: list[datetime],
    sealed: datetime,
    job_id: str | None,
    rolled: dict[tuple[datetime, RunStatus], int],
) -> list[dict[RunStatus, int]]:
    """Per window start, the runs of each status queued since then: its whole sealed hours
    from `rolled`, the rest of its first hour and its unsealed hours from the runs."""
    totals = [_zeros() for _ in windows]
    for counts, first in zip(totals, whole, strict=True):
        for (at, status), count in rolled.items():
            if first <= at < sealed:
                counts[status] += count
    edges = [
        select(literal(index), runs.c.status, func.count())
        .where(
            runs.c.status.in_(_ALL),
            runs.c.queued_at >= window,
            runs.c.queued_at < min(first, sealed),
            *_of_job(job_id),
        )
        .group_by(runs.c.status)
        for index, (window, first) in enumerate(zip(windows, whole, strict=True))
        if window < min(first, sealed)
    ]
    if edges:
        for index, status, count in conn.execute(union_all(*edges)).all():
            totals[index][RunStatus(status)] += int(count)
    # The unsealed hours of every window, read once.
    starts = [max(window, sealed) for window in windows]
    if starts:
        counted = [func.count().filter(runs.c.queued_at >= at) for at in starts]
        stmt = (
            select(runs.c.status, *counted)
            .where(runs.c.status.in_(_ALL), runs.c.queued_at >= min(starts), *_of_job(job_id))
            .group_by(runs.c.status)
        )
        for status, *found in conn.execute(stmt).all():
            for counts, count in zip(totals, found, strict=True):
                counts[RunStatus(status)] += int(count)
    return totals


def _claimed_ahead(
    conn: Connection, as_of: datetime, job_id: str | None
) -> list[tuple[RunStatus, datetime]]:
    stmt = select(runs.c.status, runs.c.queued_at).where(
        runs.c.status.in_(_ACTIVE), runs.c.scheduled_for > as_of, *_of_job(job_id)
    )
    return [(RunStatus(status), queued_at) for status, queued_at in conn.execute(stmt).all()]


def _durations(
    sealed: dict[str, list[DurationPoint]], counted: Iterable[HourRow], top: list[str]
) -> dict[str, list[DurationPoint]]:
    """The points of the jobs in `top`, in its order, each oldest first: the sealed hours',
    then those of the hours counted from the runs (all later)."""
    later: dict[str, list[DurationPoint]] = defaultdict(list)
    for row in counted:
        if row.status is not RunStatus.SUCCEEDED:
            continue
        if row.percentiles is None or row.total_ms is None:
            continue
        later[row.job_id].append(DurationPoint(row.hour, row.timed, row.total_ms, row.percentiles))
    return {
        job_id: [*sealed.get(job_id, ()), *sorted(later[job_id], key=lambda p: p.start)]
        for job_id in top
    }


# --- aggregating runs ----------------------------------------------------------------------------


def _aggregate(
    conn: Connection, is_pg: bool, start: datetime, end: datetime, job_id: str | None = None
) -> list[HourRow]:
    """Runs queued in [start, end) (whole hours but maybe the last), per hour, job and status."""
    where = [
        runs.c.status.in_(_ALL),
        runs.c.queued_at >= start,
        runs.c.queued_at < end,
        *_of_job(job_id),
    ]
    return _aggregate_pg(conn, where) if is_pg else _aggregate_sqlite(conn, where)


def _aggregate_pg(conn: Connection, where: list[ColumnElement[bool]]) -> list[HourRow]:
    # AT TIME ZONE 'UTC': date_trunc of a timestamptz would cut in the session's timezone.
    utc = runs.c.queued_at.op("AT TIME ZONE")(literal_column("'UTC'"))
    hour = func.date_trunc(literal_column("'hour'"), utc)
    fractions: ColumnElement[Any] = literal_column(f"ARRAY{list(PERCENTILES)!r}")
    percentiles = (
        func.percentile_cont(fractions)
        .within_group(runs.c.duration_ms)
        .filter(runs.c.status == _SUCCEEDED)
    )
    stmt = (
        select(
            hour,
            runs.c.job_id,
            runs.c.status,
            func.count(),
            func.count(runs.c.duration_ms),
            func.sum(runs.c.duration_ms),
            percentiles,
        )
        .where(*where)
        .group_by(hour, runs.c.job_id, runs.c.status)
    )
    return [
        HourRow(
            job_id,
            at.replace(tzinfo=UTC),
            RunStatus(status),
            int(count),
            int(timed),
            None if total is None else int(total),
            None if values is None else tuple(float(v) for v in values),
        )
        for at, job_id, status, count, timed, total, values in conn.execute(stmt).all()
    ]


def _aggregate_sqlite(conn: Connection, where: list[ColumnElement[bool]]) -> list[HourRow]:
    # SQLite keeps times as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC: the hour is a prefix.
    hour = func.substr(runs.c.queued_at, 1, 13)
    stmt = select(hour, runs.c.job_id, runs.c.status, runs.c.duration_ms).where(*where)
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    durations: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for key_hour, job_id, status, duration in conn.execute(stmt).all():
        key = (key_hour, job_id, status)
        counts[key] += 1
        if duration is not None:
            durations[key].append(duration)
    found = []
    for key, count in counts.items():
        key_hour, job_id, status = key
        timed = sorted(durations.get(key, ()))
        found.append(
            HourRow(
                job_id,
                datetime.strptime(key_hour, "%Y-%m-%d %H").replace(tzinfo=UTC),
                RunStatus(status),
                count,
                len(timed),
                sum(timed) if timed else None,
                tuple(percentile_cont(timed, p) for p in PERCENTILES)
                if timed and status == _SUCCEEDED
                else None,
            )
        )
    return found


def percentile_cont(ordered: Sequence[int], fraction: float) -> float:
    """PostgreSQL's percentile_cont of sorted, non-empty values: the value at position
    fraction * (n - 1), interpolated between its neighbours."""
    position = fraction * (len(ordered) - 1)
    below, above = math.floor(position), math.ceil(position)
    if below == above:
        return float(ordered[below])
    return ordered[below] + (position - below) * (ordered[above] - ordered[below])


def _with_all_jobs(rows: list[HourRow]) -> list[HourRow]:
    """`rows` (of jobs) and, per hour and status, one ALL_JOBS row summing them."""
    sums: dict[tuple[datetime, RunStatus], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in rows:
        found = sums[(row.hour, row.status)]
        found[0] += row.runs
        found[1] += row.timed
        if row.total_ms is not None:
            found[2] += row.total_ms
            found[3] = 1
    return rows + [
        HourRow(ALL_JOBS, at, status, count, timed, total if has_total else None, None)
        for (at, status), (count, timed, total, has_total) in sums.items()
    ]
