"""Audit use cases: read who changed what, when and from where, newest first, filtered."""

from __future__ import annotations

from gnomon.domain import AuditEntry, AuditFilter
from gnomon.errors import Problem, ValidationFailed
from gnomon.store.base import Store

MAX_AUDIT_PAGE = 500
#: Every action the services write, so that a filter can be offered and checked.
AUDIT_ACTIONS = (
    "auth.login",
    "auth.login_failed",
    "auth.logout",
    "job.add",
    "job.pause",
    "job.remove",
    "job.resume",
    "job.run",
    "job.update_trigger",
    "jobs.reload",
    "jobs.sync",
    "run.cancel",
    "token.create",
    "token.revoke",
    "user.create",
    "user.disable",
    "user.enable",
    "user.end_sessions",
    "user.set_password",
    "user.set_role",
)


class AuditService:
    """The audit trail of one store (entries are written by the other services)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def list_entries(
        self, limit: int = 50, before_id: int | None = None, where: AuditFilter | None = None
    ) -> list[AuditEntry]:
        """Entries newest first that `where` admits; `before_id` continues after the last
        entry of a previous page.

        Raises ValidationFailed for a limit outside 1..500, a before_id below 1, an unknown
        action, or a time range that ends before it starts.
        """
        problems = []
        if not 1 <= limit <= MAX_AUDIT_PAGE:
            problems.append(Problem("limit", f"must be an integer from 1 to {MAX_AUDIT_PAGE}"))
        if before_id is not None and before_id < 1:
            problems.append(Problem("before_id", "must be a positive integer"))
        if where is not None:
            problems.extend(_filter_problems(where))
        if problems:
            raise ValidationFailed(problems)
        return self.store.list_audit(limit=limit, before_id=before_id, where=where)


def _filter_problems(where: AuditFilter) -> list[Problem]:
    problems = []
    unknown = [action for action in where.actions if action not in AUDIT_ACTIONS]
    if unknown:
        allowed = ", ".join(AUDIT_ACTIONS)
        problems.append(Problem("action", f"must be one or more of {allowed}; got {unknown[0]!r}"))
    if where.since is not None and where.until is not None and where.until <= where.since:
        problems.append(Problem("until", "must be later than since"))
    return problems
