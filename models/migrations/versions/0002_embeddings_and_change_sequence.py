"""embedding cache and offer change sequence

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 05:59:46.964094
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "counters",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_counters")),
    )
    op.create_table(
        "embeddings",
        sa.Column("model_id", sa.String(length=300), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.PrimaryKeyConstraint("model_id", "text_hash", name=op.f("pk_embeddings")),
    )
    op.create_table(
        "offer_deletions",
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("offer_id", "change_seq", name=op.f("pk_offer_deletions")),
    )
    with op.batch_alter_table("offer_deletions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_offer_deletions_change_seq"), ["change_seq"], unique=False)

    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("change_seq", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.create_index(batch_op.f("ix_offers_change_seq"), ["change_seq"], unique=False)

    # Existing offers become change 1 of the new sequence, so an index built before it catches up on them.
    op.execute(sa.text("INSERT INTO counters (name, value) VALUES ('offers', 1)"))
    op.execute(sa.text("UPDATE offers SET change_seq = 1"))


def downgrade() -> None:
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_offers_change_seq"))
        batch_op.drop_column("change_seq")

    with op.batch_alter_table("offer_deletions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_offer_deletions_change_seq"))

    op.drop_table("offer_deletions")
    op.drop_table("embeddings")
    op.drop_table("counters")
