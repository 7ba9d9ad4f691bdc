"""A Party's shortlist and contact requests for its needs, audited

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 09:50:00.000000

A need's Party shortlists providers (one row per need and offer) and asks to be put in contact with them (one
request per need and offer, with a short message). Both are audit-log entities: the CHECK constraint on
``audit_events.entity`` gains ``shortlist`` and ``contact_request`` (written by hand: autogenerate does not
compare CHECK constraints).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ENTITIES_BEFORE = "entity IN ('need', 'offer', 'match', 'organisation')"
_ENTITIES_AFTER = "entity IN ('need', 'offer', 'match', 'organisation', 'shortlist', 'contact_request')"


def upgrade() -> None:
    op.create_table(
        "shortlist_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("need_id", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("added_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["need_id"], ["needs.id"], name=op.f("fk_shortlist_entries_need_id_needs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"], ["offers.id"], name=op.f("fk_shortlist_entries_offer_id_offers"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["added_by"], ["users.id"], name=op.f("fk_shortlist_entries_added_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shortlist_entries")),
        sa.UniqueConstraint("need_id", "offer_id", name="uq_shortlist_entries_need_offer"),
    )
    op.create_index(op.f("ix_shortlist_entries_need_id"), "shortlist_entries", ["need_id"])
    op.create_index(op.f("ix_shortlist_entries_offer_id"), "shortlist_entries", ["offer_id"])
    op.create_table(
        "contact_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("need_id", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=True),
        sa.Column("message", sa.String(2000), nullable=False),
        sa.Column("status", sa.String(16), server_default="sent", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("status IN ('sent')", name=op.f("ck_contact_requests_status")),
        sa.ForeignKeyConstraint(
            ["need_id"], ["needs.id"], name=op.f("fk_contact_requests_need_id_needs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"], ["offers.id"], name=op.f("fk_contact_requests_offer_id_offers"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["users.id"],
            name=op.f("fk_contact_requests_requested_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_requests")),
        sa.UniqueConstraint("need_id", "offer_id", name="uq_contact_requests_need_offer"),
    )
    op.create_index(op.f("ix_contact_requests_need_id"), "contact_requests", ["need_id"])
    op.create_index(op.f("ix_contact_requests_offer_id"), "contact_requests", ["offer_id"])
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_constraint(op.f("ck_audit_events_entity"), type_="check")
        batch.create_check_constraint(op.f("ck_audit_events_entity"), _ENTITIES_AFTER)


def downgrade() -> None:
    # Their audit events go too: the narrower constraint could not hold them.
    op.execute("DELETE FROM audit_events WHERE entity IN ('shortlist', 'contact_request')")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_constraint(op.f("ck_audit_events_entity"), type_="check")
        batch.create_check_constraint(op.f("ck_audit_events_entity"), _ENTITIES_BEFORE)
    op.drop_index(op.f("ix_contact_requests_offer_id"), table_name="contact_requests")
    op.drop_index(op.f("ix_contact_requests_need_id"), table_name="contact_requests")
    op.drop_table("contact_requests")
    op.drop_index(op.f("ix_shortlist_entries_offer_id"), table_name="shortlist_entries")
    op.drop_index(op.f("ix_shortlist_entries_need_id"), table_name="shortlist_entries")
    op.drop_table("shortlist_entries")
