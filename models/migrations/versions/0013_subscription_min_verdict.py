"""Alert thresholds by fit verdict: the least verdict that fires a subscription that follows offers

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 12:45:00.000000

``subscriptions.min_verdict`` is the least fit verdict (``strong``, ``good`` or ``possible``; see
``matcher/engine/verdicts.py``) an organisation's offer must reach for a need to fire a subscription of kind
``offers``. Existing ``offers`` subscriptions get the default, ``possible``: they stop firing on ``weak`` matches
(a calibrated probability below 0.25 that a person would judge the provider relevant). Saved searches (kind
``query``) have no offer to judge, so theirs stays NULL (the service refuses one; the column's CHECK
constraint admits only the three names). No table is rebuilt: on SQLite a batch rebuild of ``subscriptions``
drops the old table, and ``ON DELETE CASCADE`` then deleted every notification and delivery of the outbox (the
delivery-body migration test caught it), so the column and its constraint are added, and dropped, in place.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_CHECK = "min_verdict IN ('strong', 'good', 'possible')"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # A column constraint comes with ADD COLUMN; a table constraint would need the rebuild (module docstring).
        op.execute(
            "ALTER TABLE subscriptions ADD COLUMN min_verdict VARCHAR(8) "
            f"CONSTRAINT ck_subscriptions_min_verdict CHECK ({_CHECK})"
        )
    else:
        op.add_column("subscriptions", sa.Column("min_verdict", sa.String(length=8), nullable=True))
        op.create_check_constraint(op.f("ck_subscriptions_min_verdict"), "subscriptions", _CHECK)
    op.execute("UPDATE subscriptions SET min_verdict = 'possible' WHERE kind = 'offers'")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE subscriptions DROP COLUMN min_verdict")  # its own column constraint goes with it
    else:
        op.drop_constraint(op.f("ck_subscriptions_min_verdict"), "subscriptions", type_="check")
        op.drop_column("subscriptions", "min_verdict")
