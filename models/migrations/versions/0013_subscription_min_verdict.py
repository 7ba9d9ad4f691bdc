"""Alert thresholds by fit verdict: the least verdict that fires a subscription that follows offers

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 12:45:00.000000

``subscriptions.min_verdict`` is the least fit verdict (``strong``, ``good`` or ``possible``; see
``matcher/engine/verdicts.py``) an organisation's offer must reach for a need to fire a subscription of kind
``offers``. Existing ``offers`` subscriptions get the default, ``possible``: they stop firing on ``weak`` matches
(a calibrated probability below 0.25 that a person would judge the provider relevant). Saved searches (kind
``query``) have no offer to judge, so theirs stays NULL. The CHECK constraints are added in batch mode (SQLite
rebuilds the table, copying the rows by SQL, as in 0011 and 0012).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("min_verdict", sa.String(length=8), nullable=True))
    op.execute("UPDATE subscriptions SET min_verdict = 'possible' WHERE kind = 'offers'")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_check_constraint(
            op.f("ck_subscriptions_min_verdict"), "min_verdict IN ('strong', 'good', 'possible')"
        )
        batch_op.create_check_constraint(
            op.f("ck_subscriptions_offers_have_min_verdict"), "kind <> 'offers' OR min_verdict IS NOT NULL"
        )
        batch_op.create_check_constraint(
            op.f("ck_subscriptions_query_has_no_min_verdict"), "kind <> 'query' OR min_verdict IS NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_subscriptions_query_has_no_min_verdict"), type_="check")
        batch_op.drop_constraint(op.f("ck_subscriptions_offers_have_min_verdict"), type_="check")
        batch_op.drop_constraint(op.f("ck_subscriptions_min_verdict"), type_="check")
        batch_op.drop_column("min_verdict")
