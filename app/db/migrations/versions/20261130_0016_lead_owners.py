"""lead owners and routing rules: who on the team works a lead, and who gets it as it arrives

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 13:00:00.000000

- `leads.owner_user_id`: the user of the lead's partner who works it (null: nobody yet). Indexed
  by (organisation_id, owner_user_id) where set, for the `owners` / `assignedToMe` filters: a
  lead nobody owns costs the index nothing (bulk loads, partners without routing).
  A deleted user leaves the lead unowned (SET NULL).
- History takes one more action, `ASSIGN` (the owner changed; never the stage), and the outbox
  two more topics: `lead.assigned` (webhooks, live) and `notify.lead_assigned` (the new owner
  is told, by e-mail and in-app).
- `routing_rules`: a partner's ordered rules that pick an owner as a lead arrives. Behind
  row-level security: the API reads and writes its own organisation's rules only (intake writes
  an anonymous inquiry as the receiving partner, `acting_for`, so its round-robin counter is
  the partner's own row); the workers (reroute) see every tenant.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP = "partner_leads_app"
WORKER = "partner_leads_worker"
ORG = "(SELECT app_organisation_id())"

# As migrations 0014 (working actions) and 0015 (REDACT) left them.
_ACTIONS = (
    "'RECEIVE', 'ACCEPT', 'DECLINE', 'EXPIRE', 'UPDATE', 'ADD_TEAM_MEMBER', "
    "'REMOVE_TEAM_MEMBER', 'MARK_WON', 'MARK_LOST', 'REROUTE', 'ADD_ACTIVITY', "
    "'CONTACT_CUSTOMER', 'REDACT'"
)
ACTIONS_BEFORE = f"action IN ({_ACTIONS})"
ACTIONS_AFTER = f"action IN ({_ACTIONS}, 'ASSIGN')"

_LEAD = (
    "'lead.received', 'lead.accepted', 'lead.declined', 'lead.updated', "
    "'lead.won', 'lead.lost', 'lead.expired', 'lead.reminder', 'lead.rerouted', "
    "'lead.activity_added'"
)
_NOTIFY = (
    "'notify.new_lead', 'notify.reminder', 'notify.lead_declined', 'notify.lead_expired', "
    "'notify.webhook_disabled'"
)
TOPICS_BEFORE = f"topic IN ({_LEAD}, 'ping', {_NOTIFY})"
TOPICS_AFTER = f"topic IN ({_LEAD}, 'lead.assigned', 'ping', {_NOTIFY}, 'notify.lead_assigned')"


def upgrade() -> None:
    op.add_column("leads", sa.Column("owner_user_id", sa.UUID(), nullable=True))
    op.create_foreign_key(
        op.f("fk_leads_owner_user_id_users"),
        "leads",
        "users",
        ["owner_user_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index(
        "ix_leads_owner",
        "leads",
        ["organisation_id", "owner_user_id"],
        postgresql_where=sa.text("owner_user_id IS NOT NULL"),
    )
    op.drop_constraint(op.f("ck_lead_history_action"), "lead_history", type_="check")
    op.create_check_constraint(op.f("ck_lead_history_action"), "lead_history", ACTIONS_AFTER)
    op.drop_constraint(op.f("ck_outbox_topic"), "outbox", type_="check")
    op.create_check_constraint(op.f("ck_outbox_topic"), "outbox", TOPICS_AFTER)

    op.create_table(
        "routing_rules",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("organisation_id", sa.UUID(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("industries", postgresql.ARRAY(sa.String(length=100)), nullable=False),
        sa.Column("solution_areas", postgresql.ARRAY(sa.String(length=100)), nullable=False),
        sa.Column("countries", postgresql.ARRAY(sa.String(length=2)), nullable=False),
        sa.Column("owner_user_id", sa.UUID(), nullable=True),
        sa.Column("user_ids", postgresql.ARRAY(sa.UUID()), nullable=False),
        sa.Column("location_id", sa.UUID(), nullable=True),
        sa.Column("assigned_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "(owner_user_id IS NOT NULL)::int + (cardinality(user_ids) > 0)::int "
            "+ (location_id IS NOT NULL)::int = 1",
            name=op.f("ck_routing_rules_one_target"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_routing_rules_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_user_id"],
            ["users.id"],
            name=op.f("fk_routing_rules_owner_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["profile_locations.id"],
            name=op.f("fk_routing_rules_location_id_profile_locations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_rules")),
        sa.UniqueConstraint(
            "organisation_id", "position", name=op.f("uq_routing_rules_organisation_id")
        ),
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON routing_rules TO {APP}, {WORKER}")
    op.execute("ALTER TABLE routing_rules ENABLE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY worker_all_tenants ON routing_rules AS PERMISSIVE FOR ALL TO {WORKER} "
        "USING (true) WITH CHECK (true)"
    )
    # A partner's own rules: read by its lead managers, written by its partner admins (the
    # service checks the role), bumped by whatever receives a lead for it.
    own = f"organisation_id = {ORG}"
    op.execute(
        f"CREATE POLICY app_own_rules ON routing_rules AS PERMISSIVE FOR ALL TO {APP} "
        f"USING ({own}) WITH CHECK ({own})"
    )


def downgrade() -> None:
    op.drop_table("routing_rules")
    op.execute("DELETE FROM outbox WHERE topic IN ('lead.assigned', 'notify.lead_assigned')")
    op.drop_constraint(op.f("ck_outbox_topic"), "outbox", type_="check")
    op.create_check_constraint(op.f("ck_outbox_topic"), "outbox", TOPICS_BEFORE)
    op.execute("DELETE FROM lead_history WHERE action = 'ASSIGN'")
    op.drop_constraint(op.f("ck_lead_history_action"), "lead_history", type_="check")
    op.create_check_constraint(op.f("ck_lead_history_action"), "lead_history", ACTIONS_BEFORE)
    op.drop_index("ix_leads_owner", table_name="leads")
    op.drop_constraint(op.f("fk_leads_owner_user_id_users"), "leads", type_="foreignkey")
    op.drop_column("leads", "owner_user_id")
