"""The notification outbox: one row per event per channel, written with the run's final status.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

Instant = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("next_attempt_at", Instant, nullable=True),
        sa.Column("finished_at", Instant, nullable=True),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.UniqueConstraint(
            "run_id", "channel", "event", name="uq_deliveries_run_id_channel_event"
        ),
    )
    op.create_index("ix_deliveries_next_attempt_at", "deliveries", ["next_attempt_at"])
    op.create_index("ix_deliveries_created_at", "deliveries", ["created_at", "id"])
    op.create_index("ix_deliveries_job_id_created_at", "deliveries", ["job_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_table("deliveries")
