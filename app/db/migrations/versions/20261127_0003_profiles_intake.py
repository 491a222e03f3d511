"""profiles, intake, engagements

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 05:31:03.017100
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(op.f("ck_lead_history_action"), "lead_history", type_="check")
    op.create_check_constraint(
        op.f("ck_lead_history_action"),
        "lead_history",
        "action IN ('RECEIVE', 'ACCEPT', 'DECLINE', 'EXPIRE', 'UPDATE', 'ADD_TEAM_MEMBER', "
        "'REMOVE_TEAM_MEMBER', 'MARK_WON', 'MARK_LOST', 'REROUTE')",
    )
    op.create_table(
        "intake_requests",
        sa.Column("scope", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
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
            name=op.f("fk_intake_requests_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_intake_requests")),
    )
    op.add_column("business_profiles", sa.Column("description", sa.Text(), nullable=True))
    op.add_column("business_profiles", sa.Column("website", sa.String(length=500), nullable=True))
    op.add_column(
        "business_profiles",
        sa.Column(
            "keywords", postgresql.ARRAY(sa.String(length=100)), server_default="{}", nullable=False
        ),
    )
    op.add_column(
        "business_profiles",
        sa.Column(
            "industries",
            postgresql.ARRAY(sa.String(length=100)),
            server_default="{}",
            nullable=False,
        ),
    )
    op.add_column(
        "business_profiles",
        sa.Column(
            "solution_areas",
            postgresql.ARRAY(sa.String(length=100)),
            server_default="{}",
            nullable=False,
        ),
    )
    op.add_column(
        "business_profiles",
        sa.Column(
            "preferred_sizes",
            postgresql.ARRAY(sa.String(length=32)),
            server_default="{}",
            nullable=False,
        ),
    )
    op.add_column(
        "business_profiles",
        sa.Column(
            "competencies",
            postgresql.ARRAY(sa.String(length=100)),
            server_default="{}",
            nullable=False,
        ),
    )
    op.add_column(
        "business_profiles",
        sa.Column(
            "endorsements",
            postgresql.ARRAY(sa.String(length=200)),
            server_default="{}",
            nullable=False,
        ),
    )
    op.add_column(
        "business_profiles", sa.Column("search_document", postgresql.TSVECTOR(), nullable=True)
    )
    op.add_column(
        "business_profiles", sa.Column("published_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(
        "ix_business_profiles_search",
        "business_profiles",
        ["search_document"],
        unique=False,
        postgresql_using="gin",
        postgresql_where=sa.text("published"),
    )
    op.add_column("leads", sa.Column("solution_area", sa.String(length=100), nullable=True))
    op.add_column("leads", sa.Column("engagement_id", sa.UUID(), nullable=True))
    op.add_column("leads", sa.Column("possible_duplicate_of", sa.UUID(), nullable=True))
    op.add_column(
        "leads", sa.Column("auto_reroute", sa.Boolean(), server_default="false", nullable=False)
    )
    op.add_column(
        "leads", sa.Column("reroute_hop", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("leads", sa.Column("rerouted_from", sa.UUID(), nullable=True))
    op.create_index("ix_leads_engagement", "leads", ["engagement_id"], unique=False)
    op.create_index(
        "ix_leads_org_contact_email",
        "leads",
        [
            "organisation_id",
            sa.literal_column("lower(contact_email)"),
            sa.literal_column("received_at DESC"),
        ],
        unique=False,
    )
    op.create_foreign_key(
        op.f("fk_leads_rerouted_from_leads"),
        "leads",
        "leads",
        ["rerouted_from"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_foreign_key(
        op.f("fk_leads_possible_duplicate_of_leads"),
        "leads",
        "leads",
        ["possible_duplicate_of"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index(
        "ux_leads_rerouted_from",
        "leads",
        ["rerouted_from"],
        unique=True,
        postgresql_where=sa.text("rerouted_from IS NOT NULL"),
    )
    op.create_index(
        "ix_leads_org_answers",
        "leads",
        ["organisation_id"],
        postgresql_include=[
            "stage",
            "outcome",
            "type",
            "company_size",
            "industry",
            "solution_area",
            "received_at",
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_leads_org_answers", table_name="leads")
    op.drop_index("ux_leads_rerouted_from", table_name="leads")
    op.drop_constraint(op.f("ck_lead_history_action"), "lead_history", type_="check")
    op.create_check_constraint(
        op.f("ck_lead_history_action"),
        "lead_history",
        "action IN ('RECEIVE', 'ACCEPT', 'DECLINE', 'EXPIRE', 'UPDATE', 'ADD_TEAM_MEMBER', "
        "'REMOVE_TEAM_MEMBER', 'MARK_WON', 'MARK_LOST')",
    )
    op.drop_constraint(op.f("fk_leads_possible_duplicate_of_leads"), "leads", type_="foreignkey")
    op.drop_constraint(op.f("fk_leads_rerouted_from_leads"), "leads", type_="foreignkey")
    op.drop_index("ix_leads_org_contact_email", table_name="leads")
    op.drop_index("ix_leads_engagement", table_name="leads")
    op.drop_column("leads", "rerouted_from")
    op.drop_column("leads", "reroute_hop")
    op.drop_column("leads", "auto_reroute")
    op.drop_column("leads", "possible_duplicate_of")
    op.drop_column("leads", "engagement_id")
    op.drop_column("leads", "solution_area")
    op.drop_index(
        "ix_business_profiles_search",
        table_name="business_profiles",
        postgresql_using="gin",
        postgresql_where=sa.text("published"),
    )
    op.drop_column("business_profiles", "published_at")
    op.drop_column("business_profiles", "search_document")
    op.drop_column("business_profiles", "endorsements")
    op.drop_column("business_profiles", "competencies")
    op.drop_column("business_profiles", "preferred_sizes")
    op.drop_column("business_profiles", "solution_areas")
    op.drop_column("business_profiles", "industries")
    op.drop_column("business_profiles", "keywords")
    op.drop_column("business_profiles", "website")
    op.drop_column("business_profiles", "description")
    op.drop_table("intake_requests")
