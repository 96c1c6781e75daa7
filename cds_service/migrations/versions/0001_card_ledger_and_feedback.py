"""Card ledger and feedback.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "issued_card",
        sa.Column("uuid", sa.String(64), primary_key=True),
        sa.Column("service_id", sa.String(64), nullable=False, index=True),
        sa.Column("hook_instance", sa.String(256), nullable=False),
        sa.Column("topic", sa.String(64), nullable=True),
        sa.Column("indicator", sa.String(16), nullable=False),
        sa.Column("rule_ids", sa.JSON(), nullable=False),
        sa.Column("knowledge_version", sa.String(32), nullable=False),
        sa.Column("patient_hash", sa.String(64), nullable=False, index=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("service_id", sa.String(64), nullable=False, index=True),
        sa.Column("card_uuid", sa.String(256), nullable=False, index=True),
        sa.Column("card_known", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("accepted_suggestions", sa.JSON(), nullable=True),
        sa.Column("override_code", sa.String(256), nullable=True),
        sa.Column("override_system", sa.String(1024), nullable=True),
        sa.Column("override_display", sa.Text(), nullable=True),
        sa.Column("user_comment", sa.Text(), nullable=True),
        sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("issued_card")
