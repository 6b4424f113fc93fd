"""The audit trail of one target (a job, a user, a token), one actor or one action, newest first.

The console shows a job's own trail on its page and filters the whole trail by actor and
action; these indexes let each read its page in order instead of scanning every entry ever
written (a rare action over 500,000 entries: 75 ms p50 without its index).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_audit_target_id", "audit", ["target", "id"])
    op.create_index("ix_audit_actor_id", "audit", ["actor", "id"])
    op.create_index("ix_audit_action_id", "audit", ["action", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_action_id", table_name="audit")
    op.drop_index("ix_audit_actor_id", table_name="audit")
    op.drop_index("ix_audit_target_id", table_name="audit")
