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
        if not holdable(run_id):
            return WorkerStart(None, None, None, "no such run")
        with self._write() as conn:
            row = conn.execute(select(*LIGHT_COLUMNS).where(runs.c.id == run_id)).mappings()
            found = row.first()
            if found is None:
                return WorkerStart(None, None, None, "no such run")
            run = row_to_run(found)
            if run.status is not RunStatus.QUEUED or run.node is None:
                why = f"it is {run.status.value}" + (" and untaken" if run.node is None else "")
                return WorkerStart(None, run, None, why)
            job_stmt = select(jobs).where(jobs.c.id == run.job_id)
            if self._is_pg:
                # Starts of one job wait for each other here, so the count of its running runs
                # below includes what another worker has just started.
                job_stmt = job_stmt.with_for_update()
            job_row = conn.execute(job_stmt).mappings().first()
            # A run sent to workers runs there even if its job has been moved to the local
            # executor since: the leader will not start it itself, it is in the broker.
            record = None if job_row is None else row_to_job(job_row)
            # The grace is judged on the store's clock, as the fire time was claimed by it: a
            # worker whose own clock is off must not record every run it gets missed.
            store_now = (
                conn.execute(select(func.now())).scalar_one() if self._is_pg else self._clock()
            )
            update = self._judge(conn, run, record, worker, now, store_now, live_within)
            if update is None:
                return WorkerStart(None, run, record, "a retry over max_instances: it waits")
            if update_runs(conn, [update], self._is_pg, self._clock):
                return WorkerStart(None, run, record, "it changed meanwhile")
        started = run.replace(status=update.status, node=update.node or run.node)
        if update.status is RunStatus.RUNNING:
            started = started.replace(started_at=now)
        return WorkerStart(update.status, started, record, update.reason or "started")

    def _judge(
        self,
        conn: Connection,
        run: Run,
        record: JobRecord | None,
        worker: str,
        now: datetime,
        store_now: datetime,
        live_within: float,
    ) -> RunUpdate | None:
        """The transition the run takes (from queued, owned by the node that sent it); None
        for a retry released to wait for a free slot."""

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
        alive = (self._clock(), live_within)
        # Every node's running runs count, this worker's too (it is a node like the others).
        running = running_elsewhere(conn, [run.job_id], "", alive, self._is_pg)
        if running.get(run.job_id, 0) >= record.definition.max_instances:
            if run.trigger_source is TriggerSource.RETRY and release_retries(
                conn, [run.id], run.node or ""
            ):
                return None
            return close(RunStatus.SKIPPED, MissReason.MAX_INSTANCES, SKIP_MESSAGE)
        return RunUpdate(
            run_id=run.id,
            status=RunStatus.RUNNING,
            started_at=now,
            node=worker,
            expected=_QUEUED,
            owner=run.node,
        )
