"""Runs by status newest first, and the run statistics read from one index.

The index on (status) alone becomes one on (status, queued_at, id, job_id, duration_ms):
pages filtered by status read it in order, and counts by status and hour and duration
percentiles over a time range read nothing else (an index-only scan on PostgreSQL, a covering
index on SQLite), which keeps them fast on a store of a million runs.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index(
        "ix_runs_status_queued_at",
        "runs",
        ["status", "queued_at", "id", "job_id", "duration_ms"],
    )
    op.drop_index("ix_runs_status", table_name="runs")


def downgrade() -> None:
    op.create_index("ix_runs_status", "runs", ["status"])
    op.drop_index("ix_runs_status_queued_at", table_name="runs")
