"""lead activities: an append-only log per lead, and the response clock's customer contact

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 13:00:00.000000

- `lead_activities`: notes, calls, e-mails and meetings a partner logs on a lead
  (`addLeadNote`). Append-only through the API: `partner_leads_app` is granted SELECT and INSERT
  only and has no UPDATE or DELETE policy, so an UPDATE is refused ("permission denied") and
  nothing can rewrite what a colleague logged. Its policies: the lead's partner inserts (as
  the author it is, for a lead of its own) and reads; nobody else sees them, not even the
  lead's sender. The workers keep every right: a retention job may redact bodies.
- `leads.customer_contacted_at` / `customer_contacted_by`: `markCustomerContacted`, which
  turns the contact-me flame off; `leads.last_activity_at`: the newest activity, for inbox lists.
- History records two working actions (ADD_ACTIVITY, CONTACT_CUSTOMER); the outbox takes the
  `lead.activity_added` event.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP = "partner_leads_app"
WORKER = "partner_leads_worker"
ORG = "(SELECT app_organisation_id())"
USER = "(SELECT app_user_id())"

_ACTIONS = (
    "'RECEIVE', 'ACCEPT', 'DECLINE', 'EXPIRE', 'UPDATE', 'ADD_TEAM_MEMBER', "
    "'REMOVE_TEAM_MEMBER', 'MARK_WON', 'MARK_LOST', 'REROUTE'"
)
ACTIONS_BEFORE = f"action IN ({_ACTIONS})"
ACTIONS_AFTER = f"action IN ({_ACTIONS}, 'ADD_ACTIVITY', 'CONTACT_CUSTOMER')"

_LEAD_TOPICS = (
    "'lead.received', 'lead.accepted', 'lead.declined', 'lead.updated', "
    "'lead.won', 'lead.lost', 'lead.expired', 'lead.reminder', 'lead.rerouted', "
)
_OTHER_TOPICS = (
    "'ping', 'notify.new_lead', 'notify.reminder', 'notify.lead_declined', "
    "'notify.lead_expired', 'notify.webhook_disabled'"
)
TOPICS_BEFORE = f"topic IN ({_LEAD_TOPICS}{_OTHER_TOPICS})"
TOPICS_AFTER = f"topic IN ({_LEAD_TOPICS}'lead.activity_added', {_OTHER_TOPICS})"

MAX_BODY = 4000


def upgrade() -> None:
    op.add_column(
        "leads", sa.Column("customer_contacted_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("leads", sa.Column("customer_contacted_by", sa.UUID(), nullable=True))
    op.create_foreign_key(
        op.f("fk_leads_customer_contacted_by_users"),
        "leads",
        "users",
        ["customer_contacted_by"],
        ["id"],
        ondelete="SET NULL",
    )
    op.add_column("leads", sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "lead_activities",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("lead_id", sa.UUID(), nullable=False),
        sa.Column("organisation_id", sa.UUID(), nullable=False),
        sa.Column("author_user_id", sa.UUID(), nullable=True),
        sa.Column("author_api_key_id", sa.UUID(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "kind IN ('NOTE', 'CALL', 'EMAIL', 'MEETING')", name=op.f("ck_lead_activities_kind")
        ),
        sa.CheckConstraint(
            f"char_length(body) BETWEEN 1 AND {MAX_BODY}", name=op.f("ck_lead_activities_body")
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            name=op.f("fk_lead_activities_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_lead_activities_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_user_id"],
            ["users.id"],
            name=op.f("fk_lead_activities_author_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["author_api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_lead_activities_author_api_key_id_api_keys"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_activities")),
    )
    op.create_index(
        "ix_lead_activities_lead",
        "lead_activities",
        ["lead_id", sa.literal_column("occurred_at DESC"), sa.literal_column("id DESC")],
    )
    # Append-only for the API: no UPDATE or DELETE grant, and no policy that would allow them.
    op.execute(f"GRANT SELECT, INSERT ON lead_activities TO {APP}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON lead_activities TO {WORKER}")
    op.execute("ALTER TABLE lead_activities ENABLE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY worker_all_tenants ON lead_activities AS PERMISSIVE FOR ALL TO {WORKER} "
        "USING (true) WITH CHECK (true)"
    )
    op.execute(
        f"CREATE POLICY app_own_activities ON lead_activities AS PERMISSIVE FOR SELECT TO {APP} "
        f"USING (organisation_id = {ORG})"
    )
    # Written for a lead of the caller's own partner, by the caller: a user as itself, an API
    # key (a transaction with no user) as no user.
    op.execute(
        f"CREATE POLICY app_log_activity ON lead_activities AS PERMISSIVE FOR INSERT TO {APP} "
        f"WITH CHECK (organisation_id = {ORG} "
        f"AND author_user_id IS NOT DISTINCT FROM {USER} "
        "AND EXISTS (SELECT 1 FROM leads AS l "
        f"WHERE l.id = lead_activities.lead_id AND l.organisation_id = {ORG}))"
    )

    op.drop_constraint(op.f("ck_lead_history_action"), "lead_history", type_="check")
    op.create_check_constraint(op.f("ck_lead_history_action"), "lead_history", ACTIONS_AFTER)
    op.drop_constraint(op.f("ck_outbox_topic"), "outbox", type_="check")
    op.create_check_constraint(op.f("ck_outbox_topic"), "outbox", TOPICS_AFTER)


def downgrade() -> None:
    op.execute("DELETE FROM outbox WHERE topic = 'lead.activity_added'")
    op.drop_constraint(op.f("ck_outbox_topic"), "outbox", type_="check")
    op.create_check_constraint(op.f("ck_outbox_topic"), "outbox", TOPICS_BEFORE)
    op.execute("DELETE FROM lead_history WHERE action IN ('ADD_ACTIVITY', 'CONTACT_CUSTOMER')")
    op.drop_constraint(op.f("ck_lead_history_action"), "lead_history", type_="check")
    op.create_check_constraint(op.f("ck_lead_history_action"), "lead_history", ACTIONS_BEFORE)
    op.drop_index("ix_lead_activities_lead", table_name="lead_activities")
    op.drop_table("lead_activities")
    op.drop_column("leads", "last_activity_at")
    op.drop_constraint(op.f("fk_leads_customer_contacted_by_users"), "leads", type_="foreignkey")
    op.drop_column("leads", "customer_contacted_by")
    op.drop_column("leads", "customer_contacted_at")
