"""The audit trail: who changed what, when, from where, before and after (admin only)."""

from __future__ import annotations

from flask import Blueprint, Response

from gnomon.api import schemas as s
from gnomon.api.access import ADMIN, require
from gnomon.api.envelope import success
from gnomon.api.openapi import document
from gnomon.api.params import Query
from gnomon.api.state import state
from gnomon.domain import AuditEntry
from gnomon.services.audit import MAX_AUDIT_PAGE
from gnomon.services.documents import iso

bp = Blueprint("audit", __name__, url_prefix="/api/v1/scheduler")

DEFAULT_PAGE = 50
MAX_ID = 2**53


def audit_document(entry: AuditEntry) -> dict[str, object]:
    return {
        "id": entry.id,
        "at": iso(entry.at),
        "actor": entry.actor,
        "user_id": entry.user_id,
        "client": entry.client,
        "action": entry.action,
        "target": entry.target,
        "before": entry.before,
        "after": entry.after,
    }


@bp.get("/audit")
@document(s.AuditEnvelope, errors=(400, 401, 403), query=s.AuditQuery, tag="audit")
@require(ADMIN)
def list_audit() -> Response:
    """Newest first: ?limit=1..500&before_id= → {items, next_before_id}.

    Raises ValidationFailed (per query parameter).
    """
    query = Query()
    limit = query.integer("limit", DEFAULT_PAGE, 1, MAX_AUDIT_PAGE)
    before = query.integer("before_id", 0, 1, MAX_ID)
    query.done()
    entries = state().audit.list_entries(limit=limit, before_id=before or None)
    next_before = entries[-1].id if len(entries) == limit else None
    return success({"items": [audit_document(e) for e in entries], "next_before_id": next_before})
