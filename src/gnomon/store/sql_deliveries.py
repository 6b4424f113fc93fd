"""SqlStore's notification outbox: the deliveries' lifecycle (due, attempted, delivered or given
up) and their listing. Rows are added by sql_events, with the final statuses of runs."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, and_, func, or_, select, update

from gnomon.alerts import Attempt, Delivery, DeliveryPage, DeliveryStatus
from gnomon.domain import Event, Lease
from gnomon.errors import Problem, ValidationFailed
from gnomon.store.base import OverdueCheck
from gnomon.store.sql_engine import SqlBase
from gnomon.store.sql_events import overdue_checks, raise_overdue
from gnomon.store.sql_nodes import check_fence
from gnomon.store.sql_runs import cursor_after, decode_cursor
from gnomon.store.storable import holdable
from gnomon.store.tables import deliveries

_PENDING = DeliveryStatus.PENDING.value


def _attempt_json(attempt: Attempt) -> dict[str, Any]:
    return {
        "at": attempt.at.isoformat(),
        "status_code": attempt.status_code,
        "error": attempt.error,
        "duration_ms": attempt.duration_ms,
    }


def _attempt(data: Mapping[str, Any]) -> Attempt:
    return Attempt(
        at=datetime.fromisoformat(data["at"]),
        status_code=data.get("status_code"),
        error=data.get("error"),
        duration_ms=int(data.get("duration_ms") or 0),
    )


def row_to_delivery(row: RowMapping | Mapping[str, Any]) -> Delivery:
    return Delivery(
        id=row["id"],
        channel=row["channel"],
        event=Event(row["event"]),
        job_id=row["job_id"],
        run_id=row["run_id"],
        status=DeliveryStatus(row["status"]),
        created_at=row["created_at"],
        next_attempt_at=row["next_attempt_at"],
        finished_at=row["finished_at"],
        attempts=tuple(_attempt(a) for a in row["attempts"] or ()),
        attempt_count=row["attempt_count"],
    )


class SqlDeliveries(SqlBase):
    """The outbox half of SqlStore."""

    def raise_overdue(
        self, checks: Sequence[OverdueCheck], now: datetime, fence: Lease
    ) -> list[str]:
        if not checks:
            return []
        # Looked for without the write lock (a job is rarely overdue, and this runs every few
        # seconds beside claims and starts), then told under it, judged again in that
        # transaction in case a success or another leader came in between.
        with self._read() as conn:
            candidates = overdue_checks(conn, checks, now)
        if not candidates:
            return []  # nothing to tell, so nothing the fence would have to guard
        with self._write() as conn:
            check_fence(conn, fence, self._is_pg, None if self._is_pg else self._clock())
            return raise_overdue(conn, candidates, now)

    def due_deliveries(
        self, now: datetime, limit: int = 100, except_channels: Collection[str] = ()
    ) -> list[Delivery]:
        stmt = select(deliveries).where(
            deliveries.c.next_attempt_at <= now, deliveries.c.status == _PENDING
        )
        if except_channels:
            stmt = stmt.where(deliveries.c.channel.not_in(sorted(except_channels)))
        stmt = stmt.order_by(deliveries.c.next_attempt_at, deliveries.c.id).limit(limit)
        with self._read() as conn:
            return [row_to_delivery(row) for row in conn.execute(stmt).mappings()]

    def count_pending_deliveries(self) -> int:
        stmt = select(func.count()).where(deliveries.c.next_attempt_at.is_not(None))
        with self._read() as conn:
            return int(conn.execute(stmt).scalar_one())

    def update_delivery(self, delivery: Delivery) -> bool:
        stmt = (
            update(deliveries)
            .where(deliveries.c.id == delivery.id, deliveries.c.status == _PENDING)
            .values(
                status=delivery.status.value,
                next_attempt_at=delivery.next_attempt_at,
                finished_at=delivery.finished_at,
                attempt_count=delivery.attempt_count,
                attempts=[_attempt_json(a) for a in delivery.attempts],
            )
        )
        with self._write() as conn:
            return bool(conn.execute(stmt).rowcount)

    def list_deliveries(
        self,
        job_id: str | None = None,
        channel: str | None = None,
        status: DeliveryStatus | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> DeliveryPage:
        if limit < 1:
            raise ValidationFailed([Problem("limit", "must be at least 1")])
        after = decode_cursor(cursor) if cursor is not None else None
        if not all(holdable(key) for key in (job_id, channel) if key is not None):
            return DeliveryPage(items=[], next_cursor=None)
        stmt = select(deliveries)
        if job_id is not None:
            stmt = stmt.where(deliveries.c.job_id == job_id)
        if channel is not None:
            stmt = stmt.where(deliveries.c.channel == channel)
        if status is not None:
            stmt = stmt.where(deliveries.c.status == DeliveryStatus(status).value)
        if after is not None:
            after_at, after_id = after
            stmt = stmt.where(
                or_(
                    deliveries.c.created_at < after_at,
                    and_(deliveries.c.created_at == after_at, deliveries.c.id < after_id),
                )
            )
        # One extra row tells whether another page follows.
        stmt = stmt.order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc())
        with self._read() as conn:
            items = [row_to_delivery(r) for r in conn.execute(stmt.limit(limit + 1)).mappings()]
        if len(items) <= limit:
            return DeliveryPage(items=items, next_cursor=None)
        items = items[:limit]
        return DeliveryPage(items, cursor_after(items[-1].created_at, items[-1].id))
