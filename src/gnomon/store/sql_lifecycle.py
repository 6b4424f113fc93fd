"""SqlStore's fenced run lifecycle: starting runs under the lease, adopting a lost leader's runs,
manual runs admitted against max_instances, and what a node owns.

Every move here is a guarded transition (status and owner in the WHERE clause) in one transaction
with the lease check, so a node that lost the lease can start nothing, and a new leader's
adoption and an old node's start can never both win for one run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    cast,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB

from gnomon.domain import AuditEntry, Lease, Run, RunStatus, TriggerSource
from gnomon.errors import JobAlreadyRunning
from gnomon.store.base import RunStart, StartResult
from gnomon.store.sql_auth import insert_audit
from gnomon.store.sql_batch import ended_among, run_params, start_queued
from gnomon.store.sql_engine import SqlBase
from gnomon.store.sql_nodes import check_fence
from gnomon.store.sql_runs import LIGHT_COLUMNS, row_to_run
from gnomon.store.sql_stats import reopen_sealed
from gnomon.store.tables import jobs, runs

#: Runs per start_runs call: their ids are bound one parameter each (an IN list lets SQLite
#: look each up by primary key; a JSON array made it scan every queued run instead).
MAX_START_BATCH = 1000
_QUEUED = RunStatus.QUEUED.value
_RUNNING = RunStatus.RUNNING.value


def _json_values(values: Iterable[str], is_pg: bool) -> Any:
    """Any number of strings as one bound parameter: a select of their `value` column."""
    text = json.dumps(sorted(set(values)))
    if is_pg:
        elements = func.jsonb_array_elements_text(cast(literal(text, String), JSONB))
    else:
        elements = func.json_each(literal(text, String))
    return select(elements.table_valued("value").c.value)


def _counts_against_max_instances(now: datetime, store_now: Any) -> ColumnElement[bool]:
    """Runs that occupy one of their job's max_instances: running, or queued to start now.
    A fire claimed ahead of its time does not count until that time has come, nor one already
    moved to running just ahead of it (its started_at is its fire time), nor a retry waiting
    out its backoff, which is judged on the store's clock (`store_now`) it was written by.

    A run that is not such a fire counts once running, whatever its started_at: the scheduler
    may have read its clock a moment after the caller read `now`."""
    return or_(
        and_(
            runs.c.status == _RUNNING,
            or_(
                runs.c.started_at <= now,
                runs.c.scheduled_for.is_(None),
                runs.c.scheduled_for <= now,
            ),
        ),
        and_(
            runs.c.status == _QUEUED,
            or_(runs.c.scheduled_for.is_(None), runs.c.scheduled_for <= now),
            or_(runs.c.not_before.is_(None), runs.c.not_before <= store_now),
        ),
    )


class SqlLifecycle(SqlBase):
    """The fenced lifecycle half of SqlStore."""

    def _fence(self, conn: Any, fence: Lease) -> None:
        check_fence(conn, fence, self._is_pg, None if self._is_pg else self._clock())

    def start_runs(
        self,
        starts: Sequence[RunStart],
        node: str,
        fence: Lease,
        now: datetime,
        live_within: float = 10.0,
    ) -> StartResult:
        if not starts:
            return StartResult(set(), set())
        if len(starts) > MAX_START_BATCH:
            raise ValueError(f"start at most {MAX_START_BATCH} runs at once, not {len(starts)}")
        with self._write() as conn:
            self._fence(conn, fence)
            # Heartbeats are on the store's clock: judge them on it.
            alive = (self._clock(), live_within)
            started, skipped = start_queued(conn, starts, node, now, self._is_pg, alive)
            left = [s.run_id for s in starts if s.run_id not in started and s.run_id not in skipped]
            ended = ended_among(conn, left) if left else frozenset()
        return StartResult(started, skipped, ended)

    def adopt_runs(self, node: str, fence: Lease) -> list[Run]:
        stmt = (
            update(runs)
            .where(
                runs.c.status == _QUEUED,
                runs.c.node.is_not(None),
                runs.c.node != node,
            )
            .values(node=node, lease_token=fence.token)
            .returning(*LIGHT_COLUMNS)
        )
        with self._write() as conn:
            self._fence(conn, fence)
            adopted = [row_to_run(row) for row in conn.execute(stmt).mappings()]
        return sorted(adopted, key=lambda run: (run.queued_at, run.id))

    def owned_active_ids(self, node: str) -> dict[str, RunStatus]:
        stmt = select(runs.c.id, runs.c.status).where(
            runs.c.node == node, runs.c.status.in_([_QUEUED, _RUNNING])
        )
        with self._read() as conn:
            return {run_id: RunStatus(status) for run_id, status in conn.execute(stmt)}

    def add_manual_run(
        self, run: Run, max_instances: int, now: datetime, audit: AuditEntry | None = None
    ) -> Run:
        if run.trigger_source is not TriggerSource.MANUAL:
            raise ValueError("add_manual_run takes manual runs only")
        active = (
            select(runs.c.id)
            .where(
                runs.c.job_id == run.job_id,
                _counts_against_max_instances(now, func.now() if self._is_pg else now),
            )
            .order_by(runs.c.queued_at, runs.c.id)
        )
        with self._write() as conn:
            if self._is_pg:
                # Two requests at once queue here, so both cannot pass the count below.
                conn.execute(select(jobs.c.id).where(jobs.c.id == run.job_id).with_for_update())
            found = list(conn.execute(active).scalars())
            if len(found) >= max_instances:
                raise JobAlreadyRunning(run.job_id, found[0], max_instances)
            conn.execute(runs.insert(), run_params(run))
            reopen_sealed(conn, run.queued_at)
            if audit is not None:
                insert_audit(conn, [audit])
        return run
