"""SqlStore's run records: insert, lifecycle updates, pages, manual-run pickup and pruning."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    RowMapping,
    Select,
    String,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    func,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

from gnomon.alerts import DeliveryStatus
from gnomon.domain import (
    ACTIVE_STATUSES,
    Alerting,
    AuditEntry,
    Lease,
    Run,
    RunPage,
    RunStatus,
    RunUpdate,
    TriggerSource,
)
from gnomon.errors import Problem, RunNotFound, StoreError, ValidationFailed
from gnomon.store.base import JobActivity, OutputChunk, RunsAhead
from gnomon.store.sql_auth import insert_audit
from gnomon.store.sql_batch import insert_retries, release_retries, run_params, update_runs
from gnomon.store.sql_engine import SqlBase
from gnomon.store.sql_events import Ended, record_events, retry_policies, routes_of_jobs
from gnomon.store.sql_nodes import check_fence
from gnomon.store.sql_stats import reopen_sealed, reseal_pruned
from gnomon.store.storable import holdable, storable_text
from gnomon.store.tables import deliveries, jobs, runs

_ACTIVE = [s.value for s in ACTIVE_STATUSES]
_ACTIVE_VALUES = [literal(value) for value in _ACTIVE]
_FINAL = [s.value for s in RunStatus if s.is_final]
_HEAVY = ("output", "traceback")
#: Every column but the large text ones: what lists and pages carry.
LIGHT_COLUMNS = [c for c in runs.c if c.name not in _HEAVY]


@functools.cache
def _claim_statements(is_pg: bool) -> tuple[Select[Any], Any]:
    """The scheduler's claim of queued manual runs (and retries whose time has come), built
    once per backend: a probe for any waiting, and the claim. Parameters: limit, b_node,
    b_lease_token, and on SQLite `now` (PostgreSQL judges on its own `now()`)."""
    # An alias, or the subquery would correlate with the UPDATE's own table row by row and
    # its LIMIT would limit nothing.
    queued = runs.alias("queued")
    now: Any = func.now() if is_pg else bindparam("now", type_=runs.c.not_before.type)
    waiting: Select[Any] = (
        select(queued.c.id)
        .where(
            queued.c.status == RunStatus.QUEUED.value,
            queued.c.node.is_(None),
            or_(
                queued.c.trigger_source == TriggerSource.MANUAL.value,
                _retry_may_start(queued, now),
            ),
        )
        .order_by(queued.c.queued_at, queued.c.id)
        .limit(bindparam("limit"))
    )
    probe = waiting
    if is_pg:
        # Another node's claim in flight locks its rows; skip them rather than queue behind.
        waiting = waiting.with_for_update(skip_locked=True)
    # A CTE, not a plain IN (subquery): PostgreSQL may rescan a semi-joined subquery, and
    # each rescan applies LIMIT afresh, updating more rows than asked. A CTE runs once.
    picked = waiting.cte("picked")
    claim = (
        update(runs)
        .where(
            runs.c.id.in_(select(picked.c.id)),
            runs.c.node.is_(None),
            runs.c.status == RunStatus.QUEUED.value,
        )
        .values(node=bindparam("b_node"), lease_token=bindparam("b_lease_token"))
        .returning(*LIGHT_COLUMNS)
    )
    return probe, claim


def _retry_may_start(queued: Any, now: Any) -> ColumnElement[bool]:
    """A queued retry whose backoff is over at `now` (on PostgreSQL the server's `now()`), of a
    job that is not paused and has fewer than max_instances runs running: one that waits for a
    pause or a slot is left queued."""
    job = jobs.alias("job")
    going = runs.alias("going")
    running = (
        select(func.count())
        .select_from(going)
        .where(going.c.job_id == queued.c.job_id, going.c.status == RunStatus.RUNNING.value)
        .scalar_subquery()
    )
    free = (
        select(job.c.id)
        .where(
            job.c.id == queued.c.job_id,
            job.c.paused.is_(False),
            running < func.coalesce(job.c.definition["max_instances"].as_integer(), 1),
        )
        .exists()
    )
    gone = ~select(job.c.id).where(job.c.id == queued.c.job_id).exists()  # ended as skipped
    return and_(
        queued.c.trigger_source == TriggerSource.RETRY.value,
        queued.c.not_before <= now,
        or_(free, gone),
    )


_ID_PREFIX = re.compile(r"[0-9a-f-]{1,36}")
_HEX = "0123456789abcdef"


def _next_prefix(prefix: str) -> str | None:
    """The smallest id text above every id starting with `prefix`: its last hex digit plus
    one, carrying ("0196f" → "0197"); None when there is none ("fff")."""
    chars = list(prefix.rstrip("-"))
    while chars:
        last = chars.pop()
        if last == "-":
            continue
        if last != "f":
            return "".join(chars) + _HEX[_HEX.index(last) + 1]
    return None


def id_prefix_query(prefix: str) -> Select[Any] | None:
    """The runs (light columns) whose id starts with `prefix`; None when no id can.

    `id LIKE 'abc%'` alone uses the primary key's index on neither backend (SQLite's LIKE
    ignores case, PostgreSQL's needs the C collation or a pattern index): the range
    [prefix, next prefix) does, and LIKE then keeps exactly the ids that start with it.
    """
    if not _ID_PREFIX.fullmatch(prefix):
        return None
    stmt = select(*LIGHT_COLUMNS).where(runs.c.id >= prefix, runs.c.id.like(prefix + "%"))
    upper = _next_prefix(prefix)
    return stmt if upper is None else stmt.where(runs.c.id < upper)


def row_to_run(row: RowMapping | Mapping[str, Any]) -> Run:
    """A Run from a runs row; output and traceback stay None when they were not selected."""
    return Run(
        id=row["id"],
        job_id=row["job_id"],
        trigger_source=TriggerSource(row["trigger_source"]),
        status=RunStatus(row["status"]),
        queued_at=row["queued_at"],
        scheduled_for=row["scheduled_for"],
        last_scheduled_for=row["last_scheduled_for"],
        fire_count=row["fire_count"],
        created_by=row["created_by"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        duration_ms=row["duration_ms"],
        reason=row["reason"],
        error_type=row["error_type"],
        error_message=row["error_message"],
        traceback=row.get("traceback"),
        output=row.get("output"),
        exit_code=row["exit_code"],
        node=row["node"],
        manual_job_id=row["manual_job_id"],
        cancel_requested=bool(row["cancel_requested"]),
        lease_token=row.get("lease_token"),
        attempt=row.get("attempt") or 1,
        retry_of=row.get("retry_of"),
        not_before=row.get("not_before"),
    )


def encode_cursor(run: Run) -> str:
    return cursor_after(run.queued_at, run.id)


def cursor_after(when: datetime, ident: str) -> str:
    """The cursor of a page that continues after the item at (`when`, `ident`)."""
    raw = json.dumps([when.isoformat(), ident]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (queued_at, id) a cursor points after; ValidationFailed when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        queued_at_text, run_id = json.loads(raw)
        queued_at = datetime.fromisoformat(queued_at_text)
        if not isinstance(run_id, str) or queued_at.tzinfo is None:
            raise ValueError(cursor)
        if not holdable(run_id):
            raise ValueError(cursor)
        # In UTC here: a forged time at the ends of the calendar ("0001-01-01T00:00:00+14:00")
        # cannot be converted, and the database would be asked to.
        queued_at = queued_at.astimezone(UTC)
    except (
        ValueError,
        TypeError,
        OverflowError,
        RecursionError,
        binascii.Error,
        UnicodeDecodeError,
    ) as exc:
        raise ValidationFailed(
            [Problem("cursor", "is not a cursor from a previous page; start from the first page")]
        ) from exc
    return queued_at, run_id


class SqlRuns(SqlBase):
    """The runs half of SqlStore."""

    # job_activity's compiled queries (per dialect) and its last raw rows with their result.
    _activity_queries: tuple[Dialect, _ActivityQueries] | None = None
    _activity_memo: tuple[tuple[Any, ...], tuple[JobActivity, ...]] | None = None

    def add_run(self, run: Run, audit: AuditEntry | None = None) -> Run:
        with self._write() as conn:
            conn.execute(runs.insert(), run_params(run))
            reopen_sealed(conn, run.queued_at)
            if audit is not None:
                insert_audit(conn, [audit])
        return run

    def update_runs(self, updates: Sequence[RunUpdate]) -> list[RunUpdate]:
        if not updates:
            return []
        with self._write(urgent=False) as conn:
            return update_runs(conn, updates, self._is_pg, self._clock)

    def find_run(self, run_id: str) -> Run | None:
        if not holdable(run_id):
            return None
        with self._read() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).mappings().first()
        return None if row is None else row_to_run(row)

    def find_runs_by_id_prefix(self, prefix: str, limit: int) -> list[Run]:
        stmt = id_prefix_query(prefix)
        if stmt is None:
            return []
        with self._read() as conn:
            rows = conn.execute(stmt.order_by(runs.c.id).limit(limit)).mappings().all()
        return [row_to_run(row) for row in rows]

    def list_runs(
        self,
        job_id: str | None = None,
        statuses: Sequence[RunStatus] = (),
        trigger_source: TriggerSource | None = None,
        limit: int = 50,
        cursor: str | None = None,
        as_of: datetime | None = None,
        node: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> RunPage:
        if limit < 1:
            raise ValidationFailed([Problem("limit", "must be at least 1")])
        after = decode_cursor(cursor) if cursor is not None else None
        if not all(holdable(key) for key in (job_id, node) if key is not None):
            return RunPage(items=[], next_cursor=None)
        conditions: list[ColumnElement[bool]] = []
        if as_of is not None:
            conditions.append(_due_by(runs, as_of))
        if job_id is not None:
            conditions.append(runs.c.job_id == job_id)
        if trigger_source is not None:
            conditions.append(runs.c.trigger_source == TriggerSource(trigger_source).value)
        if node is not None:
            conditions.append(runs.c.node == node)
        if since is not None:
            conditions.append(runs.c.queued_at >= since)
        if until is not None:
            conditions.append(runs.c.queued_at < until)
        if after is not None:
            after_queued_at, after_id = after
            conditions.append(
                or_(
                    runs.c.queued_at < after_queued_at,
                    and_(runs.c.queued_at == after_queued_at, runs.c.id < after_id),
                )
            )
        # One extra row tells whether another page follows.
        stmt = _newest_first(conditions, sorted({RunStatus(s).value for s in statuses}), limit + 1)
        with self._read() as conn:
            items = [row_to_run(row) for row in conn.execute(stmt).mappings()]
        if len(items) <= limit:
            return RunPage(items=items, next_cursor=None)
        items = items[:limit]
        return RunPage(items=items, next_cursor=encode_cursor(items[-1]))

    def latest_runs(
        self, job_ids: Iterable[str] | None = None, as_of: datetime | None = None
    ) -> dict[str, Run]:
        wanted = self._job_id_source(job_ids)
        if wanted is None:
            return {}
        with self._read() as conn:
            rows = conn.execute(_latest_statement(wanted, as_of)).mappings()
            return {row["job_id"]: row_to_run(row) for row in rows}

    def runs_ahead(self, now: datetime, job_id: str | None = None) -> dict[str, RunsAhead]:
        stmt = _RUNS_AHEAD
        params: dict[str, Any] = {"now": now}
        if job_id is not None:
            stmt = _RUNS_AHEAD_OF_JOB
            params = {"now": now, "job_id": job_id}
        found: dict[str, list[tuple[str, str, datetime]]] = {}
        with self._read() as conn:
            for job_id, run_id, status, when in conn.execute(stmt, params):
                found.setdefault(job_id, []).append((run_id, status, when))
        return {
            job_id: RunsAhead(
                next_fire_time=min(when for _, _, when in ahead),
                run_ids=frozenset(run_id for run_id, _, _ in ahead),
                running=sum(1 for _, status, _ in ahead if status == RunStatus.RUNNING.value),
            )
            for job_id, ahead in found.items()
        }

    def job_runs(
        self, job_id: str, limit: int, as_of: datetime | None = None
    ) -> tuple[list[Run], int]:
        """The job's newest `limit` runs (as list_runs orders them) and how many of its runs
        are running, read in one transaction."""
        # At least one row, which carries the count (limit 0 keeps none of them).
        params: dict[str, Any] = {"job_id": job_id, "limit": max(limit, 1)}
        recent_runs = _RECENT_RUNS_COUNTED
        if as_of is not None:
            recent_runs = _RECENT_RUNS_DUE_COUNTED
            params["as_of"] = as_of
        with self._read() as conn:
            rows = conn.execute(recent_runs, params).mappings().all()
        # A running run (that is due) is itself among the runs: none of them, none running.
        running = int(rows[0]["running_count"]) if rows else 0
        return [row_to_run(row) for row in rows[: max(limit, 0)]], running

    def job_activity(self) -> Sequence[JobActivity]:
        """Every job's revision, pause, next fire time, running count and last run, by id, read
        in one transaction without decoding any job's definition or trigger.

        The same unchanged rows give back the same (immutable) sequence object, so callers may
        key caches on its identity: the rows are fetched raw and converted only when they differ
        from the previous call's. On SQLite the rows are not even read again while nothing was
        committed since this connection last read them.
        """
        queries = self._activity_queries
        if queries is None or queries[0] is not self._engine.dialect:
            queries = (self._engine.dialect, _ActivityQueries(self._engine.dialect))
            self._activity_queries = queries
        compiled = queries[1]
        with self._read() as conn:
            # The driver's own cursor: plain tuples, compared in C, where SQLAlchemy's rows
            # took as long to build and compare as SQLite took to read them.
            driver, cursor = conn.connection, conn.connection.cursor()
            try:
                stamp = None if self._is_pg else _fetch_all(cursor, _SQLITE_COMMITS)
                seen = driver.info.get(_ACTIVITY_SEEN)
                if stamp is not None and seen is not None and seen[0] == stamp:
                    found: tuple[JobActivity, ...] = seen[1]
                    return found
                raw = tuple(_fetch_all(cursor, query.sql) for query in compiled.queries)
            except conn.dialect.loaded_dbapi.Error as exc:
                raise StoreError(f"the store failed reading job activity: {exc}") from exc
            finally:
                cursor.close()
            memo = self._activity_memo
            if memo is not None and memo[0] == raw:
                activity = memo[1]
            else:
                activity = compiled.convert(*raw)
                self._activity_memo = (raw, activity)
            if stamp is not None:
                driver.info[_ACTIVITY_SEEN] = (stamp, activity)
        return activity

    def _job_id_source(self, job_ids: Iterable[str] | None) -> Any:
        """A FROM item with a job_id column: every job, or the given ids (None when empty)."""
        if job_ids is None:
            return select(jobs.c.id.label("job_id")).subquery()
        ids = json.dumps(sorted(set(job_ids)))
        if ids == "[]":
            return None
        # Pass the ids as one JSON array so any number of them is one bound parameter.
        if self._is_pg:
            elements = func.jsonb_array_elements_text(cast(literal(ids, String), JSONB))
        else:
            elements = func.json_each(literal(ids, String))
        values = elements.table_valued("value")
        return select(values.c.value.label("job_id")).subquery()

    def active_runs(self, job_id: str | None = None) -> list[Run]:
        stmt = select(*LIGHT_COLUMNS).where(runs.c.status.in_(_ACTIVE))
        if job_id is not None:
            stmt = stmt.where(runs.c.job_id == job_id)
        stmt = stmt.order_by(runs.c.queued_at, runs.c.id)
        with self._read() as conn:
            return [row_to_run(row) for row in conn.execute(stmt).mappings()]

    def claim_queued_manual_runs(
        self, node: str, limit: int = 100, fence: Lease | None = None
    ) -> list[Run]:
        probe, claim = _claim_statements(self._is_pg)
        params: dict[str, Any] = {"limit": limit}
        if not self._is_pg:
            params["now"] = self._clock()
        # Asked at every poll of the scheduler, mostly with nothing waiting: a read says so
        # without taking the write lock (SQLite's only one) from the API's writers. A run queued
        # after this read is claimed at the next poll, as one queued after the write would be.
        with self._read() as conn:
            if conn.execute(probe, params).first() is None:
                return []
        params.update(b_node=node, b_lease_token=None if fence is None else fence.token)
        with self._write() as conn:
            if fence is not None:
                check_fence(conn, fence, self._is_pg, None if self._is_pg else self._clock())
            claimed = [row_to_run(row) for row in conn.execute(claim, params).mappings()]
        return sorted(claimed, key=lambda run: (run.queued_at, run.id))

    def write_live_output(self, node: str, outputs: Sequence[OutputChunk]) -> None:
        if not outputs:
            return
        running_there = update(runs).where(
            runs.c.id == bindparam("b_id"),
            runs.c.status == RunStatus.RUNNING.value,
            runs.c.node == node,
        )
        added = func.coalesce(runs.c.output, "").op("||")(bindparam("b_output", type_=Text))
        replaced: list[dict[str, Any]] = []
        appended: list[dict[str, Any]] = []
        for chunk in outputs:
            row = {"b_id": chunk.run_id, "b_output": storable_text(chunk.text)}
            (appended if chunk.append else replaced).append(row)
        with self._write(urgent=False) as conn:  # firing and run records go first
            if replaced:
                conn.execute(running_there.values(output=bindparam("b_output")), replaced)
            if appended:
                conn.execute(running_there.values(output=added), appended)

    def release_retries(self, run_ids: Sequence[str], node: str) -> set[str]:
        if not run_ids:
            return set()
        with self._write() as conn:
            return release_retries(conn, run_ids, node)

    def find_retry(self, run_id: str) -> Run | None:
        if not holdable(run_id):
            return None
        with self._read() as conn:
            row = (
                conn.execute(select(*LIGHT_COLUMNS).where(runs.c.retry_of == run_id))
                .mappings()
                .first()
            )
        return None if row is None else row_to_run(row)

    def request_cancel(self, run_id: str, now: datetime) -> Run:
        if not holdable(run_id):
            raise RunNotFound(run_id)
        # The run, and the retry of it still to end, if any: cancelling a run cancels its
        # retry (at once while it waits out its backoff untaken, else on its node).
        pending_retry = and_(runs.c.retry_of == run_id, runs.c.status.in_(_ACTIVE))
        targets = or_(runs.c.id == run_id, pending_retry)
        untaken = and_(targets, runs.c.status == RunStatus.QUEUED.value, runs.c.node.is_(None))
        with self._write() as conn:
            conn.execute(
                update(runs)
                .where(targets, runs.c.status.in_(_ACTIVE))
                .values(cancel_requested=True)
            )
            # queued → cancelled, guarded like every transition: no node has taken it yet.
            conn.execute(
                update(runs)
                .where(untaken)
                .values(status=RunStatus.CANCELLED.value, finished_at=now)
            )
            row = conn.execute(select(*LIGHT_COLUMNS).where(runs.c.id == run_id)).mappings().first()
        if row is None:
            raise RunNotFound(run_id)
        return row_to_run(row)

    def runs_to_stop(self, run_ids: Iterable[str]) -> set[str]:
        wanted = self._job_id_source(run_ids)  # any number of ids as one bound parameter
        if wanted is None:
            return set()
        stmt = select(runs.c.id).where(
            runs.c.id.in_(select(wanted.c.job_id)),
            or_(
                runs.c.cancel_requested.is_(True),
                runs.c.status == RunStatus.INTERRUPTED.value,
            ),
        )
        with self._read() as conn:
            return set(conn.execute(stmt).scalars())

    def interrupt_runs(
        self,
        now: datetime,
        reason: str,
        nodes: Iterable[str] | None = None,
        keep_nodes: Iterable[str] = (),
    ) -> list[Run]:
        stmt = select(*LIGHT_COLUMNS).where(runs.c.status.in_(_ACTIVE), _interruptible(nodes))
        kept = list(set(keep_nodes))
        if kept:
            # NOT IN is NULL (not true) for a NULL node; runs without a node are not kept.
            stmt = stmt.where(or_(runs.c.node.is_(None), runs.c.node.not_in(kept)))
        if self._is_pg:
            stmt = stmt.order_by(runs.c.id).with_for_update()
        with self._write() as conn:
            found = [row_to_run(row) for row in conn.execute(stmt).mappings()]
            done = [_interrupted(run, now, reason) for run in found]
            if done:
                conn.execute(
                    update(runs).where(
                        runs.c.id == bindparam("b_id"),
                        # Spelled out: an IN list cannot be used with executemany.
                        or_(*(runs.c.status == status for status in _ACTIVE)),
                    ),
                    [
                        {
                            "b_id": run.id,
                            "status": run.status.value,
                            "finished_at": run.finished_at,
                            "duration_ms": run.duration_ms,
                            "reason": run.reason,
                        }
                        for run in done
                    ],
                )
                job_ids = {run.job_id for run in done}
                # Their retries, as the engine queues them for the runs it interrupts itself.
                policies = retry_policies(conn, job_ids)
                retries = [
                    retry
                    for run in done
                    if run.job_id in policies
                    and (retry := policies[run.job_id].next_attempt(run, run.status, now))
                ]
                insert_retries(conn, [(retry, now) for retry in retries], self._is_pg)
                retried = {retry.retry_of for retry in retries}
                routes = routes_of_jobs(conn, job_ids)
                ended = [
                    Ended(
                        run.id,
                        run.status,
                        Alerting(run.job_id, routes[run.job_id]),
                        retrying=run.id in retried,
                    )
                    for run in done
                    if run.job_id in routes
                ]
                record_events(conn, ended, lambda: now)
        return sorted(done, key=lambda run: (run.queued_at, run.id))

    def prune_runs(self, finished_before: datetime) -> int:
        stmt = delete(runs).where(runs.c.status.in_(_FINAL), runs.c.queued_at < finished_before)
        done_deliveries = delete(deliveries).where(
            deliveries.c.status != DeliveryStatus.PENDING.value,
            deliveries.c.created_at < finished_before,
        )
        with self._write() as conn:
            conn.execute(done_deliveries)
            deleted = conn.execute(stmt).rowcount
            reseal_pruned(conn, self._is_pg, finished_before)
            return deleted


# Built once: job_runs serves every GET of one job.
def _newest_first(
    conditions: list[ColumnElement[bool]], statuses: list[str], limit: int
) -> Select[Any]:
    """The newest `limit` runs meeting `conditions` with one of `statuses` (any when empty).

    With several statuses, each is read apart, newest first along the index on (status,
    queued_at, id), and the pieces merged: a plain IN would leave the planner to choose
    between sorting every run of those statuses and walking all runs newest first for the
    few of a rare status, and without statistics (SQLite keeps none) it chose either.
    """
    newest = (runs.c.queued_at.desc(), runs.c.id.desc())
    if len(statuses) <= 1:
        stmt = select(*LIGHT_COLUMNS).where(*conditions)
        if statuses:
            stmt = stmt.where(runs.c.status == statuses[0])
        return stmt.order_by(*newest).limit(limit)
    pieces = [
        select(*LIGHT_COLUMNS)
        .where(runs.c.status == status, *conditions)
        .order_by(*newest)
        .limit(limit)
        .subquery()
        for status in statuses
    ]
    merged = union_all(*(select(piece) for piece in pieces)).subquery()
    return select(merged).order_by(merged.c.queued_at.desc(), merged.c.id.desc()).limit(limit)


def _due_by(table: Any, now: Any) -> ColumnElement[bool]:
    """Runs that are not fires claimed ahead of `now` (queued or running, scheduled later)."""
    return or_(
        table.c.status.not_in(_ACTIVE_VALUES),
        table.c.scheduled_for.is_(None),
        table.c.scheduled_for <= now,
    )


# The point reads of one job (GET /jobs/{id}): built once, so that a request neither builds nor
# compiles them again; `_ACTIVE_VALUES` are plain parameters, not an "expanding" list that
# SQLAlchemy rewrites at every execution.


def _recent_runs_counted(as_of: Any | None) -> Select[Any]:
    """A job's newest runs, each row also carrying how many of its runs are running: one
    statement where there were two (with `as_of`, both leave out fires claimed ahead)."""
    counted = runs.alias("counted")
    due = [] if as_of is None else [_due_by(runs, as_of)]
    running = (
        select(func.count())
        .select_from(counted)
        .where(
            counted.c.job_id == bindparam("job_id"),
            counted.c.status == RunStatus.RUNNING.value,
            *([] if as_of is None else [_due_by(counted, as_of)]),
        )
        .scalar_subquery()
    )
    return (
        select(*LIGHT_COLUMNS, running.label("running_count"))
        .where(runs.c.job_id == bindparam("job_id"), *due)
        .order_by(runs.c.queued_at.desc(), runs.c.id.desc())
        .limit(bindparam("limit"))
    )


_RECENT_RUNS_COUNTED = _recent_runs_counted(None)
_RECENT_RUNS_DUE_COUNTED = _recent_runs_counted(bindparam("as_of", type_=runs.c.scheduled_for.type))
_RUNS_AHEAD = select(runs.c.job_id, runs.c.id, runs.c.status, runs.c.scheduled_for).where(
    runs.c.status.in_(_ACTIVE_VALUES), runs.c.scheduled_for > bindparam("now")
)
_RUNS_AHEAD_OF_JOB = _RUNS_AHEAD.where(runs.c.job_id == bindparam("job_id"))


def _latest_statement(wanted: Any, as_of: datetime | None = None) -> Select[Any]:
    """The newest run of each job in `wanted` (a FROM item with a job_id column); with `as_of`,
    the newest that is not a fire claimed ahead of that instant."""
    # Per job, the index on (job_id, queued_at, id) finds the newest row directly, instead of
    # ranking every run of every job with a window function.
    newest = runs.alias("newest")
    visible = [] if as_of is None else [_due_by(newest, as_of)]
    newest_id = (
        select(newest.c.id)
        .where(newest.c.job_id == wanted.c.job_id, *visible)
        .order_by(newest.c.queued_at.desc(), newest.c.id.desc())
        .limit(1)
        .correlate(wanted)
        .scalar_subquery()
    )
    return select(*LIGHT_COLUMNS).where(runs.c.id.in_(select(newest_id).select_from(wanted)))


# What tells one SQLite connection that nothing was committed since it last asked: the data
# version changes with every commit made by any other connection (other processes too), and
# the connection's own writes add to total_changes.
_SQLITE_COMMITS = "SELECT (SELECT data_version FROM pragma_data_version), total_changes()"
# Key of the DBAPI connection's info dict: (_SQLITE_COMMITS answer, job_activity then).
_ACTIVITY_SEEN = "gnomon_job_activity"


def _fetch_all(cursor: Any, sql: str) -> tuple[tuple[Any, ...], ...]:
    cursor.execute(sql)
    return tuple(cursor.fetchall())


class _RawQuery:
    """A select as driver SQL, and the conversions SQLAlchemy would apply to its rows."""

    def __init__(self, stmt: Select[Any], dialect: Dialect) -> None:
        self.sql = str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        self.names = [column.name for column in stmt.selected_columns]
        self._processors = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in stmt.selected_columns
        ]

    def typed(self, row: Sequence[Any]) -> list[Any]:
        return [
            value if process is None else process(value)
            for process, value in zip(self._processors, row, strict=True)
        ]


class _ActivityQueries:
    """job_activity's three selects for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.state = _RawQuery(
            select(
                jobs.c.id, jobs.c.revision, jobs.c.updated_at, jobs.c.paused, jobs.c.next_fire_time
            ).order_by(jobs.c.id),
            dialect,
        )
        self.running = _RawQuery(
            select(runs.c.job_id, func.count().label("running"))
            .where(runs.c.status == RunStatus.RUNNING.value)
            .group_by(runs.c.job_id),
            dialect,
        )
        self.latest = _RawQuery(
            _latest_statement(select(jobs.c.id.label("job_id")).subquery()), dialect
        )
        self.queries = (self.state, self.running, self.latest)

    def convert(
        self, state: Sequence[Any], running: Sequence[Any], latest: Sequence[Any]
    ) -> tuple[JobActivity, ...]:
        counts = {job_id: int(count) for job_id, count in running}
        names = self.latest.names
        last = {run.job_id: run for run in (self._run(names, row) for row in latest)}
        activity = []
        for row in state:
            job_id, revision, updated_at, paused, next_fire_time = self.state.typed(row)
            activity.append(
                JobActivity(
                    job_id,
                    revision,
                    updated_at,
                    bool(paused),
                    next_fire_time,
                    counts.get(job_id, 0),
                    last.get(job_id),
                )
            )
        return tuple(activity)

    def _run(self, names: list[str], row: Sequence[Any]) -> Run:
        values = dict(zip(names, self.latest.typed(row), strict=True))
        return row_to_run(values)


def _interruptible(nodes: Iterable[str] | None) -> ColumnElement[bool]:
    """Runs some node owns (or, with nodes=None, any run but an untaken queued manual run or
    retry: no node has taken those, and the next leader will)."""
    untaken = and_(
        runs.c.node.is_(None),
        runs.c.status == RunStatus.QUEUED.value,
        runs.c.trigger_source.in_([TriggerSource.MANUAL.value, TriggerSource.RETRY.value]),
    )
    if nodes is None:
        return ~untaken
    return runs.c.node.in_(list(set(nodes)))


def _interrupted(run: Run, now: datetime, reason: str) -> Run:
    duration_ms = None
    if run.started_at is not None:
        duration_ms = max(0, int((now - run.started_at).total_seconds() * 1000))
    return run.replace(
        status=RunStatus.INTERRUPTED, finished_at=now, duration_ms=duration_ms, reason=reason
    )
