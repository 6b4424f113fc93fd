"""Status, audit entries, users, login and API tokens."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from gnomon.api.schemas.envelopes import Strict, Text
from gnomon.services.audit import AUDIT_ACTIONS


class NodeDoc(BaseModel):
    id: str
    host: str
    pid: int
    started_at: Text
    last_seen: Text
    is_leader: bool
    roles: list[str]  # "scheduler", or "worker" for a `gnomon worker`
    queues: list[str]  # a worker's broker queues
    concurrency: int | None  # how many runs a worker executes at once


class JobCounts(BaseModel):
    total: int
    paused: int
    running: int


class Status(BaseModel):
    running: bool
    node: str
    leader: Text
    nodes: list[NodeDoc]
    version: str
    uptime_s: float
    jobs: JobCounts


class AuditEntry(BaseModel):
    id: int
    at: str
    actor: str
    user_id: int | None
    client: Text
    action: str
    target: Text
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_before_id: int | None


class Health(BaseModel):
    status: str  # "ok" (/healthz); "ready" or "degraded" (/readyz)
    threads_down: list[str] | None = None  # /readyz, degraded: the scheduler threads ended
    broker: Literal["unreachable"] | None = None  # /readyz, degraded: runs cannot be sent


class UserDoc(BaseModel):
    id: int
    username: str
    role: Literal["viewer", "admin"]
    permissions: list[str]


class Account(UserDoc):
    disabled: bool
    created_at: Text
    password_changed_at: Text


class UserInput(Strict):
    username: str = Field(min_length=1, max_length=64)
    role: Literal["viewer", "admin"]
    password: str = Field(min_length=8)


class UserPatch(Strict):
    role: Literal["viewer", "admin"] | None = Field(
        default=None, description="The new role; the last enabled admin keeps it."
    )
    disabled: bool | None = Field(
        default=None, description="Disable or enable; either ends the user's sessions."
    )


class PasswordInput(Strict):
    password: str = Field(min_length=8)


class CsrfToken(BaseModel):
    csrf_token: str


class LoginInput(Strict):
    username: str = Field(min_length=1)
    password: str = Field(min_length=1)


class LoginResult(BaseModel):
    user: UserDoc
    csrf_token: str


class TokenInput(Strict):
    user: Text = Field(default=None, description="Username; omitted: the caller.")
    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class Token(BaseModel):
    id: int
    name: str
    user: Text
    user_id: int
    created_at: Text
    expires_at: Text
    revoked_at: Text
    last_used_at: Text


class NewToken(Token):
    token: str = Field(description="The secret: shown this once, never again.")


_ACTION = "|".join(a.replace(".", "\\.") for a in AUDIT_ACTIONS)
ActionList = Annotated[str, Field(pattern=f"^({_ACTION})(,({_ACTION}))*$")]
Instant = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class AuditQuery(Strict):
    actor: Text = Field(default=None, max_length=150, description="Entries of this actor.")
    action: list[ActionList] | None = Field(
        default=None,
        description="Entries of any of these actions: repeat the parameter or separate the "
        "actions by commas.",
    )
    job_id: Text = Field(default=None, max_length=64, description="Entries about this job.")
    target: Text = Field(
        default=None, max_length=255, description="Entries about this target (`user:NAME`, …)."
    )
    since: Instant | None = Field(default=None, description="Entries at or after this time.")
    until: Instant | None = Field(default=None, description="Entries before this time.")
    limit: int = Field(default=50, ge=1, le=500)
    before_id: int | None = Field(default=None, ge=1, le=2**53)


class DeliveryAttempt(BaseModel):
    at: str
    status_code: int | None = Field(description="HTTP status, or SMTP reply code.")
    error: Text = Field(description="Why the attempt failed; null when it succeeded.")
    duration_ms: int


class Delivery(BaseModel):
    id: str = Field(description="Sent as X-Gnomon-Delivery with every attempt.")
    channel: str
    event: Literal["failed", "timed_out", "missed", "interrupted", "recovered", "overdue"]
    job_id: str
    run_id: Text
    status: Literal["pending", "delivered", "failed"]
    created_at: str
    next_attempt_at: Text
    finished_at: Text
    attempt_count: int
    attempts: list[DeliveryAttempt] = Field(description="The newest attempts (50 at most).")


class DeliveryPage(BaseModel):
    items: list[Delivery]
    next_cursor: Text


class DeliveryQuery(Strict):
    job_id: Text = Field(default=None, max_length=64)
    channel: Text = Field(default=None, max_length=64)
    status: Literal["pending", "delivered", "failed"] | None = None
    limit: int = Field(default=50, ge=1, le=500)
    cursor: Text = Field(default=None, max_length=512)
