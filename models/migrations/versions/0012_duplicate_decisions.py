"""Duplicates across sources: the secretariat's merge and dismissal decisions

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 10:30:00.000000

``duplicate_decisions`` keeps one row per decided pair (merged or dismissed), so that a decided pair is not
suggested again. The audit log gains the actions ``merge`` and ``dismiss``: its action CHECK constraint is
dropped and created again with the longer list (SQLite rebuilds the table in batch mode, copying the rows by
SQL, as in 0011).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACTIONS_BEFORE = "action IN ('create', 'update', 'delete', 'decision', 'harvest')"
_ACTIONS_AFTER = "action IN ('create', 'update', 'delete', 'decision', 'harvest', 'merge', 'dismiss')"


def upgrade() -> None:
    op.create_table(
        "duplicate_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=16), nullable=False),
        sa.Column("low_id", sa.Integer(), nullable=False),
        sa.Column("high_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("survivor_id", sa.Integer(), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "entity IN ('need', 'offer', 'organisation')", name=op.f("ck_duplicate_decisions_entity")
        ),
        sa.CheckConstraint("decision IN ('merged', 'dismissed')", name=op.f("ck_duplicate_decisions_decision")),
        sa.CheckConstraint("low_id < high_id", name=op.f("ck_duplicate_decisions_ordered")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duplicate_decisions")),
        sa.UniqueConstraint("entity", "low_id", "high_id", name="uq_duplicate_decisions_entity_low_id_high_id"),
    )
    _audit_actions(_ACTIONS_AFTER)


def downgrade() -> None:
    op.drop_table("duplicate_decisions")
    # Their audit events go too: the narrower constraint could not hold them.
    op.execute("DELETE FROM audit_events WHERE action IN ('merge', 'dismiss')")
    _audit_actions(_ACTIONS_BEFORE)


def _audit_actions(actions: str) -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_audit_events_action"), type_="check")
        batch_op.create_check_constraint(op.f("ck_audit_events_action"), actions)
