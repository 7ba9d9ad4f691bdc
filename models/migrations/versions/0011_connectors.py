"""Connectors: provenance of harvested records, runs and conditional-request state

Revision ID: 0011
Revises: 0008 (to be rewired to 0010 when the branches merge)
Create Date: 2026-12-07 10:00:00.000000

Three tables: ``record_sources`` (where each harvested need, offer or organisation comes from),
``connector_runs`` (each run and its report) and ``connector_pages`` (the ETag, Last-Modified, next link and
source ids of every page a connector fetched, for conditional requests). The audit log gains the entity
``connector_run`` and the action ``harvest`` (a run's report is an audit event): its CHECK constraints are
dropped and created again with the longer lists (SQLite rebuilds the table in batch mode; the rows are copied
by SQL, not through the ORM, so the append-only guard does not apply).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ENTITIES_BEFORE = "entity IN ('need', 'offer', 'match', 'organisation', 'shortlist', 'contact_request')"
_ACTIONS_BEFORE = "action IN ('create', 'update', 'delete', 'decision')"
_ENTITIES_AFTER = (
    "entity IN ('need', 'offer', 'match', 'organisation', 'shortlist', 'contact_request', 'connector_run')"
)
_ACTIONS_AFTER = "action IN ('create', 'update', 'delete', 'decision', 'harvest')"


def upgrade() -> None:
    op.create_table(
        "record_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=16), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.String(length=200), nullable=False),
        sa.Column("source_url", sa.String(length=500), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("entity IN ('need', 'offer', 'organisation')", name=op.f("ck_record_sources_entity")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_sources")),
        sa.UniqueConstraint(
            "connector", "entity", "source_id", name="uq_record_sources_connector_entity_source_id"
        ),
    )
    op.create_index("ix_record_sources_entity_record_id", "record_sources", ["entity", "record_id"])
    op.create_table(
        "connector_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pages", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated", sa.Integer(), server_default="0", nullable=False),
        sa.Column("unchanged", sa.Integer(), server_default="0", nullable=False),
        sa.Column("withdrawn", sa.Integer(), server_default="0", nullable=False),
        sa.Column("invalid", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('succeeded', 'failed', 'not_modified')", name=op.f("ck_connector_runs_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connector_runs")),
    )
    op.create_index(op.f("ix_connector_runs_connector"), "connector_runs", ["connector"])
    op.create_table(
        "connector_pages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("etag", sa.String(length=300), nullable=True),
        sa.Column("last_modified", sa.String(length=100), nullable=True),
        sa.Column("next_url", sa.String(length=2000), nullable=True),
        sa.Column("source_ids", sa.JSON(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connector_pages")),
        sa.UniqueConstraint("connector", "url", name="uq_connector_pages_connector_url"),
    )
    _audit_checks(_ENTITIES_AFTER, _ACTIONS_AFTER)


def downgrade() -> None:
    op.drop_table("connector_pages")
    op.drop_index(op.f("ix_connector_runs_connector"), table_name="connector_runs")
    op.drop_table("connector_runs")
    op.drop_index("ix_record_sources_entity_record_id", table_name="record_sources")
    op.drop_table("record_sources")
    # Runs' audit events go too: the narrower constraints could not hold them.
    op.execute("DELETE FROM audit_events WHERE entity = 'connector_run' OR action = 'harvest'")
    _audit_checks(_ENTITIES_BEFORE, _ACTIONS_BEFORE)


def _audit_checks(entities: str, actions: str) -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_audit_events_entity"), type_="check")
        batch_op.drop_constraint(op.f("ck_audit_events_action"), type_="check")
        batch_op.create_check_constraint(op.f("ck_audit_events_entity"), entities)
        batch_op.create_check_constraint(op.f("ck_audit_events_action"), actions)
