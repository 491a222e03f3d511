"""saved lead views: a user's named tab, filter and order, optionally shared with the organisation

Revision ID: 0013
Revises: 0011
Create Date: 2026-11-30 12:00:00.000000

Behind row-level security like every table: through the API a user sees and changes only their
own views and reads the shared views of their own organisation; another organisation's views,
shared or not, and a colleague's private ones are invisible. The workers see every tenant.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP = "partner_leads_app"
WORKER = "partner_leads_worker"
ORG = "(SELECT app_organisation_id())"
USER = "(SELECT app_user_id())"


def upgrade() -> None:
    op.create_table(
        "lead_views",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("organisation_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("tab", sa.String(length=32), nullable=False),
        sa.Column("filter", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("order_by", sa.String(length=32), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_lead_views_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_lead_views_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_views")),
        sa.UniqueConstraint("user_id", "name", name=op.f("uq_lead_views_user_id")),
    )
    op.create_index(op.f("ix_lead_views_organisation_id"), "lead_views", ["organisation_id"])
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON lead_views TO {APP}, {WORKER}")
    op.execute("ALTER TABLE lead_views ENABLE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY worker_all_tenants ON lead_views AS PERMISSIVE FOR ALL TO {WORKER} "
        "USING (true) WITH CHECK (true)"
    )
    # The owner, within their organisation, reads and writes their own views...
    own = f"user_id = {USER} AND organisation_id = {ORG}"
    op.execute(
        f"CREATE POLICY app_own_views ON lead_views AS PERMISSIVE FOR ALL TO {APP} "
        f"USING ({own}) WITH CHECK ({own})"
    )
    # ...and everyone of the organisation reads its shared ones (never changes them).
    op.execute(
        f"CREATE POLICY app_shared_views ON lead_views AS PERMISSIVE FOR SELECT TO {APP} "
        f"USING (shared AND organisation_id = {ORG})"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_lead_views_organisation_id"), table_name="lead_views")
    op.drop_table("lead_views")
