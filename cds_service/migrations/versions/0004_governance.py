"""Run-time governance: the findings ledger, rule states, their audit trail and snapshots.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ledger_finding",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("hook_instance", sa.String(256), nullable=False),
        sa.Column("patient_hash", sa.String(64), nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("rule_version", sa.String(32), nullable=False),
        sa.Column("family", sa.String(32), nullable=False),
        sa.Column("indicator", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("card_uuid", sa.String(64), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("knowledge_version", sa.String(32), nullable=False),
        sa.Column("rule_state_digest", sa.String(32), nullable=False),
        sa.Column("suggested", sa.JSON(), nullable=True),
        sa.Column("withheld_orders", sa.JSON(), nullable=True),
        sa.Column("snoozed_by", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_ledger_finding_recorded_at", "ledger_finding", ["recorded_at"])
    op.create_index("ix_ledger_finding_card_uuid", "ledger_finding", ["card_uuid"])
    op.create_index(
        "ix_ledger_finding_patient", "ledger_finding", ["service_id", "patient_hash", "recorded_at"]
    )
    op.create_table(
        "rule_state",
        sa.Column("service_id", sa.String(64), primary_key=True),
        sa.Column("rule_id", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(256), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    op.create_table(
        "rule_state_change",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("old_state", sa.String(16), nullable=False),
        sa.Column("new_state", sa.String(16), nullable=False),
        sa.Column("changed_by", sa.String(256), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(32), nullable=False),
    )
    op.create_index("ix_rule_state_change_changed_at", "rule_state_change", ["changed_at"])
    op.create_table(
        "rule_state_snapshot",
        sa.Column("digest", sa.String(32), primary_key=True),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("states", sa.JSON(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rule_state_snapshot")
    op.drop_index("ix_rule_state_change_changed_at", table_name="rule_state_change")
    op.drop_table("rule_state_change")
    op.drop_table("rule_state")
    op.drop_index("ix_ledger_finding_patient", table_name="ledger_finding")
    op.drop_index("ix_ledger_finding_card_uuid", table_name="ledger_finding")
    op.drop_index("ix_ledger_finding_recorded_at", table_name="ledger_finding")
    op.drop_table("ledger_finding")
