"""Feedback identity key: a retried outcome is acknowledged, not stored twice.

Rows stored before this revision keep a NULL key (NULLs never collide in a unique index);
nothing already stored is changed or removed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("feedback", sa.Column("dedup_key", sa.String(64), nullable=True))
    op.create_index("ix_feedback_dedup_key", "feedback", ["dedup_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_feedback_dedup_key", table_name="feedback")
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("dedup_key")
