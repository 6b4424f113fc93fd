"""The notification outbox: every event told to a channel, with its attempts (admin only)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from gnomon.alerts import Delivery, DeliveryStatus
from gnomon.api import schemas as s
from gnomon.api.access import ADMIN, require
from gnomon.api.envelope import success
from gnomon.api.openapi import document
from gnomon.api.params import Query
from gnomon.api.state import state
from gnomon.services.documents import iso
from gnomon.services.notifications import MAX_PAGE

bp = Blueprint("deliveries", __name__, url_prefix="/api/v1/scheduler")

DEFAULT_PAGE = 50


def delivery_document(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "channel": delivery.channel,
        "event": delivery.event.value,
        "job_id": delivery.job_id,
        "run_id": delivery.run_id,
        "status": delivery.status.value,
        "created_at": iso(delivery.created_at),
        "next_attempt_at": iso(delivery.next_attempt_at),
        "finished_at": iso(delivery.finished_at),
        "attempt_count": delivery.attempt_count,
        "attempts": [
            {
                "at": iso(attempt.at),
                "status_code": attempt.status_code,
                "error": attempt.error,
                "duration_ms": attempt.duration_ms,
            }
            for attempt in delivery.attempts
        ],
    }


@bp.get("/deliveries")
@document(
    s.DeliveryPageEnvelope,
    errors=(400, 401, 403),
    query=s.DeliveryQuery,
    tag="notifications",
)
@require(ADMIN)
def list_deliveries() -> Response:
    """Newest first: ?job_id=&channel=&status=&limit=1..500&cursor= → {items, next_cursor}.

    Raises ValidationFailed (per query parameter).
    """
    query = Query()
    job_id = query.text("job_id", max_length=64)
    channel = query.text("channel", max_length=64)
    status = query.choice("status", DeliveryStatus)
    limit = query.integer("limit", DEFAULT_PAGE, 1, MAX_PAGE)
    cursor = query.text("cursor")
    query.done()
    page = state().runtime.notifications.list_deliveries(
        job_id=job_id, channel=channel, status=status, limit=limit, cursor=cursor
    )
    return success(
        {
            "items": [delivery_document(d) for d in page.items],
            "next_cursor": page.next_cursor,
        }
    )
