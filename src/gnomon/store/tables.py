"""The SQL schema as SQLAlchemy Core tables; migrations/ creates the same thing explicitly."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

# Constraint names are fixed so migrations can refer to them on every backend.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only makes INTEGER PRIMARY KEY an autoincrementing rowid alias; BIGINT would not be.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL keeps the offset (timestamptz); SQLite keeps a naive text timestamp, so values are
    stored as naive UTC there (fixed-width text, so they also sort correctly) and tagged UTC again
    when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the store; pass an aware UTC time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


jobs = Table(
    "jobs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("definition", JSON, nullable=False),
    Column("trigger", JSON, nullable=False),
    Column("paused", Boolean, nullable=False, default=False),
    Column("next_fire_time", UtcDateTime, nullable=True),
    Column("revision", BigInteger, nullable=False),
    Column("is_builtin", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "next_fire_time"),
)

# No foreign key to jobs: run history outlives the jobs it belongs to.
runs = Table(
    "runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("job_id", String(64), nullable=False),
    Column("trigger_source", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("scheduled_for", UtcDateTime, nullable=True),
    Column("last_scheduled_for", UtcDateTime, nullable=True),
    Column("fire_count", Integer, nullable=False, default=1),
    Column("created_by", Integer, nullable=True),
    Column("queued_at", UtcDateTime, nullable=False),
    Column("started_at", UtcDateTime, nullable=True),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("duration_ms", BigInteger, nullable=True),
    Column("reason", Text, nullable=True),
    Column("error_type", Text, nullable=True),
    Column("error_message", Text, nullable=True),
    Column("traceback", Text, nullable=True),
    Column("output", Text, nullable=True),
    Column("exit_code", Integer, nullable=True),
    Column("node", String(255), nullable=True),
    Column("manual_job_id", String(255), nullable=True),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    # The lease token the run's node claimed or adopted it under (fenced starts, adoption).
    Column("lease_token", BigInteger, nullable=True),
    # Retries (runs.py, sql_batch.update_runs): the attempt, the run it retries, its backoff.
    Column("attempt", Integer, nullable=False, default=1, server_default="1"),
    Column("retry_of", String(36), nullable=True),
    Column("not_before", UtcDateTime, nullable=True),
    # The exactly-once claim. Manual runs have scheduled_for NULL, and NULLs never collide in a
    # unique constraint on either SQLite or PostgreSQL.
    UniqueConstraint("job_id", "scheduled_for"),
    Index("ix_runs_job_id_queued_at", "job_id", "queued_at", "id"),
    # Runs of a status newest first (pages filtered by status), and, holding every column the
    # run statistics read, those statistics from the index alone (migration 0007).
    Index("ix_runs_status_queued_at", "status", "queued_at", "id", "job_id", "duration_ms"),
    Index("ix_runs_queued_at", "queued_at", "id"),
    Index("ix_runs_retry_of", "retry_of"),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(150), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("password_changed_at", UtcDateTime, nullable=True),
    # A session is valid only while it carries the user's current generation (api sessions).
    Column("session_generation", Integer, nullable=False, default=0, server_default="0"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("token_hash", String(255), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
    Column("last_used_at", UtcDateTime, nullable=True),
)

audit = Table(
    "audit",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(150), nullable=False),
    Column("action", String(100), nullable=False),
    Column("target", String(255), nullable=True),
    Column("before", JSON(none_as_null=True), nullable=True),
    Column("after", JSON(none_as_null=True), nullable=True),
    Column("client", String(255), nullable=True),
    Column("user_id", Integer, nullable=True),
    # The trail of one job (or user, or token), of one actor and of one action, newest first.
    Index("ix_audit_target_id", "target", "id"),
    Index("ix_audit_actor_id", "actor", "id"),
    Index("ix_audit_action_id", "action", "id"),
)

# Failed logins, shared by every API process of the store so that their limit holds across
# them all; `key` is a digest of (username, client address). Rows older than the window go.
login_failures = Table(
    "login_failures",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("key", String(64), nullable=False),
    Column("failed_at", UtcDateTime, nullable=False),
    Index("ix_login_failures_key", "key", "failed_at"),
    Index("ix_login_failures_failed_at", "failed_at"),
)

nodes = Table(
    "nodes",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("last_seen", UtcDateTime, nullable=False),
    Column("roles", JSON, nullable=False),
    # A worker's broker queues and concurrency (migration 0010); NULL for other nodes.
    Column("queues", JSON, nullable=True),
    Column("concurrency", Integer, nullable=True),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(255), nullable=False),
    Column("token", BigInteger, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
)

# One row (id=1) whose counter grows with every job write; schedulers poll it.
changes = Table(
    "changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("counter", BigInteger, nullable=False),
)

# The notification outbox: one row per event per channel, inserted in the transaction that
# writes the run's final status, delivered (at least once) by the leader. No foreign key to
# runs: a delivery outlives a pruned run, and overdue events belong to no run.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(36), primary_key=True),  # sent as X-Gnomon-Delivery
    Column("channel", String(64), nullable=False),
    Column("event", String(16), nullable=False),
    Column("job_id", String(64), nullable=False),
    Column("run_id", String(36), nullable=True),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    # NULL once delivered or given up: the index then holds only what is still to be sent.
    Column("next_attempt_at", UtcDateTime, nullable=True),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("attempt_count", Integer, nullable=False, default=0),
    # The newest attempts: [{"at", "status_code", "error", "duration_ms"}, …].
    Column("attempts", JSON, nullable=False),
    # One event of a kind per run and channel, however often a write is retried.
    UniqueConstraint("run_id", "channel", "event"),
    Index("ix_deliveries_next_attempt_at", "next_attempt_at"),
    Index("ix_deliveries_created_at", "created_at", "id"),
    Index("ix_deliveries_job_id_created_at", "job_id", "created_at", "id"),
)

# Run statistics of the hours that are over and settled ("sealed"; see store/sql_stats.py): per
# hour (UTC), job and status, the runs queued then, with the sum and percentiles of the durations
# (succeeded runs only). Rows with job_id "" (no job has that id) hold the hour over all jobs.
run_hours = Table(
    "run_hours",
    metadata,
    Column("job_id", String(64), nullable=False),
    Column("hour", UtcDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("runs", Integer, nullable=False),
    Column("timed", Integer, nullable=False),  # runs with a duration
    Column("total_ms", BigInteger, nullable=True),
    Column("p50_ms", Float, nullable=True),
    Column("p90_ms", Float, nullable=True),
    Column("p99_ms", Float, nullable=True),
    PrimaryKeyConstraint("job_id", "hour", "status", name="pk_run_hours"),
    # Which jobs took the most time in a range, from the index alone.
    Index("ix_run_hours_status_hour", "status", "hour", "job_id", "total_ms"),
)

# One row (id=1): every hour before `sealed_until` is in run_hours, and no run queued before it
# changes any more. `generation` grows whenever run_hours is rewritten (pruning), so a sealer
# that read the runs before cannot write what it read.
run_hours_sealed = Table(
    "run_hours_sealed",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("sealed_until", UtcDateTime, nullable=True),
    Column("generation", BigInteger, nullable=False),
)
