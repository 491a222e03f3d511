"""webhook operations: lead.rerouted and ping events; admins retry and ping their endpoints

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 08:00:00.000000

- The outbox takes two more topics: `lead.rerouted` (a lead offered to the next partner) and
  `ping` (a test event an admin sends to one of its endpoints).
- The API may now write deliveries, and only webhook deliveries to its own organisation's
  endpoints (`webhook_endpoints` is behind its own-organisation policy): a redelivery sets a
  dead or failed one back to pending, a ping inserts the delivery of its test event.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP = "partner_leads_app"

_BEFORE = (
    "'lead.received', 'lead.accepted', 'lead.declined', 'lead.updated', "
    "'lead.won', 'lead.lost', 'lead.expired', 'lead.reminder', "
)
_NOTIFY = (
    "'notify.new_lead', 'notify.reminder', 'notify.lead_declined', 'notify.lead_expired', "
    "'notify.webhook_disabled'"
)
TOPICS_BEFORE = f"topic IN ({_BEFORE}{_NOTIFY})"
TOPICS_AFTER = f"topic IN ({_BEFORE}'lead.rerouted', 'ping', {_NOTIFY})"

OWN_WEBHOOK = (
    "channel = 'WEBHOOK' AND EXISTS (SELECT 1 FROM webhook_endpoints AS e "
    "WHERE e.id::text = deliveries.recipient)"
)
OF_VISIBLE_EVENT = "EXISTS (SELECT 1 FROM outbox AS o WHERE o.id = deliveries.outbox_id)"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_outbox_topic"), "outbox", type_="check")
    op.create_check_constraint(op.f("ck_outbox_topic"), "outbox", TOPICS_AFTER)
    op.execute(
        f"CREATE POLICY app_own_webhook_insert ON deliveries AS PERMISSIVE FOR INSERT TO {APP} "
        f"WITH CHECK ({OWN_WEBHOOK} AND {OF_VISIBLE_EVENT})"
    )
    op.execute(
        f"CREATE POLICY app_own_webhook_retry ON deliveries AS PERMISSIVE FOR UPDATE TO {APP} "
        f"USING ({OWN_WEBHOOK}) WITH CHECK ({OWN_WEBHOOK})"
    )


def downgrade() -> None:
    op.execute("DROP POLICY app_own_webhook_retry ON deliveries")
    op.execute("DROP POLICY app_own_webhook_insert ON deliveries")
    op.execute("DELETE FROM outbox WHERE topic IN ('lead.rerouted', 'ping')")
    op.drop_constraint(op.f("ck_outbox_topic"), "outbox", type_="check")
    op.create_check_constraint(op.f("ck_outbox_topic"), "outbox", TOPICS_BEFORE)
