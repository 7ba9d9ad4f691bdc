"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-21 05:43:27.565487
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("org_type", sa.String(length=32), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("website", sa.String(length=500), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("name", "country", name="uq_organisations_name_country"),
    )
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_organisations_country"), ["country"], unique=False)
        batch_op.create_index(batch_op.f("ix_organisations_org_type"), ["org_type"], unique=False)

    op.create_table(
        "needs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("party", sa.String(length=3), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="open", nullable=False),
        sa.Column("visibility", sa.String(length=16), server_default="public", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'under_review', 'matched', 'closed', 'withdrawn')",
            name=op.f("ck_needs_status"),
        ),
        sa.CheckConstraint("visibility IN ('public', 'confidential')", name=op.f("ck_needs_visibility")),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_needs_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_needs")),
        sa.UniqueConstraint("external_id", name=op.f("uq_needs_external_id")),
    )
    with op.batch_alter_table("needs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_needs_language"), ["language"], unique=False)
        batch_op.create_index(batch_op.f("ix_needs_organisation_id"), ["organisation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_needs_party"), ["party"], unique=False)
        batch_op.create_index(batch_op.f("ix_needs_status"), ["status"], unique=False)

    op.create_table(
        "offers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("cost", sa.String(length=16), server_default="negotiable", nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint("cost IN ('free', 'cost', 'negotiable')", name=op.f("ck_offers_cost")),
        sa.CheckConstraint("status IN ('active', 'paused', 'expired')", name=op.f("ck_offers_status")),
        sa.CheckConstraint("capacity IS NULL OR capacity >= 0", name=op.f("ck_offers_capacity_non_negative")),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_offers_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offers")),
        sa.UniqueConstraint("external_id", name=op.f("uq_offers_external_id")),
    )
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_offers_organisation_id"), ["organisation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_offers_status"), ["status"], unique=False)

    op.create_table(
        "need_assistance_types",
        sa.Column("need_id", sa.Integer(), nullable=False),
        sa.Column("assistance_type", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["need_id"], ["needs.id"], name=op.f("fk_need_assistance_types_need_id_needs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("need_id", "assistance_type", name=op.f("pk_need_assistance_types")),
    )
    with op.batch_alter_table("need_assistance_types", schema=None) as batch_op:
        batch_op.create_index("ix_need_assistance_types_value_need", ["assistance_type", "need_id"], unique=False)

    op.create_table(
        "need_targets",
        sa.Column("need_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.SmallInteger(), nullable=False),
        sa.CheckConstraint("target BETWEEN 1 AND 23", name=op.f("ck_need_targets_target_range")),
        sa.ForeignKeyConstraint(
            ["need_id"], ["needs.id"], name=op.f("fk_need_targets_need_id_needs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("need_id", "target", name=op.f("pk_need_targets")),
    )
    with op.batch_alter_table("need_targets", schema=None) as batch_op:
        batch_op.create_index("ix_need_targets_target_need", ["target", "need_id"], unique=False)

    op.create_table(
        "offer_assistance_types",
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("assistance_type", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["offer_id"],
            ["offers.id"],
            name=op.f("fk_offer_assistance_types_offer_id_offers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("offer_id", "assistance_type", name=op.f("pk_offer_assistance_types")),
    )
    with op.batch_alter_table("offer_assistance_types", schema=None) as batch_op:
        batch_op.create_index(
            "ix_offer_assistance_types_value_offer", ["assistance_type", "offer_id"], unique=False
        )

    op.create_table(
        "offer_countries",
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.ForeignKeyConstraint(
            ["offer_id"], ["offers.id"], name=op.f("fk_offer_countries_offer_id_offers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("offer_id", "country", name=op.f("pk_offer_countries")),
    )
    with op.batch_alter_table("offer_countries", schema=None) as batch_op:
        batch_op.create_index("ix_offer_countries_country_offer", ["country", "offer_id"], unique=False)

    op.create_table(
        "offer_languages",
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.ForeignKeyConstraint(
            ["offer_id"], ["offers.id"], name=op.f("fk_offer_languages_offer_id_offers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("offer_id", "language", name=op.f("pk_offer_languages")),
    )
    with op.batch_alter_table("offer_languages", schema=None) as batch_op:
        batch_op.create_index("ix_offer_languages_language_offer", ["language", "offer_id"], unique=False)

    op.create_table(
        "offer_regions",
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("region", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["offer_id"], ["offers.id"], name=op.f("fk_offer_regions_offer_id_offers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("offer_id", "region", name=op.f("pk_offer_regions")),
    )
    with op.batch_alter_table("offer_regions", schema=None) as batch_op:
        batch_op.create_index("ix_offer_regions_region_offer", ["region", "offer_id"], unique=False)

    op.create_table(
        "offer_targets",
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.SmallInteger(), nullable=False),
        sa.CheckConstraint("target BETWEEN 1 AND 23", name=op.f("ck_offer_targets_target_range")),
        sa.ForeignKeyConstraint(
            ["offer_id"], ["offers.id"], name=op.f("fk_offer_targets_offer_id_offers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("offer_id", "target", name=op.f("pk_offer_targets")),
    )
    with op.batch_alter_table("offer_targets", schema=None) as batch_op:
        batch_op.create_index("ix_offer_targets_target_offer", ["target", "offer_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("offer_targets", schema=None) as batch_op:
        batch_op.drop_index("ix_offer_targets_target_offer")

    op.drop_table("offer_targets")
    with op.batch_alter_table("offer_regions", schema=None) as batch_op:
        batch_op.drop_index("ix_offer_regions_region_offer")

    op.drop_table("offer_regions")
    with op.batch_alter_table("offer_languages", schema=None) as batch_op:
        batch_op.drop_index("ix_offer_languages_language_offer")

    op.drop_table("offer_languages")
    with op.batch_alter_table("offer_countries", schema=None) as batch_op:
        batch_op.drop_index("ix_offer_countries_country_offer")

    op.drop_table("offer_countries")
    with op.batch_alter_table("offer_assistance_types", schema=None) as batch_op:
        batch_op.drop_index("ix_offer_assistance_types_value_offer")

    op.drop_table("offer_assistance_types")
    with op.batch_alter_table("need_targets", schema=None) as batch_op:
        batch_op.drop_index("ix_need_targets_target_need")

    op.drop_table("need_targets")
    with op.batch_alter_table("need_assistance_types", schema=None) as batch_op:
        batch_op.drop_index("ix_need_assistance_types_value_need")

    op.drop_table("need_assistance_types")
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_offers_status"))
        batch_op.drop_index(batch_op.f("ix_offers_organisation_id"))

    op.drop_table("offers")
    with op.batch_alter_table("needs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_needs_status"))
        batch_op.drop_index(batch_op.f("ix_needs_party"))
        batch_op.drop_index(batch_op.f("ix_needs_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_needs_language"))

    op.drop_table("needs")
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organisations_org_type"))
        batch_op.drop_index(batch_op.f("ix_organisations_country"))

    op.drop_table("organisations")
