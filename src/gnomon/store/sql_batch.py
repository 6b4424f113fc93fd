"""The firing hot paths in driver SQL: fire claims, next fire times and run updates, in batches.

The scheduler writes these thousands of times a second. Through SQLAlchemy Core each row costs
tens of microseconds in parameter processing (type decorators, per-row dicts, RETURNING batches);
here every batch is one `executemany` of a fixed statement (SQLite, where the loop runs in C) or
one statement over `unnest`ed arrays (PostgreSQL, one round trip). The semantics are those of the
Store contract: an insert never overwrites a claimed (job_id, scheduled_for), a next fire time is
only written where the revision still matches, and a None field never overwrites a stored value.
Row locks on PostgreSQL are taken in id order, like interrupt_runs and write_jobs take them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any

from sqlalchemy import Connection, Float, Interval, bindparam, func, literal_column, select, update

from gnomon.domain import Run, RunStatus, RunUpdate, TriggerSource
from gnomon.store.base import RunStart
from gnomon.store.sql_events import Ended, record_events
from gnomon.store.storable import storable_text
from gnomon.store.tables import runs

# Column order of the runs rows written by claims (every column of the table).
RUN_COLUMNS = (
    "id", "job_id", "trigger_source", "status", "scheduled_for", "last_scheduled_for",
    "fire_count", "created_by", "queued_at", "started_at", "finished_at", "duration_ms",
    "reason", "error_type", "error_message", "traceback", "output", "exit_code", "node",
    "manual_job_id", "cancel_requested", "lease_token",
)  # fmt: skip
_PG_RUN_TYPES = (
    "text", "text", "text", "text", "timestamptz", "timestamptz",
    "int", "int", "timestamptz", "timestamptz", "timestamptz", "bigint",
    "text", "text", "text", "text", "text", "int", "text",
    "text", "boolean", "bigint",
)  # fmt: skip
# The fields a RunUpdate may change, besides status (which it always sets).
UPDATE_COLUMNS = (
    "started_at", "finished_at", "duration_ms", "error_type", "error_message", "traceback",
    "output", "exit_code", "node", "reason",
)  # fmt: skip
_PG_UPDATE_TYPES = (
    "timestamptz", "timestamptz", "bigint", "text", "text", "text", "text", "int", "text", "text",
)  # fmt: skip
# The free-text fields, cleaned by storable_text before they are written.
_TEXT_COLUMNS = frozenset({"error_type", "error_message", "traceback", "output", "reason"})
_CONFLICT = "ON CONFLICT (job_id, scheduled_for) DO NOTHING"
_NAMES = ", ".join(RUN_COLUMNS)
_PG_ARRAYS = ", ".join(f"%s::{kind}[]" for kind in _PG_RUN_TYPES)
# Statements are built once, from the constant column names above, never from input.
_PG_INSERT = (
    f"INSERT INTO runs ({_NAMES}) SELECT * FROM unnest({_PG_ARRAYS}) {_CONFLICT} RETURNING id"  # noqa: S608
)
_SQLITE_INSERT = f"INSERT INTO runs ({_NAMES}) VALUES {{values}} {_CONFLICT}"  # noqa: S608
# Every run update is a guarded transition: applied only while the run's status is one of the
# update's expected ones (a comma-framed list, ",queued,running,") and, when an owner is given,
# while the run belongs to that node. RETURNING tells which were applied; the rest were refused.
_GUARD = (
    " AND {instr}(v.{expected}, ',' || runs.status || ',') > 0"
    " AND (v.{owner} IS NULL OR runs.node = v.{owner}) RETURNING runs.id"
)
_PG_UPDATE_RUNS = (
    "UPDATE runs SET status = v.status, "  # noqa: S608
    + ", ".join(f"{c} = COALESCE(v.{c}, runs.{c})" for c in UPDATE_COLUMNS)
    + " FROM (SELECT u.* FROM unnest("
    + ", ".join(f"%s::{kind}[]" for kind in ("text", "text", "text", "text", *_PG_UPDATE_TYPES))
    + ") AS u("
    + ", ".join(("id", "status", "expected", "owner", *UPDATE_COLUMNS))
    + ") JOIN runs r ON r.id = u.id ORDER BY u.id FOR UPDATE OF r) AS v WHERE runs.id = v.id"
    + _GUARD.format(instr="strpos", expected="expected", owner="owner")
)
_SQLITE_UPDATE_RUNS = (
    "UPDATE runs SET status = v.column2, "  # noqa: S608
    + ", ".join(f"{c} = COALESCE(v.column{i}, {c})" for i, c in enumerate(UPDATE_COLUMNS, 5))
    + " FROM (VALUES {values}) AS v WHERE runs.id = v.column1"
    + _GUARD.format(instr="instr", expected="column3", owner="column4")
)
_SQLITE_SET_NEXT_TIMES = (
    "UPDATE jobs SET next_fire_time = v.column2 FROM (VALUES {values}) AS v"
    " WHERE jobs.id = v.column1 AND jobs.revision = v.column3 RETURNING jobs.id"
)
_PG_SET_NEXT_TIMES = (
    "UPDATE jobs SET next_fire_time = v.t FROM ("
    " SELECT j.id, u.rev, u.t FROM unnest(%s::text[], %s::bigint[], %s::timestamptz[])"
    " AS u(id, rev, t) JOIN jobs j ON j.id = u.id ORDER BY j.id FOR UPDATE OF j"
    ") AS v WHERE jobs.id = v.id AND jobs.revision = v.rev RETURNING jobs.id"
)
_SQLITE_CHUNK = 500  # ids per `IN (…)`: well under SQLite's bound-parameter limit
_SQLITE_MAX_ROWS = 512  # rows per multi-row statement: 512 × 22 parameters < SQLite's 32,766


def _sqlite_many(
    conn: Connection,
    template: str,
    rows: Sequence[tuple[Any, ...]],
    returning: list[Any] | None = None,
) -> int:
    """Run `template` (with a `{values}` slot) over `rows` as multi-row statements; rows changed
    (with `returning`, the statement's RETURNING values are appended to it instead).

    One statement per chunk rather than `executemany`: pysqlite releases and re-takes the GIL
    around every step, and each re-take can wait a whole switch interval (5 ms) behind busy
    worker threads, which made a batch of claims crawl. Chunks have power-of-two sizes so that
    only a handful of statement texts exist, and each is parsed once (pysqlite's statement cache).
    """
    changed = 0
    start = 0
    width = len(rows[0]) if rows else 0
    while start < len(rows):
        size = min(_SQLITE_MAX_ROWS, 1 << ((len(rows) - start).bit_length() - 1))
        chunk = rows[start : start + size]
        row_marks = "(" + ", ".join("?" * width) + ")"
        sql = template.format(values=", ".join([row_marks] * size))
        params = tuple(chain.from_iterable(chunk))
        result = conn.exec_driver_sql(sql, params)
        if returning is None:
            changed += result.rowcount
        else:
            returning.extend(result.scalars().all())
        start += size
    return changed


#: Texts of recent instants: many runs written together share a fire time (a burst, and a
#: fire started at its time has it as started_at too), and formatting one costs a microsecond.
_SQLITE_TIMES: dict[datetime, str] = {}
_SQLITE_TIMES_KEPT = 4096


def sqlite_time(value: datetime | None) -> str | None:
    """A datetime as the store keeps it on SQLite: naive UTC text with microseconds, exactly what
    the UtcDateTime column type writes through SQLAlchemy (so text comparisons keep working)."""
    if value is None:
        return None
    text = _SQLITE_TIMES.get(value)  # an aware key: equal instants share their UTC text
    if text is not None:
        return text
    if value.tzinfo is not UTC:
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the store; pass an aware UTC time")
        value = value.astimezone(UTC)
    text = value.isoformat(" ", "microseconds")[:26]  # without its "+00:00"
    if len(_SQLITE_TIMES) >= _SQLITE_TIMES_KEPT:
        _SQLITE_TIMES.clear()  # (under the GIL, as the reads and writes: no lock needed)
    _SQLITE_TIMES[value] = text
    return text


def run_params(run: Run) -> dict[str, Any]:
    """The runs row for a Run."""
    return {
        "id": run.id,
        "job_id": run.job_id,
        "trigger_source": run.trigger_source.value,
        "status": run.status.value,
        "scheduled_for": run.scheduled_for,
        "last_scheduled_for": run.last_scheduled_for,
        "fire_count": run.fire_count,
        "created_by": run.created_by,
        "queued_at": run.queued_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_ms": run.duration_ms,
        "reason": storable_text(run.reason),
        "error_type": storable_text(run.error_type),
        "error_message": storable_text(run.error_message),
        "traceback": storable_text(run.traceback),
        "output": storable_text(run.output),
        "exit_code": run.exit_code,
        "node": run.node,
        "manual_job_id": run.manual_job_id,
        "cancel_requested": run.cancel_requested,
        "lease_token": run.lease_token,
        "attempt": run.attempt,
        "retry_of": run.retry_of,
        "not_before": run.not_before,
    }


def _run_row(run: Run, sqlite: bool) -> tuple[Any, ...]:
    # Written for every fire: a field that is None (most of them, for a run just claimed) is
    # not handed to a function.
    fmt = sqlite_time if sqlite else _aware
    text = storable_text
    last, started, finished = run.last_scheduled_for, run.started_at, run.finished_at
    reason, error_type, message = run.reason, run.error_type, run.error_message
    trace, output = run.traceback, run.output
    return (
        run.id, run.job_id, run.trigger_source.value, run.status.value,
        fmt(run.scheduled_for), last and fmt(last), run.fire_count, run.created_by,
        fmt(run.queued_at), started and fmt(started), finished and fmt(finished),
        run.duration_ms,
        reason and text(reason), error_type and text(error_type), message and text(message),
        trace and text(trace), output and text(output),
        run.exit_code, run.node, run.manual_job_id, run.cancel_requested, run.lease_token,
    )  # fmt: skip


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} given to the store; pass an aware UTC time")
    return value


def insert_claimed_runs(conn: Connection, claimed: Sequence[Run], is_pg: bool) -> set[str]:
    """Insert the runs whose (job_id, scheduled_for) is still free; the ids that were inserted."""
    if not claimed:
        return set()
    rows = [_run_row(run, not is_pg) for run in claimed]
    if is_pg:
        arrays = tuple(map(list, zip(*rows, strict=True)))
        return set(conn.exec_driver_sql(_PG_INSERT, arrays).scalars().all())
    ids = [run.id for run in claimed]
    if _sqlite_many(conn, _SQLITE_INSERT, rows) == len(ids):
        return set(ids)  # the common case: nothing collided
    # Run ids are fresh UUIDs: inside this write transaction, the ones present were inserted now.
    inserted: set[str] = set()
    for start in range(0, len(ids), _SQLITE_CHUNK):
        chunk = ids[start : start + _SQLITE_CHUNK]
        marks = ", ".join("?" * len(chunk))
        query = f"SELECT id FROM runs WHERE id IN ({marks})"  # noqa: S608 - only placeholders
        found = conn.exec_driver_sql(query, tuple(chunk))
        inserted.update(found.scalars())
    return inserted


def set_next_times(
    conn: Connection, times: dict[str, tuple[int, datetime | None]], is_pg: bool
) -> set[str]:
    """Write next fire times only where the job still has the expected revision (rows locked
    in id order on PostgreSQL); the ids of the jobs that had it."""
    if not times:
        return set()
    ordered = sorted(times.items())
    if is_pg:
        ids = [job_id for job_id, _ in ordered]
        revisions = [revision for _, (revision, _) in ordered]
        whens = [_aware(when) for _, (_, when) in ordered]
        return set(conn.exec_driver_sql(_PG_SET_NEXT_TIMES, (ids, revisions, whens)).scalars())
    current: list[Any] = []
    _sqlite_many(
        conn,
        _SQLITE_SET_NEXT_TIMES,
        [(job_id, sqlite_time(when), revision) for job_id, (revision, when) in ordered],
        returning=current,
    )
    return set(current)


@functools.cache
def _framed(statuses: frozenset[RunStatus]) -> str:
    return "," + ",".join(sorted(status.value for status in statuses)) + ","


def _expected(update: RunUpdate) -> str:
    return _framed(update.from_statuses)


def update_runs(
    conn: Connection,
    updates: Sequence[RunUpdate],
    is_pg: bool,
    clock: Callable[[], datetime],
) -> list[RunUpdate]:
    """Apply lifecycle updates as guarded transitions; a field left None keeps its stored value
    (COALESCE). Returns the updates refused (the run's status or owner was not the expected one,
    or the run does not exist). The applied updates that carry `alerting` then record their
    events (sql_events), read from `clock`: a batch without any costs no statement more."""
    if not updates:
        return []
    ordered = sorted(updates, key=lambda u: u.run_id)  # stable: a run's updates keep their order
    if len(ordered) > 1 and len({u.run_id for u in ordered}) < len(ordered):
        # One UPDATE … FROM applies only one of two rows for the same run; apply them in turn
        # (rare: the recorder merges a run's updates before flushing).
        return [refused for u in ordered for refused in update_runs(conn, [u], is_pg, clock)]
    text = storable_text
    applied: list[str] = []
    if is_pg:
        columns: list[list[Any]] = [
            [u.run_id for u in ordered],
            [u.status.value for u in ordered],
            [_expected(u) for u in ordered],
            [u.owner for u in ordered],
        ]
        for name in UPDATE_COLUMNS:
            values = [getattr(u, name) for u in ordered]
            columns.append([text(v) for v in values] if name in _TEXT_COLUMNS else values)
        applied.extend(conn.exec_driver_sql(_PG_UPDATE_RUNS, tuple(columns)).scalars().all())
    else:
        # Written for every run: a field that is None (most of them) is not handed to a function.
        rows = [
            (
                u.run_id,
                u.status.value,
                _expected(u),
                u.owner,
                sqlite_time(u.started_at),
                sqlite_time(u.finished_at),
                u.duration_ms,
                u.error_type and text(u.error_type),
                u.error_message and text(u.error_message),
                u.traceback and text(u.traceback),
                u.output and text(u.output),
                u.exit_code,
                u.node,
                u.reason and text(u.reason),
            )
            for u in ordered
        ]
        _sqlite_many(conn, _SQLITE_UPDATE_RUNS, rows, returning=applied)
    done = set(applied)
    applied_updates = (
        ordered if len(done) == len(ordered) else [u for u in ordered if u.run_id in done]
    )
    retried = _queue_retries(
        conn,
        [
            (u.retry, u.finished_at or u.retry.queued_at)
            for u in applied_updates
            if u.retry is not None
        ],
        is_pg,
    )
    ended = [
        Ended(u.run_id, u.status, u.alerting, retrying=u.run_id in retried)
        for u in applied_updates
        if u.alerting is not None
    ]
    if ended:
        record_events(conn, ended, clock)
    return [] if len(done) == len(ordered) else [u for u in ordered if u.run_id not in done]


def _queue_retries(
    conn: Connection, retries: Sequence[tuple[Run, datetime]], is_pg: bool
) -> set[str]:
    """Insert the retries of runs that have just ended (each with the instant its run ended),
    except those of runs someone asked to cancel meanwhile (the cancel covers what would
    follow them). The ids of the runs retried."""
    if not retries:
        return set()
    of = [retry.retry_of for retry, _ in retries if retry.retry_of is not None]
    cancelled = set(
        conn.execute(
            select(runs.c.id).where(runs.c.id.in_(of), runs.c.cancel_requested.is_(True))
        ).scalars()
    )
    queued = [(retry, since) for retry, since in retries if retry.retry_of not in cancelled]
    insert_retries(conn, queued, is_pg)
    return {retry.retry_of for retry, _ in queued if retry.retry_of is not None}


# On PostgreSQL a retry's not_before is the server's now() plus its backoff in seconds.
_PG_NOT_BEFORE = func.now() + bindparam("b_backoff", type_=Float) * literal_column(
    "interval '1 second'", Interval
)


def insert_retries(conn: Connection, retries: Sequence[tuple[Run, datetime]], is_pg: bool) -> None:
    """Insert queued retries, each given with the instant its backoff counts from (the end of
    the attempt it follows, on the clock of the node that recorded that end).

    On PostgreSQL not_before is moved onto the server's clock, the one leases are judged by:
    its now() plus the backoff (the retry's not_before minus that instant), and due-ness is
    judged there on now() too, so a node's clock running ahead or behind neither stretches
    nor shortens the wait. SQLite (one machine) keeps not_before as given.
    """
    if not retries:
        return
    if not is_pg:
        conn.execute(runs.insert(), [run_params(retry) for retry, _ in retries])
        return
    rows = []
    for retry, since in retries:
        row = run_params(retry)
        del row["not_before"]
        wait = retry.not_before
        row["b_backoff"] = None if wait is None else (wait - since).total_seconds()
        rows.append(row)
    conn.execute(runs.insert().values(not_before=_PG_NOT_BEFORE), rows)


# Starting runs (Store.start_runs): the running runs of other nodes per job, then queued → running
# or → skipped for this node's runs, each only while the run is still queued and this node's.
# The status is wrapped in coalesce() (it is never NULL) so that SQLite looks the ids up by
# primary key rather than walking its status index through every queued run.
# Runs of nodes silent since `alive_since` do not count: a frozen leader's runs committed to start
# just before it froze will never run (it interrupts them when it wakes without the lease).
_SQLITE_RUNNING_ELSEWHERE = (
    "SELECT job_id, count(*) FROM runs WHERE status = 'running' AND node != ?"
    " AND node IN (SELECT id FROM nodes WHERE last_seen >= ?)"
    " AND job_id IN ({marks}) GROUP BY job_id"
)
_SQLITE_OTHER_NODES = "SELECT count(*) FROM nodes WHERE id != ? AND last_seen >= ?"
_PG_OTHER_NODES = (
    "SELECT count(*) FROM nodes WHERE id != %s AND last_seen >= now() - make_interval(secs => %s)"
)
_PG_RUNNING_ELSEWHERE = (  # heartbeats are on the server's clock: judged on it
    "SELECT job_id, count(*) FROM runs WHERE status = 'running' AND node != %s"
    " AND node IN (SELECT id FROM nodes WHERE last_seen >= now() - make_interval(secs => %s))"
    " AND job_id = ANY(%s::text[]) GROUP BY job_id"
)
_SQLITE_START = (
    "UPDATE runs SET status = 'running',"
    " started_at = CASE WHEN scheduled_for > ?1 THEN scheduled_for ELSE ?1 END"
    " WHERE id IN ({marks}) AND coalesce(status, '') = 'queued' AND node = ?2 RETURNING id"
)
_PG_START = (
    "UPDATE runs SET status = 'running',"
    " started_at = CASE WHEN scheduled_for > %(now)s THEN scheduled_for ELSE %(now)s END"
    " WHERE id = ANY(%(ids)s::text[]) AND status = 'queued' AND node = %(node)s RETURNING id"
)
_SQLITE_SKIP = (
    "UPDATE runs SET status = 'skipped', finished_at = ?1, reason = 'max_instances',"
    " error_message = ?3"
    " WHERE id IN ({marks}) AND coalesce(status, '') = 'queued' AND node = ?2 RETURNING id"
)
_PG_SKIP = (
    "UPDATE runs SET status = 'skipped', finished_at = %(now)s, reason = 'max_instances',"
    " error_message = %(message)s"
    " WHERE id = ANY(%(ids)s::text[]) AND status = 'queued' AND node = %(node)s RETURNING id"
)
SKIP_MESSAGE = "max_instances runs of the job were running when its time came"


def running_elsewhere(
    conn: Connection, job_ids: Sequence[str], node: str, alive: tuple[datetime, float], is_pg: bool
) -> dict[str, int]:
    """How many runs of each job are running on nodes other than `node` heard from recently:
    `alive` is (the store's clock now, seconds), on PostgreSQL the server's own clock."""
    ids = sorted(set(job_ids))
    alive_since = alive[0] - timedelta(seconds=alive[1])
    others = (
        conn.exec_driver_sql(_PG_OTHER_NODES, (node, alive[1]))
        if is_pg
        else conn.exec_driver_sql(_SQLITE_OTHER_NODES, (node, sqlite_time(alive_since)))
    ).scalar()
    if not others:
        # Alone (the usual single node): no need to look through every running run.
        return {}
    if is_pg:
        rows = conn.exec_driver_sql(_PG_RUNNING_ELSEWHERE, (node, alive[1], ids)).all()
        return {job_id: int(count) for job_id, count in rows}
    counts: dict[str, int] = {}
    for start in range(0, len(ids), _SQLITE_CHUNK):
        chunk = ids[start : start + _SQLITE_CHUNK]
        sql = _SQLITE_RUNNING_ELSEWHERE.format(marks=", ".join("?" * len(chunk)))
        counts.update(
            (job_id, int(count))
            for job_id, count in conn.exec_driver_sql(sql, (node, sqlite_time(alive_since), *chunk))
        )
    return counts


def move_queued(
    conn: Connection, run_ids: Sequence[str], node: str, now: datetime, is_pg: bool, *, skip: bool
) -> set[str]:
    """Move this node's queued runs to running (or, with `skip`, to skipped for max_instances);
    the ids moved."""
    if not run_ids:
        return set()
    if is_pg:
        params = {"ids": list(run_ids), "node": node, "now": now, "message": SKIP_MESSAGE}
        return set(conn.exec_driver_sql(_PG_SKIP if skip else _PG_START, params).scalars().all())
    moved: set[str] = set()
    template = _SQLITE_SKIP if skip else _SQLITE_START
    first = 4 if skip else 3  # numbered parameters ?1 … come before the ids
    for start in range(0, len(run_ids), _SQLITE_MAX_ROWS):
        chunk = list(run_ids[start : start + _SQLITE_MAX_ROWS])
        # Padded to a power of two with its last id (harmless in an IN list), so that only a
        # handful of statement texts exist, each parsed once (pysqlite's statement cache).
        chunk += chunk[-1:] * ((1 << (len(chunk) - 1).bit_length()) - len(chunk))
        marks = ", ".join(f"?{first + i}" for i in range(len(chunk)))
        fixed: tuple[Any, ...] = (sqlite_time(now), node)
        if skip:
            fixed += (SKIP_MESSAGE,)
        result = conn.exec_driver_sql(template.format(marks=marks), (*fixed, *chunk))
        moved.update(result.scalars().all())
    return moved


def ended_among(conn: Connection, run_ids: Sequence[str]) -> frozenset[str]:
    """The runs among `run_ids` in a final status."""
    final = [status.value for status in RunStatus if status.is_final]
    found: set[str] = set()
    for start in range(0, len(run_ids), _SQLITE_MAX_ROWS):
        chunk = list(run_ids[start : start + _SQLITE_MAX_ROWS])
        stmt = select(runs.c.id).where(runs.c.id.in_(chunk), runs.c.status.in_(final))
        found.update(conn.execute(stmt).scalars())
    return frozenset(found)


def judge_starts(
    conn: Connection,
    starts: Sequence[RunStart],
    node: str,
    is_pg: bool,
    alive: tuple[datetime, float],
) -> dict[str, bool]:
    """Whether each run may start now (True) or is over its job's max_instances (False),
    counting running runs of the nodes heard from within `alive` (see running_elsewhere) from
    the store, this node's from RunStart.running_here, and the runs started before it here."""
    running = running_elsewhere(conn, [s.job_id for s in starts], node, alive, is_pg)
    verdicts: dict[str, bool] = {}
    taken: dict[str, int] = {}  # started by this batch, per job
    for start in starts:
        job_id = start.job_id
        count = running.get(job_id, 0) + start.running_here + taken.get(job_id, 0)
        verdicts[start.run_id] = count < start.max_instances
        if verdicts[start.run_id]:
            taken[job_id] = taken.get(job_id, 0) + 1
    return verdicts


def release_retries(conn: Connection, run_ids: Sequence[str], node: str) -> set[str]:
    """Untake `node`'s queued retries among `run_ids` (no node, no lease token); the ids."""
    stmt = (
        update(runs)
        .where(
            runs.c.id.in_(list(run_ids)),
            runs.c.status == RunStatus.QUEUED.value,
            runs.c.node == node,
            runs.c.trigger_source == TriggerSource.RETRY.value,
        )
        .values(node=None, lease_token=None)
        .returning(runs.c.id)
    )
    return set(conn.execute(stmt).scalars())


def start_queued(
    conn: Connection,
    starts: Sequence[RunStart],
    node: str,
    now: datetime,
    is_pg: bool,
    alive: tuple[datetime, float],
) -> tuple[set[str], set[str]]:
    """Move `node`'s queued runs to running, or to skipped when judge_starts says they are over
    max_instances. The ids (started, skipped). The caller has checked the lease in this
    transaction."""
    if not starts:
        return set(), set()
    verdicts = judge_starts(conn, starts, node, is_pg, alive)
    go = [run_id for run_id, ok in verdicts.items() if ok]
    over = [run_id for run_id, ok in verdicts.items() if not ok]
    started = move_queued(conn, go, node, now, is_pg, skip=False)
    if over:
        # A retry over max_instances waits for a free slot rather than being skipped (its
        # failure told no one): back, untaken, to the queue a leader picks retries from.
        released = release_retries(conn, over, node)
        over = [run_id for run_id in over if run_id not in released]
    skipped = move_queued(conn, over, node, now, is_pg, skip=True)
    return started, skipped
