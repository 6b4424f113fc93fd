"""SqlStore's jobs and firing: revision-guarded job writes, the change counter, fire claims."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, delete, func, select, update

from gnomon.domain import (
    AuditEntry,
    JobDefinition,
    JobRecord,
    Lease,
    MissReason,
    Run,
    RunStatus,
    RunUpdate,
    TriggerSource,
    utcnow,
)
from gnomon.errors import JobChanged, JobExists, StoreError
from gnomon.store.base import FireClaim, JobWrite
from gnomon.store.sql_auth import insert_audit
from gnomon.store.sql_batch import (
    SKIP_MESSAGE,
    insert_claimed_runs,
    judge_starts,
    set_next_times,
    update_runs,
)
from gnomon.store.sql_engine import CHANGES_CHANNEL, SqlBase
from gnomon.store.sql_events import Ended, record_events
from gnomon.store.sql_nodes import check_fence
from gnomon.store.storable import holdable
from gnomon.store.tables import changes, jobs, runs


def row_to_job(row: RowMapping) -> JobRecord:
    return JobRecord(
        definition=JobDefinition.from_json(row["definition"]),
        trigger=row["trigger"],
        paused=bool(row["paused"]),
        next_fire_time=row["next_fire_time"],
        revision=row["revision"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


_DEFINITION_FIELDS = tuple(f.name for f in dataclasses.fields(JobDefinition))


def _definition_json(definition: JobDefinition) -> dict[str, Any]:
    """What JobDefinition.to_json returns, without dataclasses.asdict's deep copy of every
    value: the dict is serialised at once and never kept, and asdict took two of the three
    seconds of registering 10,000 declared jobs."""
    data = {name: getattr(definition, name) for name in _DEFINITION_FIELDS}
    data["kind"] = definition.kind.value
    data["command"] = list(definition.command) if definition.command is not None else None
    data["notify"] = [route.to_json() for route in definition.notify]
    data["retry"] = definition.retry.to_json()
    data["args"] = list(definition.args)
    return data


def _job_values(record: JobRecord) -> dict[str, Any]:
    return {
        "definition": _definition_json(record.definition),
        "trigger": record.trigger,
        "paused": record.paused,
        "next_fire_time": record.next_fire_time,
        "is_builtin": record.definition.is_builtin,
    }


class SqlJobs(SqlBase):
    """The jobs and firing half of SqlStore."""

    def list_jobs(self) -> list[JobRecord]:
        with self._read() as conn:
            rows = conn.execute(select(jobs).order_by(jobs.c.id)).mappings()
            return [row_to_job(row) for row in rows]

    def find_job(self, job_id: str) -> JobRecord | None:
        if not holdable(job_id):
            return None
        with self._read() as conn:
            row = conn.execute(_FIND_JOB, {"job_id": job_id}).mappings().first()
        return None if row is None else row_to_job(row)

    def job_triggers(self, job_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        wanted = sorted({job_id for job_id in job_ids if holdable(job_id)})
        if not wanted:
            return {}
        stmt = select(jobs.c.id, jobs.c.trigger).where(jobs.c.id.in_(wanted))
        with self._read() as conn:
            return {job_id: trigger for job_id, trigger in conn.execute(stmt)}

    def list_jobs_changed(self, since: int) -> tuple[list[JobRecord], set[str]]:
        with self._read() as conn:
            rows = conn.execute(
                select(jobs).where(jobs.c.revision > since).order_by(jobs.c.id)
            ).mappings()
            changed = [row_to_job(row) for row in rows]
            # The scheduler asks after every change the API makes, for every id: the driver's
            # own cursor hands them over at a third of the cost of SQLAlchemy's rows.
            cursor = conn.connection.cursor()
            try:
                cursor.execute(_ALL_JOB_IDS)
                ids = {job_id for (job_id,) in cursor.fetchall()}
            except conn.dialect.loaded_dbapi.Error as exc:
                raise StoreError(f"the store failed reading the job ids: {exc}") from exc
            finally:
                cursor.close()
        return changed, ids

    def write_jobs(
        self,
        writes: Sequence[JobWrite],
        delete_ids: Iterable[str] = (),
        audit: Sequence[AuditEntry] = (),
    ) -> list[JobRecord]:
        ids = [write.record.id for write in writes]
        if len(set(ids)) != len(ids):
            raise ValueError(f"a job is written twice in one write_jobs call: {sorted(ids)}")
        doomed = sorted(set(delete_ids))
        now = utcnow()
        with self._write() as conn:
            # Bumping the counter first also serialises job writers on PostgreSQL (row lock),
            # so the revision checks below cannot race another write_jobs.
            revision = _bump_change_counter(conn)
            existing = _lock_jobs(conn, [*ids, *doomed])
            for write in writes:
                expected = write.expected_revision
                current = existing.get(write.record.id)
                if write.new and current is not None:
                    raise JobExists(write.record.id)
                if expected is not None and (current is None or current[0] != expected):
                    raise JobChanged(write.record.id)
            if doomed:
                conn.execute(delete(jobs).where(jobs.c.id.in_(doomed)))
            written = [
                write.record.replace(
                    revision=revision,
                    created_at=existing[write.record.id][1]
                    if write.record.id in existing
                    else (write.record.created_at or now),
                    updated_at=now,
                )
                for write in writes
            ]
            _save_jobs(conn, written, inserted={i for i in ids if i not in existing})
            pausing = [
                w.record.id
                for w in writes
                if w.record.paused and w.record.id in existing and not existing[w.record.id][2]
            ]
            _skip_paused_runs(conn, pausing, now, self._is_pg, self._clock)
            insert_audit(conn, audit)
            if self._is_pg:
                conn.execute(select(func.pg_notify(CHANGES_CHANNEL, str(revision))))
        return written

    def change_counter(self) -> int:
        with self._read() as conn:
            stmt = select(changes.c.counter).where(changes.c.id == 1)
            return int(conn.execute(stmt).scalar_one())

    def claim_fires(
        self, claims: Sequence[FireClaim], fence: Lease | None = None, live_within: float = 10.0
    ) -> list[Run]:
        now = self._clock()
        with self._write() as conn:
            if fence is not None:
                check_fence(conn, fence, self._is_pg, None if self._is_pg else self._clock())
            # Job rows first (locked in id order on PostgreSQL, as write_jobs locks them), then
            # runs: claimers and job writers take their locks in the same order.
            next_times = {c.run.job_id: c for c in claims}  # the last claim of a job wins
            current = set_next_times(
                conn,
                {
                    job_id: (c.expected_revision, c.next_fire_time)
                    for job_id, c in next_times.items()
                },
                self._is_pg,
            )
            # A claim that would start its run is dropped when its job changed since the
            # scheduler read it (paused, say): nothing would judge it again before it runs. The
            # scheduler reloads the job and plans again from the store. (One claimed to start
            # later is judged when its time comes: see Scheduler._still_due.)
            claims = [c for c in claims if c.start is None or c.run.job_id in current]
            # Claims to start now are inserted running (or skipped over max_instances): the
            # claim and the move queued → running are one transaction, fenced as one.
            starting = {c.run.id: c.start for c in claims if c.start is not None}
            runs_to_write = [c.run for c in claims]
            if starting:
                node = claims[0].run.node or ""
                verdicts = judge_starts(
                    conn, list(starting.values()), node, self._is_pg, (now, live_within)
                )
                runs_to_write = [
                    _started_or_skipped(run, verdicts[run.id], now) if run.id in verdicts else run
                    for run in runs_to_write
                ]
            # A stable order of inserts and row locks across processes keeps PostgreSQL from
            # deadlocking two claimers on each other's uncommitted unique keys.
            ordered = sorted(
                runs_to_write, key=lambda run: (run.job_id, run.scheduled_for or _EARLIEST)
            )
            inserted = insert_claimed_runs(conn, ordered, self._is_pg)
            alerting = {c.run.id: c.alerting for c in claims if c.alerting is not None}
            if alerting:
                # Fire times recorded missed (or skipped) straight away end here.
                ended = [
                    Ended(run.id, run.status, alerting[run.id])
                    for run in runs_to_write
                    if run.id in alerting and run.id in inserted and run.status.is_final
                ]
                record_events(conn, ended, self._clock)
        claimed: list[Run] = []
        for run in runs_to_write:
            if run.id in inserted:
                inserted.discard(run.id)
                claimed.append(run)
        return claimed

    def set_next_fire_times(self, times: dict[str, tuple[int, datetime | None]]) -> None:
        if not times:
            return
        with self._write() as conn:
            set_next_times(conn, times, self._is_pg)


def _started_or_skipped(run: Run, start: bool, now: datetime) -> Run:
    if start:
        # A fire started just ahead of its time starts at its time (as in start_runs): until
        # then it holds no max_instances slot.
        when = run.scheduled_for
        return run.replace(
            status=RunStatus.RUNNING, started_at=when if when is not None and when > now else now
        )
    return run.replace(
        status=RunStatus.SKIPPED,
        finished_at=now,
        reason="max_instances",
        error_message=SKIP_MESSAGE,
    )


#: Sorts before every fire time (a run without one, if any, comes first).
_EARLIEST = datetime.min.replace(tzinfo=UTC)


# Built once: building a statement costs more than running it on a small write (adding jobs one
# by one through the embedding API is a few such writes each).
_BUMP_COUNTER = (
    update(changes)
    .where(changes.c.id == 1)
    .values(counter=changes.c.counter + 1)
    .returning(changes.c.counter)
)
_FIND_JOB = select(jobs).where(jobs.c.id == bindparam("job_id"))
# Plain SQL for the driver's cursor (list_jobs_changed): the same on both backends.
_ALL_JOB_IDS = "SELECT id FROM jobs"
_EXISTING_JOBS = (
    select(jobs.c.id, jobs.c.revision, jobs.c.created_at, jobs.c.paused)
    .where(jobs.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(jobs.c.id)
)
_EXISTING_JOBS_LOCKED = _EXISTING_JOBS.with_for_update()
#: Job ids per query of _lock_jobs: SQLite allows at most 32,766 parameters in a statement.
_IDS_PER_QUERY = 5000


def _bump_change_counter(conn: Connection) -> int:
    return int(conn.execute(_BUMP_COUNTER).scalar_one())


def _lock_jobs(conn: Connection, ids: list[str]) -> dict[str, tuple[int, datetime, bool]]:
    """Revision, created_at and paused of the jobs that exist, locked in id order on PostgreSQL.

    claim_fires locks job rows in id order too, so the two never deadlock.
    """
    if not ids:
        return {}
    stmt = _EXISTING_JOBS_LOCKED if conn.dialect.name == "postgresql" else _EXISTING_JOBS
    ordered = sorted(set(ids))
    found: dict[str, tuple[int, datetime, bool]] = {}
    for start in range(0, len(ordered), _IDS_PER_QUERY):
        chunk = ordered[start : start + _IDS_PER_QUERY]
        for row in conn.execute(stmt, {"ids": chunk}):
            found[row.id] = (row.revision, row.created_at, bool(row.paused))
    return found


PAUSED_MESSAGE = "the job was paused before this run started"


def _skip_paused_runs(
    conn: Connection,
    job_ids: list[str],
    now: datetime,
    is_pg: bool,
    clock: Callable[[], datetime],
) -> None:
    """Close the queued scheduled runs of jobs being paused: `skipped`, reason `paused`, each
    by the guarded transition from `queued` (a run a worker or the leader started meanwhile
    keeps running). Manual runs still run on a paused job; retries wait for its resume."""
    if not job_ids:
        return
    stmt = select(runs.c.id).where(
        runs.c.job_id.in_(job_ids),
        runs.c.status == RunStatus.QUEUED.value,
        runs.c.trigger_source == TriggerSource.SCHEDULED.value,
    )
    queued = conn.execute(stmt).scalars().all()
    update_runs(
        conn,
        [
            RunUpdate(
                run_id=run_id,
                status=RunStatus.SKIPPED,
                finished_at=now,
                reason=MissReason.PAUSED.value,
                error_message=PAUSED_MESSAGE,
                expected=frozenset({RunStatus.QUEUED}),
            )
            for run_id in queued
        ],
        is_pg,
        clock,
    )


def _save_jobs(conn: Connection, records: list[JobRecord], inserted: set[str]) -> None:
    new = [r for r in records if r.id in inserted]
    changed = [r for r in records if r.id not in inserted]
    if new:
        conn.execute(
            jobs.insert(),
            [
                {
                    "id": r.id,
                    **_job_values(r),
                    "revision": r.revision,
                    "created_at": r.created_at,
                    "updated_at": r.updated_at,
                }
                for r in new
            ],
        )
    if changed:
        conn.execute(
            update(jobs).where(jobs.c.id == bindparam("b_id")),
            [
                {"b_id": r.id, **_job_values(r), "revision": r.revision, "updated_at": r.updated_at}
                for r in changed
            ],
        )
