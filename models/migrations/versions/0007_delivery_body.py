"""Webhook bodies kept with their deliveries

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Deliveries pending at the upgrade have no body yet: it is rendered at their next claim.
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body", sa.Text(), nullable=True))


def downgrade() -> None:
    # Not in batch mode: on SQLite that copies the table and drops the original, and dropping it with foreign
    # keys on deletes every delivery item (ON DELETE CASCADE). SQLite 3.35+ drops a column in place.
    op.drop_column("deliveries", "body")
