"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27 04:13:48.671638
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), server_default="PARTNER", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('PARTNER', 'PLATFORM')", name=op.f("ck_organisations_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("slug", name=op.f("uq_organisations_slug")),
    )
    op.create_table(
        "business_profiles",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("organisation_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("published", sa.Boolean(), server_default="false", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_business_profiles_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_business_profiles")),
        sa.UniqueConstraint("organisation_id", name=op.f("uq_business_profiles_organisation_id")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("organisation_id", sa.UUID(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "roles", postgresql.ARRAY(sa.String(length=32)), server_default="{}", nullable=False
        ),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "roles <@ ARRAY['PARTNER_ADMIN', 'REFERRALS_ADMIN', 'MARKETER', 'SELLER', 'PLATFORM_ADMIN']::varchar[]",
            name=op.f("ck_users_roles"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_users_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_index(op.f("ix_users_organisation_id"), "users", ["organisation_id"], unique=False)
    op.create_table(
        "leads",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("organisation_id", sa.UUID(), nullable=False),
        sa.Column("profile_id", sa.UUID(), nullable=True),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column(
            "tab",
            sa.String(length=16),
            sa.Computed(
                "CASE WHEN type = 'CUSTOMER_INQUIRY' THEN 'MARKETPLACE' ELSE 'QUALIFIED' END",
                persisted=True,
            ),
            nullable=False,
        ),
        sa.Column("stage", sa.String(length=16), server_default="RECEIVED", nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("company_name", sa.String(length=200), nullable=False),
        sa.Column("company_size", sa.String(length=32), nullable=False),
        sa.Column("industry", sa.String(length=100), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("contact_name", sa.String(length=200), nullable=False),
        sa.Column("contact_email", sa.String(length=254), nullable=False),
        sa.Column("contact_phone", sa.String(length=32), nullable=True),
        sa.Column("need", sa.Text(), nullable=False),
        sa.Column("contact_requested", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("consent_to_contact", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("sender_user_id", sa.UUID(), nullable=True),
        sa.Column("sender_organisation_id", sa.UUID(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("respond_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deal_name", sa.String(length=200), nullable=True),
        sa.Column("estimated_value_amount", sa.Numeric(precision=15, scale=3), nullable=True),
        sa.Column("estimated_value_currency", sa.String(length=3), nullable=True),
        sa.Column("estimated_purchase_date", sa.Date(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("crm_id", sa.String(length=100), nullable=True),
        sa.Column("campaign_id", sa.String(length=100), nullable=True),
        sa.Column("decline_reason", sa.String(length=32), nullable=True),
        sa.Column("decline_notes", sa.Text(), nullable=True),
        sa.Column("final_value_amount", sa.Numeric(precision=15, scale=3), nullable=True),
        sa.Column("final_value_currency", sa.String(length=3), nullable=True),
        sa.Column("closing_date", sa.Date(), nullable=True),
        sa.Column("lost_reason", sa.String(length=32), nullable=True),
        sa.Column("lost_notes", sa.Text(), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "search_document",
            postgresql.TSVECTOR(),
            sa.Computed(
                "setweight(to_tsvector('simple', coalesce(company_name, '') || ' ' || coalesce(deal_name, '')), 'A') || setweight(to_tsvector('simple', coalesce(contact_name, '') || ' ' || coalesce(contact_email, '') || ' ' || coalesce(crm_id, '') || ' ' || coalesce(industry, '')), 'B') || setweight(to_tsvector('simple', coalesce(need, '') || ' ' || coalesce(notes, '')), 'C')",
                persisted=True,
            ),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(outcome IS NOT DISTINCT FROM 'DECLINED') = (decline_reason IS NOT NULL)",
            name=op.f("ck_leads_declined_has_reason"),
        ),
        sa.CheckConstraint(
            "(outcome IS NOT DISTINCT FROM 'LOST') = (lost_reason IS NOT NULL)",
            name=op.f("ck_leads_lost_has_reason"),
        ),
        sa.CheckConstraint(
            "(stage = 'ARCHIVED') = (outcome IS NOT NULL)",
            name=op.f("ck_leads_outcome_iff_archived"),
        ),
        sa.CheckConstraint(
            "company_size IN ('SIZE_1_9', 'SIZE_10_50', 'SIZE_51_250', 'SIZE_251_1000', 'SIZE_1001_5000', 'SIZE_5001_10000', 'SIZE_10001_20000', 'SIZE_20000_PLUS')",
            name=op.f("ck_leads_company_size"),
        ),
        sa.CheckConstraint(
            "decline_reason IS NULL OR decline_reason IN ('NOT_A_FIT_FOR_EXPERTISE', 'CUSTOMER_SIZE', 'LOCATION', 'NO_CAPACITY', 'INSUFFICIENT_DETAILS', 'CUSTOMER_UNREACHABLE', 'DUPLICATE', 'SPAM', 'OTHER')",
            name=op.f("ck_leads_decline_reason"),
        ),
        sa.CheckConstraint(
            "lost_reason IS NULL OR lost_reason IN ('PRICE', 'COMPETITOR', 'NO_BUDGET', 'NO_DECISION', 'TIMING', 'REQUIREMENTS_NOT_MET', 'CUSTOMER_UNRESPONSIVE', 'OTHER')",
            name=op.f("ck_leads_lost_reason"),
        ),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('WON', 'LOST', 'DECLINED', 'EXPIRED')",
            name=op.f("ck_leads_outcome"),
        ),
        sa.CheckConstraint(
            "deal_name IS NOT NULL OR stage = 'RECEIVED' OR (outcome IS NOT NULL AND outcome IN ('DECLINED', 'EXPIRED'))",
            name=op.f("ck_leads_accepted_has_deal_name"),
        ),
        sa.CheckConstraint(
            "stage IN ('RECEIVED', 'ACCEPTED', 'ARCHIVED')", name=op.f("ck_leads_stage")
        ),
        sa.CheckConstraint(
            "type IN ('CUSTOMER_INQUIRY', 'MARKETING_QUALIFIED', 'SALES_QUALIFIED')",
            name=op.f("ck_leads_type"),
        ),
        sa.CheckConstraint(
            "(estimated_value_amount IS NULL) = (estimated_value_currency IS NULL)",
            name=op.f("ck_leads_estimated_value_pair"),
        ),
        sa.CheckConstraint(
            "(final_value_amount IS NULL) = (final_value_currency IS NULL)",
            name=op.f("ck_leads_final_value_pair"),
        ),
        sa.CheckConstraint(
            "(sender_user_id IS NULL) OR (sender_organisation_id IS NOT NULL)",
            name=op.f("ck_leads_sender_user_has_organisation"),
        ),
        sa.CheckConstraint(
            "estimated_value_amount >= 0 AND final_value_amount >= 0",
            name=op.f("ck_leads_values_not_negative"),
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_leads_version")),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_leads_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["business_profiles.id"],
            name=op.f("fk_leads_profile_id_business_profiles"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["sender_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_leads_sender_organisation_id_organisations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["sender_user_id"],
            ["users.id"],
            name=op.f("fk_leads_sender_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leads")),
    )
    op.create_index(
        "ix_leads_open_respond_by",
        "leads",
        ["respond_by"],
        unique=False,
        postgresql_where=sa.text("stage = 'RECEIVED'"),
    )
    # Lets one GIN index hold (organisation_id, search_document); trusted since Postgres 13.
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    op.create_index(
        "ix_leads_search",
        "leads",
        ["organisation_id", "search_document"],
        unique=False,
        postgresql_using="gin",
    )
    op.create_index(
        "ix_leads_sender_user",
        "leads",
        ["sender_user_id", sa.literal_column("received_at DESC")],
        unique=False,
    )
    op.create_index(
        "ix_leads_tab_received",
        "leads",
        [
            "organisation_id",
            "tab",
            sa.literal_column("received_at DESC"),
            sa.literal_column("id DESC"),
        ],
        unique=False,
    )
    op.create_index(
        "ix_leads_tab_respond_by",
        "leads",
        ["organisation_id", "tab", "respond_by", "id"],
        unique=False,
    )
    op.create_index(
        "ix_leads_tab_stage_received",
        "leads",
        [
            "organisation_id",
            "tab",
            "stage",
            sa.literal_column("received_at DESC"),
            sa.literal_column("id DESC"),
        ],
        unique=False,
    )
    op.create_index(
        "ix_leads_tab_updated",
        "leads",
        [
            "organisation_id",
            "tab",
            sa.literal_column("updated_at DESC"),
            sa.literal_column("id DESC"),
        ],
        unique=False,
    )
    op.create_table(
        "profile_locations",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("profile_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["business_profiles.id"],
            name=op.f("fk_profile_locations_profile_id_business_profiles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profile_locations")),
    )
    op.create_index(
        op.f("ix_profile_locations_profile_id"), "profile_locations", ["profile_id"], unique=False
    )
    op.create_table(
        "lead_favorites",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("lead_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            name=op.f("fk_lead_favorites_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_lead_favorites_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "lead_id", name=op.f("pk_lead_favorites")),
    )
    op.create_index(op.f("ix_lead_favorites_lead_id"), "lead_favorites", ["lead_id"], unique=False)
    op.create_table(
        "lead_history",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("lead_id", sa.UUID(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_stage", sa.String(length=16), nullable=True),
        sa.Column("to_stage", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("actor_kind", sa.String(length=8), nullable=False),
        sa.Column("actor_user_id", sa.UUID(), nullable=True),
        sa.Column(
            "changes", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.CheckConstraint(
            "action IN ('RECEIVE', 'ACCEPT', 'DECLINE', 'EXPIRE', 'UPDATE', 'ADD_TEAM_MEMBER', 'REMOVE_TEAM_MEMBER', 'MARK_WON', 'MARK_LOST')",
            name=op.f("ck_lead_history_action"),
        ),
        sa.CheckConstraint(
            "actor_kind IN ('USER', 'SYSTEM')", name=op.f("ck_lead_history_actor_kind")
        ),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["users.id"],
            name=op.f("fk_lead_history_actor_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            name=op.f("fk_lead_history_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_history")),
    )
    op.create_index("ix_lead_history_lead", "lead_history", ["lead_id", "id"], unique=False)
    op.create_table(
        "lead_team_members",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("lead_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column(
            "added_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            name=op.f("fk_lead_team_members_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_team_members")),
    )
    op.create_index(
        op.f("ix_lead_team_members_lead_id"), "lead_team_members", ["lead_id"], unique=False
    )
    op.create_table(
        "location_contacts",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("location_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("alerts_opted_out", sa.Boolean(), server_default="false", nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["profile_locations.id"],
            name=op.f("fk_location_contacts_location_id_profile_locations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_location_contacts")),
    )
    op.create_index(
        op.f("ix_location_contacts_location_id"), "location_contacts", ["location_id"], unique=False
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("lead_id", sa.UUID(), nullable=True),
        sa.Column("organisation_id", sa.UUID(), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_outbox_lead_id_leads"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_outbox_organisation_id_organisations"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index(op.f("ix_outbox_lead_id"), "outbox", ["lead_id"], unique=False)
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["id"],
        unique=False,
        postgresql_where=sa.text("processed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_outbox_pending", table_name="outbox", postgresql_where=sa.text("processed_at IS NULL")
    )
    op.drop_index(op.f("ix_outbox_lead_id"), table_name="outbox")
    op.drop_table("outbox")
    op.drop_index(op.f("ix_location_contacts_location_id"), table_name="location_contacts")
    op.drop_table("location_contacts")
    op.drop_index(op.f("ix_lead_team_members_lead_id"), table_name="lead_team_members")
    op.drop_table("lead_team_members")
    op.drop_index("ix_lead_history_lead", table_name="lead_history")
    op.drop_table("lead_history")
    op.drop_index(op.f("ix_lead_favorites_lead_id"), table_name="lead_favorites")
    op.drop_table("lead_favorites")
    op.drop_index(op.f("ix_profile_locations_profile_id"), table_name="profile_locations")
    op.drop_table("profile_locations")
    op.drop_index("ix_leads_tab_updated", table_name="leads")
    op.drop_index("ix_leads_tab_stage_received", table_name="leads")
    op.drop_index("ix_leads_tab_respond_by", table_name="leads")
    op.drop_index("ix_leads_tab_received", table_name="leads")
    op.drop_index("ix_leads_sender_user", table_name="leads")
    op.drop_index("ix_leads_search", table_name="leads", postgresql_using="gin")
    op.drop_index(
        "ix_leads_open_respond_by",
        table_name="leads",
        postgresql_where=sa.text("stage = 'RECEIVED'"),
    )
    op.drop_table("leads")
    op.drop_index(op.f("ix_users_organisation_id"), table_name="users")
    op.drop_table("users")
    op.drop_table("business_profiles")
    op.drop_table("organisations")
