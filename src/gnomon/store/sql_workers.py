"""SqlStore's half for `gnomon worker`: a run received through a broker is judged and moved
queued → running on the worker, or closed, in one transaction.

The move is a guarded transition like every other (store/sql_batch.update_runs): from `queued`,
and from the node that sent the run, as read in the same transaction. So of two deliveries of
one message, or of a worker's start and the leader recording the run missed, exactly one wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, func, select

from gnomon.domain import (
    JobRecord,
    Lease,
    MissReason,
    Run,
    RunStatus,
    RunUpdate,
    TriggerSource,
)
from gnomon.store.base import WorkerStart
from gnomon.store.sql_batch import SKIP_MESSAGE, release_retries, running_elsewhere, update_runs
from gnomon.store.sql_engine import SqlBase
from gnomon.store.sql_jobs import PAUSED_MESSAGE, row_to_job
from gnomon.store.sql_nodes import check_fence
from gnomon.store.sql_runs import LIGHT_COLUMNS, row_to_run
from gnomon.store.storable import holdable
from gnomon.store.tables import jobs, runs

_QUEUED = frozenset({RunStatus.QUEUED})
_NO_SUCH_RUN = WorkerStart(None, None, None, "no such run")
_SQLITE_CHUNK = 500  # ids per `IN (…)`: well under SQLite's bound-parameter limit


class SqlWorkers(SqlBase):
    """The worker half of SqlStore."""

    def dispatchable(self, run_ids: Sequence[str], node: str, fence: Lease) -> set[str]:
        if not run_ids:
            return set()
        stmt = select(runs.c.id).where(
            runs.c.id.in_(list(run_ids)),
            runs.c.status == RunStatus.QUEUED.value,
            runs.c.node == node,
        )
        with self._write() as conn:
            check_fence(conn, fence, self._is_pg, None if self._is_pg else self._clock())
            return set(conn.execute(stmt).scalars())

    def start_on_worker(
        self, run_id: str, worker: str, now: datetime, live_within: float = 10.0
    ) -> WorkerStart:
        return self.start_on_workers([run_id], worker, now, live_within)[0]

    def start_on_workers(
        self, run_ids: Sequence[str], worker: str, now: datetime, live_within: float = 10.0
    ) -> list[WorkerStart]:
        wanted = [run_id for run_id in dict.fromkeys(run_ids) if holdable(run_id)]
        verdicts: dict[str, WorkerStart] = {}
        if wanted:
            with self._write() as conn:
                verdicts = self._start_batch(conn, wanted, worker, now, live_within)
        answers: list[WorkerStart] = []
        seen: set[str] = set()
        for run_id in run_ids:
            verdict = verdicts.get(run_id, _NO_SUCH_RUN)
            if run_id in seen:
                # The same message delivered twice at once: the first delivery had it.
                verdict = WorkerStart(None, verdict.run, verdict.job, "it was delivered twice")
            seen.add(run_id)
            answers.append(verdict)
        return answers

    def _start_batch(
        self, conn: Connection, run_ids: list[str], worker: str, now: datetime, live_within: float
    ) -> dict[str, WorkerStart]:
        """Judge and move the runs in `run_ids` (distinct) in the caller's transaction, in
        their order: each sees the slots the ones before it took."""
        verdicts, candidates = _queued_runs(conn, run_ids)
        if not candidates:
            return verdicts
        job_ids = sorted({run.job_id for run in candidates})
        records = self._locked_jobs(conn, job_ids)
        # The grace is judged on the store's clock, as the fire time was claimed by it: a
        # worker whose own clock is off must not record every run it gets missed.
        store_now = conn.execute(select(func.now())).scalar_one() if self._is_pg else self._clock()
        # Every node's running runs count, this worker's too (it is a node like the others).
        alive = (self._clock(), live_within)
        running = running_elsewhere(conn, job_ids, "", alive, self._is_pg)
        moves: list[tuple[Run, JobRecord | None, RunUpdate]] = []
        for run in candidates:
            record = records.get(run.job_id)
            update = self._judge(conn, run, record, worker, now, store_now, running)
            if update is None:
                why = "a retry over max_instances: it waits"
                verdicts[run.id] = WorkerStart(None, run, record, why)
            else:
                moves.append((run, record, update))
        updates = [update for _, _, update in moves]
        refused = {u.run_id for u in update_runs(conn, updates, self._is_pg, self._clock)}
        for run, record, update in moves:
            if update.run_id in refused:
                verdicts[run.id] = WorkerStart(None, run, record, "it changed meanwhile")
                continue
            started = run.replace(status=update.status, node=update.node or run.node)
            if update.status is RunStatus.RUNNING:
                started = started.replace(started_at=now)
            why = update.reason or "started"
            verdicts[run.id] = WorkerStart(update.status, started, record, why)
        return verdicts

    def _locked_jobs(self, conn: Connection, job_ids: list[str]) -> dict[str, JobRecord]:
        """The jobs of `job_ids` (sorted) that exist; on PostgreSQL locked until the commit."""
        records: dict[str, JobRecord] = {}
        for start in range(0, len(job_ids), _SQLITE_CHUNK):
            chunk = job_ids[start : start + _SQLITE_CHUNK]
            stmt = select(jobs).where(jobs.c.id.in_(chunk)).order_by(jobs.c.id)
            if self._is_pg:
                # Starts of one job wait for each other here (locked in id order, so that two
                # workers' batches never deadlock), so the counts of running runs read next
                # include what another worker has just started.
                stmt = stmt.with_for_update()
            # A run sent to workers runs there even if its job has been moved to the local
            # executor since: the leader will not start it itself, it is in the broker.
            records.update((row["id"], row_to_job(row)) for row in conn.execute(stmt).mappings())
        return records

    def _judge(
        self,
        conn: Connection,
        run: Run,
        record: JobRecord | None,
        worker: str,
        now: datetime,
        store_now: datetime,
        running: dict[str, int],
    ) -> RunUpdate | None:
        """The transition the run takes (from queued, owned by the node that sent it); None
        for a retry released to wait for a free slot. `running`: each job's runs running on
        live nodes, counting those this batch has started so far (a start adds one)."""

        def close(status: RunStatus, reason: MissReason | None, message: str) -> RunUpdate:
            return RunUpdate(
                run_id=run.id,
                status=status,
                finished_at=now,
                reason=None if reason is None else reason.value,
                error_type="Cancelled" if status is RunStatus.CANCELLED else None,
                error_message=message,
                expected=_QUEUED,
                owner=run.node,
                alerting=None if record is None else record.definition.alerting,
            )

        if record is None:
            return close(RunStatus.SKIPPED, MissReason.JOB_CHANGED, "the job is gone")
        if run.cancel_requested:
            return close(RunStatus.CANCELLED, None, "cancelled before it started")
        if record.paused and run.trigger_source is TriggerSource.SCHEDULED:
            # Pausing closes queued runs itself (write_jobs); this catches a fire claimed as
            # the pause was committed.
            return close(RunStatus.SKIPPED, MissReason.PAUSED, PAUSED_MESSAGE)
        latest = run.last_scheduled_for or run.scheduled_for
        grace = record.definition.misfire_grace_time
        if latest is not None and (store_now - latest).total_seconds() > grace:
            why = f"no worker could start it within the {grace}s grace after its fire time"
            return close(RunStatus.MISSED, MissReason.OVERLOADED, why)
        if running.get(run.job_id, 0) >= record.definition.max_instances:
            if run.trigger_source is TriggerSource.RETRY and release_retries(
                conn, [run.id], run.node or ""
            ):
                return None
            return close(RunStatus.SKIPPED, MissReason.MAX_INSTANCES, SKIP_MESSAGE)
        running[run.job_id] = running.get(run.job_id, 0) + 1
        return RunUpdate(
            run_id=run.id,
            status=RunStatus.RUNNING,
            started_at=now,
            node=worker,
            expected=_QUEUED,
            owner=run.node,
        )


def _queued_runs(conn: Connection, run_ids: list[str]) -> tuple[dict[str, WorkerStart], list[Run]]:
    """Of `run_ids`, the refusals of those not queued or never taken by a leader, and the runs
    still to judge, in order (a run not found gets neither)."""
    found: dict[str, Run] = {}
    for start in range(0, len(run_ids), _SQLITE_CHUNK):
        chunk = run_ids[start : start + _SQLITE_CHUNK]
        for row in conn.execute(select(*LIGHT_COLUMNS).where(runs.c.id.in_(chunk))).mappings():
            read = row_to_run(row)
            found[read.id] = read
    refused: dict[str, WorkerStart] = {}
    candidates: list[Run] = []
    for run_id in run_ids:
        run = found.get(run_id)
        if run is None:
            continue
        if run.status is not RunStatus.QUEUED or run.node is None:
            why = f"it is {run.status.value}" + (" and untaken" if run.node is None else "")
            refused[run_id] = WorkerStart(None, run, None, why)
        else:
            candidates.append(run)
    return refused, candidates
