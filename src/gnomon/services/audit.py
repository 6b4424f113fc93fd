"""Audit use cases: read who changed what, when and from where, newest first."""

from __future__ import annotations

from gnomon.domain import AuditEntry
from gnomon.errors import Problem, ValidationFailed
from gnomon.store.base import Store

MAX_AUDIT_PAGE = 500


class AuditService:
    """The audit trail of one store (entries are written by the other services)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def list_entries(self, limit: int = 50, before_id: int | None = None) -> list[AuditEntry]:
        """Entries newest first; `before_id` continues after the last entry of a previous page.

        Raises ValidationFailed for a limit outside 1..500 or a before_id below 1.
        """
        problems = []
        if not 1 <= limit <= MAX_AUDIT_PAGE:
            problems.append(Problem("limit", f"must be an integer from 1 to {MAX_AUDIT_PAGE}"))
        if before_id is not None and before_id < 1:
            problems.append(Problem("before_id", "must be a positive integer"))
        if problems:
            raise ValidationFailed(problems)
        return self.store.list_audit(limit=limit, before_id=before_id)
