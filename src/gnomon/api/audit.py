"""The audit trail: who changed what, when, from where, before and after (admin only)."""

from __future__ import annotations

from flask import Blueprint, Response, request

from gnomon.api import schemas as s
from gnomon.api.access import ADMIN, require
from gnomon.api.envelope import success
from gnomon.api.openapi import document
from gnomon.api.params import Query
from gnomon.api.state import state
from gnomon.domain import AuditEntry, AuditFilter
from gnomon.errors import Problem
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
    """Newest first, filtered: ?actor=&action=&job_id=|target=&since=&until=&limit=1..500
    &before_id= → {items, next_before_id}.

    `action` may be repeated or comma-separated; `job_id` is the target of a job's entries
    (`target` names any other, such as `user:alice`); `since` is inclusive, `until` exclusive.
    Raises ValidationFailed (per query parameter).
    """
    query = Query()
    actor = query.text("actor", max_length=150)
    actions = tuple(
        dict.fromkeys(piece for text in request.args.getlist("action") for piece in text.split(","))
    )
    job_id = query.text("job_id", max_length=64)
    target = query.text("target", max_length=255)
    if job_id is not None and target is not None:
        query.problems.append(Problem("target", "give job_id or target, not both"))
    since = query.instant("since")
    until = query.instant("until")
    limit = query.integer("limit", DEFAULT_PAGE, 1, MAX_AUDIT_PAGE)
    before = query.integer("before_id", 0, 1, MAX_ID)
    query.done()
    where = AuditFilter(
        actor=actor, actions=actions, target=job_id or target, since=since, until=until
    )
    entries = state().audit.list_entries(limit=limit, before_id=before or None, where=where)
    next_before = entries[-1].id if len(entries) == limit else None
    return success({"items": [audit_document(e) for e in entries], "next_before_id": next_before})
