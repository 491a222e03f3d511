"""delivery vocabularies: outbox topics checked like channels and statuses

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 09:00:00.000000

The models build these CHECK constraints from the domain's StrEnums (`Topic`, `Channel`,
`DeliveryStatus`). A migration records the values as they are at this revision, so that a
later change to an enum shows up as a migration of its own. The channel and status checks
already list exactly `Channel` and `DeliveryStatus`, in order; only the topic check is new.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_check_constraint(
        op.f("ck_outbox_topic"),
        "outbox",
        "topic IN ('lead.received', 'lead.accepted', 'lead.declined', 'lead.updated', "
        "'lead.won', 'lead.lost', 'lead.expired', 'lead.reminder', 'notify.new_lead', "
        "'notify.reminder', 'notify.lead_declined', 'notify.lead_expired', "
        "'notify.webhook_disabled')",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_outbox_topic"), "outbox", type_="check")
