"""Run statistics of sealed hours: runs per hour, job and status, with duration percentiles.

Statistics over days of a store holding a million runs read these rows instead of the runs;
only the hours not sealed yet (the last one or two) are counted from the runs themselves. The
table starts empty: the first statistics read seals the hours of the runs already stored.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

Instant = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "run_hours",
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("hour", Instant, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("timed", sa.Integer(), nullable=False),
        sa.Column("total_ms", sa.BigInteger(), nullable=True),
        sa.Column("p50_ms", sa.Float(), nullable=True),
        sa.Column("p90_ms", sa.Float(), nullable=True),
        sa.Column("p99_ms", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("job_id", "hour", "status", name="pk_run_hours"),
    )
    op.create_index(
        "ix_run_hours_status_hour", "run_hours", ["status", "hour", "job_id", "total_ms"]
    )
    sealed = op.create_table(
        "run_hours_sealed",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sealed_until", Instant, nullable=True),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_run_hours_sealed"),
    )
    op.bulk_insert(sealed, [{"id": 1, "sealed_until": None, "generation": 0}])


def downgrade() -> None:
    op.drop_table("run_hours_sealed")
    op.drop_table("run_hours")
