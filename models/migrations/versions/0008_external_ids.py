"""Every need and offer has an external id

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 10:00:00.000000

Records made through the API had none, so an export named them ``need-<id>`` / ``offer-<id>`` and importing that
file created copies. Each such record gets the id it was exported as (an old export imports cleanly after the
upgrade), or a random one if that id is already another record's. New records get theirs when they are made
(``models.orm.new_external_id``). A filled record is a changed record: its version (the ETag) advances and the
offers are stamped with a new value of the offer change sequence, so running indexes reload them. Nothing is
undone on downgrade: the ids are what exports already name the records by.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = (("needs", "need"), ("offers", "offer"))


def upgrade() -> None:
    conn = op.get_bind()
    counters = sa.table("counters", sa.column("name", sa.String), sa.column("value", sa.BigInteger))
    for table_name, kind in _KINDS:
        columns: list[sa.ColumnClause[Any]] = [
            sa.column("id", sa.Integer),
            sa.column("external_id", sa.String),
            sa.column("version", sa.Integer),
        ]
        if kind == "offer":
            columns.append(sa.column("change_seq", sa.BigInteger))
        table = sa.table(table_name, *columns)
        taken = set(conn.scalars(sa.select(table.c.external_id).where(table.c.external_id.is_not(None))))
        missing = list(
            conn.scalars(sa.select(table.c.id).where(table.c.external_id.is_(None)).order_by(table.c.id))
        )
        if not missing:
            continue
        rows = []
        for record_id in missing:
            external_id = f"{kind}-{record_id}"
            if external_id in taken:
                external_id = f"{kind}-{uuid.uuid4().hex}"
            taken.add(external_id)
            rows.append({"record_id": record_id, "filled": external_id})
        values: dict[str, Any] = {"external_id": sa.bindparam("filled"), "version": table.c.version + 1}
        if kind == "offer":
            seq = conn.scalar(sa.select(counters.c.value).where(counters.c.name == "offers"))
            if seq is None:
                seq = 0
                conn.execute(sa.insert(counters).values(name="offers", value=0))
            seq += 1
            conn.execute(sa.update(counters).where(counters.c.name == "offers").values(value=seq))
            values["change_seq"] = seq
        conn.execute(sa.update(table).where(table.c.id == sa.bindparam("record_id")).values(**values), rows)


def downgrade() -> None:
    pass
