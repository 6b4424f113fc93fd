"""Nodes say which broker queues they take runs from and how many they execute at once.

`gnomon worker` processes register as nodes (role `worker`) like schedulers do; these two
columns stay empty for every other node.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.add_column(sa.Column("queues", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("concurrency", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("concurrency")
        batch.drop_column("queues")
