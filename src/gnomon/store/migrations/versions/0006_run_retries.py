"""Runs are retried: each knows its attempt, the run it retries, and when it may start.

A retry is inserted queued, with no node, in the transaction that gives the failed attempt its
final status; the leader starts it once `not_before` (its backoff) has passed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

Instant = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("retry_of", sa.String(36), nullable=True))
        batch.add_column(sa.Column("not_before", Instant, nullable=True))
        batch.create_index("ix_runs_retry_of", ["retry_of"])


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_retry_of")
        batch.drop_column("not_before")
        batch.drop_column("retry_of")
        batch.drop_column("attempt")
