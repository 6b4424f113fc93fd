"""The events of runs that end, recorded as pending deliveries in the transaction that ends them.

Every store method that gives runs a final status calls record_events after writing them: the
run's record and what it tells the job's channels commit together or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gnomon.alerts import OUTCOMES, DeliveryStatus, events_for, needs_previous
from gnomon.domain import Alerting, Event, RetryPolicy, Route, RunStatus
from gnomon.store.base import OverdueCheck
from gnomon.store.tables import deliveries, jobs, runs

_PENDING = DeliveryStatus.PENDING.value
_SQLITE_CHUNK = 512  # ids per statement, well under SQLite's bound-parameter limit
# Built once, from constants only.
_OUTCOME_LIST = ", ".join(f"'{status.value}'" for status in sorted(OUTCOMES))
_PREVIOUS = (
    "SELECT r.id, (SELECT e.status FROM runs e WHERE e.job_id = r.job_id"  # noqa: S608
    f" AND e.status IN ({_OUTCOME_LIST}) AND (e.queued_at, e.id) < (r.queued_at, r.id)"
    " AND NOT EXISTS (SELECT 1 FROM runs x WHERE x.retry_of = e.id)"
    " ORDER BY e.queued_at DESC, e.id DESC LIMIT 1) FROM runs r WHERE "
)
_SQLITE_PREVIOUS = _PREVIOUS + "r.id IN ({marks})"
_PG_PREVIOUS = _PREVIOUS + "r.id = ANY(%s::text[])"


class Ended(NamedTuple):
    """A run that has just been given a final status, and the channels of its job."""

    run_id: str
    status: RunStatus
    alerting: Alerting
    retrying: bool = False  # a retry of it was queued with its status


def record_events(conn: Connection, ended: Sequence[Ended], clock: Callable[[], datetime]) -> None:
    """Insert a pending delivery, due at once, for every event these runs raise (see
    alerts.events_for). Called in the transaction that wrote their final statuses, after it
    wrote them, so a success judged against a failure written by the same batch sees it."""
    if not ended:
        return
    asking = [
        e.run_id for e in ended if not e.retrying and needs_previous(e.status, e.alerting.routes)
    ]
    previous = previous_outcomes(conn, asking) if asking else {}
    watched = [
        (e.run_id, e.alerting.job_id)
        for e in ended
        if e.alerting.watched and not e.retrying and needs_previous(e.status, e.alerting.routes)
    ]
    overdue = told_overdue(conn, watched) if watched else set()
    now = clock()
    rows = [
        _new_row(e.run_id, e.alerting.job_id, channel, event, now)
        for e in ended
        for channel, event in events_for(
            e.status,
            e.alerting.routes,
            previous.get(e.run_id),
            retrying=e.retrying,
            overdue=e.run_id in overdue,
        )
    ]
    if not rows:
        return
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    # A run's final transition applies once, so a second row could only come from a bug: the
    # unique (run_id, channel, event) drops it rather than fail the run's record with it.
    conn.execute(insert(deliveries).on_conflict_do_nothing(), rows)


def _new_row(
    run_id: str | None, job_id: str, channel: str, event: Event, now: datetime
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "channel": channel,
        "event": event.value,
        "job_id": job_id,
        "run_id": run_id,
        "status": _PENDING,
        "created_at": now,
        "next_attempt_at": now,
        "finished_at": None,
        "attempt_count": 0,
        "attempts": [],
    }


def previous_outcomes(conn: Connection, run_ids: Sequence[str]) -> dict[str, RunStatus | None]:
    """Per run, its job's previous outcome: the status of the newest run of the same job queued
    before it (by queued_at, then id) that succeeded or failed in some way (alerts.OUTCOMES)
    and was not retried (an attempt followed by another is not an outcome), or None.

    Driver SQL, one statement per chunk: it runs in the recorder's write transaction for every
    success some channel would hear `recovered` about, and through SQLAlchemy Core it took five
    times as long. The row-value comparison lets both databases seek the (job_id, queued_at, id)
    index to the run and walk back from there."""
    found: dict[str, RunStatus | None] = {}
    ids = sorted(set(run_ids))
    if conn.dialect.name == "postgresql":
        rows = conn.exec_driver_sql(_PG_PREVIOUS, (ids,)).all()
    else:
        rows = []
        for start in range(0, len(ids), _SQLITE_CHUNK):
            chunk = ids[start : start + _SQLITE_CHUNK]
            # Padded to a power of two with its last id, so that few statement texts exist.
            chunk += chunk[-1:] * ((1 << (len(chunk) - 1).bit_length()) - len(chunk))
            sql = _SQLITE_PREVIOUS.format(marks=", ".join("?" * len(chunk)))
            rows += conn.exec_driver_sql(sql, tuple(chunk)).all()
    for run_id, status in rows:
        found[run_id] = None if status is None else RunStatus(status)
    return found


def told_overdue(conn: Connection, successes: Sequence[tuple[str, str]]) -> set[str]:
    """Those of these (run id, job id) — successes just written, of jobs watched for overdue —
    whose job was told `overdue` since its previous success: their success is a recovery."""
    found: set[str] = set()
    for run_id, job_id in sorted(set(successes)):
        since = last_success(conn, job_id, other_than=run_id)
        told = select(deliveries.c.id).where(
            deliveries.c.job_id == job_id, deliveries.c.event == Event.OVERDUE.value
        )
        if since is not None:
            told = told.where(deliveries.c.created_at > since)
        if conn.execute(told.limit(1)).first() is not None:
            found.add(run_id)
    return found


def last_success(conn: Connection, job_id: str, other_than: str | None = None) -> datetime | None:
    """When the job's newest success (by queue order) finished, or None: walks its runs back
    on the (job_id, queued_at, id) index to the first success."""
    stmt = (
        select(runs.c.finished_at)
        .where(runs.c.job_id == job_id, runs.c.status == RunStatus.SUCCEEDED.value)
        .order_by(runs.c.queued_at.desc(), runs.c.id.desc())
        .limit(1)
    )
    if other_than is not None:
        stmt = stmt.where(runs.c.id != other_than)
    return conn.execute(stmt).scalar()


def overdue_checks(
    conn: Connection, checks: Sequence[OverdueCheck], now: datetime
) -> list[OverdueCheck]:
    """The checks whose job has had no success for longer than its `after` seconds (since its
    newest success, or since it was added), was not told `overdue` since, and has channels
    listening for it."""
    due: list[OverdueCheck] = []
    for check in checks:
        if not any(Event.OVERDUE in r.events for r in check.routes):
            continue
        since = last_success(conn, check.job_id)
        if since is None:
            since = conn.execute(
                select(jobs.c.created_at).where(jobs.c.id == check.job_id)
            ).scalar()
            if since is None:
                continue  # the job is gone
        if (now - since).total_seconds() <= check.after:
            continue
        already = conn.execute(
            select(deliveries.c.id)
            .where(
                deliveries.c.job_id == check.job_id,
                deliveries.c.event == Event.OVERDUE.value,
                deliveries.c.created_at > since,
            )
            .limit(1)
        ).first()
        if already is None:
            due.append(check)
    return due


def raise_overdue(conn: Connection, checks: Sequence[OverdueCheck], now: datetime) -> list[str]:
    """A pending `overdue` delivery for each listening channel of each job of `checks` that
    overdue_checks finds overdue in this transaction. The ids of the jobs told."""
    told: list[str] = []
    rows: list[dict[str, Any]] = []
    for check in overdue_checks(conn, checks, now):
        told.append(check.job_id)
        rows.extend(
            _new_row(None, check.job_id, r.channel, Event.OVERDUE, now)
            for r in check.routes
            if Event.OVERDUE in r.events
        )
    if rows:
        conn.execute(deliveries.insert(), rows)
    return told


def retry_policies(conn: Connection, job_ids: Iterable[str]) -> dict[str, RetryPolicy]:
    """The retry policy of each job that retries anything, as its stored definition says."""
    ids = sorted(set(job_ids))
    if not ids:
        return {}
    found: dict[str, RetryPolicy] = {}
    for job_id, definition in conn.execute(
        select(jobs.c.id, jobs.c.definition).where(jobs.c.id.in_(ids))
    ):
        policy = RetryPolicy.from_json((definition or {}).get("retry"))
        if policy.retries > 0:
            found[job_id] = policy
    return found


def routes_of_jobs(conn: Connection, job_ids: Iterable[str]) -> dict[str, tuple[Route, ...]]:
    """The channels of each job as its stored definition names them (jobs without any, or
    gone, are left out). For the store's own run moves that the engine did not hand it."""
    ids = sorted(set(job_ids))
    if not ids:
        return {}
    found: dict[str, tuple[Route, ...]] = {}
    for job_id, definition in conn.execute(
        select(jobs.c.id, jobs.c.definition).where(jobs.c.id.in_(ids))
    ):
        routes = tuple(Route.from_json(r) for r in (definition or {}).get("notify") or ())
        if routes:
            found[job_id] = routes
    return found
