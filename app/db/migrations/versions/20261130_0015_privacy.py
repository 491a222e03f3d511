"""privacy: consent to share, redaction, subject-access and erasure requests

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 09:10:00.000000

- Indexes for deletes first: `possible_duplicate_of` references leads without an index, so
  every deleted lead scanned the table for rows pointing at it (`rerouted_from` already has
  its unique index, which serves the same look-up); `notifications.lead_id` and
  `intake_requests.lead_id` cascaded the same way.
- `leads.consent_to_share`: the customer agreed that other partners may see the request
  (return to pool copies the contact only with it); `leads.pii_redacted_at`: when the
  customer's personal data was redacted (retention or erasure).
- The retention sweep reads archived, not yet redacted leads by archive time; the erasure
  finds a customer's leads by e-mail across partners.
- A history action REDACT (not a stage change).
- `privacy_requests`: who exported or erased whose data (an e-mail hash, never the e-mail), seen
  and written by platform admins only through the API.
- `partner_leads_customer_leads(email)`: a customer's leads at every partner, answered to a
  platform admin only (nobody else's transaction gets a row); the erasure then changes each
  lead as its partner's tenant (`acting_for`), behind the leads' own policies.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP = "partner_leads_app"
WORKER = "partner_leads_worker"
ADMIN = "(SELECT app_platform_admin())"

_ACTIONS_BEFORE = (
    "'RECEIVE', 'ACCEPT', 'DECLINE', 'EXPIRE', 'UPDATE', 'ADD_TEAM_MEMBER', "
    "'REMOVE_TEAM_MEMBER', 'MARK_WON', 'MARK_LOST', 'REROUTE', "
    "'ADD_ACTIVITY', 'CONTACT_CUSTOMER'"
)
CUSTOMER_LEADS = "partner_leads_customer_leads(text)"
SCRUB = "partner_leads_scrub_redacted(uuid[])"
# In-app notifications of a redacted lead keep their title; their body may name the contact.
REDACTED_BODY = "The customer's personal data was removed (privacy)."
# Where an outbox payload (app/services/history.py) may carry the customer's personal data or
# free text: made null. `changes` entries of these fields lose their values too.
_PAYLOAD_PATHS = (
    "{recipient}",
    *(
        "{lead,customer," + key + "}"
        for key in ("contactName", "contactEmail", "contactPhone", "need")
    ),
    *("{lead,deal," + key + "}" for key in ("notes", "declineNotes", "lostNotes")),
    "{previous,notes}",
    "{current,notes}",
    "{activity,body}",  # lead.activity_added (migration 0014): what was said on a call
)
_CHANGED_FIELDS = (
    "contactName",
    "contactEmail",
    "contactPhone",
    "need",
    "notes",
    "declineNotes",
    "lostNotes",
)


def _array(values: Sequence[str]) -> str:
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]"


def _history_actions(actions: str) -> None:
    op.drop_constraint(op.f("ck_lead_history_action"), "lead_history", type_="check")
    op.create_check_constraint(
        op.f("ck_lead_history_action"), "lead_history", f"action IN ({actions})"
    )


def upgrade() -> None:
    op.create_index(
        "ix_leads_possible_duplicate_of",
        "leads",
        ["possible_duplicate_of"],
        postgresql_where=sa.text("possible_duplicate_of IS NOT NULL"),
    )
    # The other references to a lead that had no index of their own (a deleted lead's
    # notifications and idempotency keys cascade; a redacted lead's notifications are scrubbed).
    op.create_index("ix_notifications_lead", "notifications", ["lead_id"])
    op.create_index("ix_intake_requests_lead", "intake_requests", ["lead_id"])
    op.add_column(
        "leads",
        sa.Column("consent_to_share", sa.Boolean(), server_default="false", nullable=False),
    )
    op.add_column("leads", sa.Column("pii_redacted_at", sa.DateTime(timezone=True)))
    op.create_index(
        "ix_leads_pii_retention",
        "leads",
        ["archived_at"],
        postgresql_where=sa.text("stage = 'ARCHIVED' AND pii_redacted_at IS NULL"),
    )
    op.create_index("ix_leads_contact_email", "leads", [sa.text("lower(contact_email)")])
    _history_actions(_ACTIONS_BEFORE + ", 'REDACT'")

    op.create_table(
        "privacy_requests",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("requested_by", sa.UUID(), nullable=True),
        sa.Column("leads_count", sa.Integer(), nullable=False),
        sa.Column("organisations_count", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("kind IN ('EXPORT', 'ERASURE')", name=op.f("ck_privacy_requests_kind")),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["users.id"],
            name=op.f("fk_privacy_requests_requested_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_requests")),
    )
    op.create_index(
        "ix_privacy_requests_email_hash", "privacy_requests", ["email_hash", "created_at"]
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON privacy_requests TO {APP}, {WORKER}")
    op.execute("ALTER TABLE privacy_requests ENABLE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY worker_all_tenants ON privacy_requests AS PERMISSIVE FOR ALL TO {WORKER} "
        "USING (true) WITH CHECK (true)"
    )
    # The record of who asked for whose data is the platform admins' alone.
    op.execute(
        f"CREATE POLICY app_platform_admin ON privacy_requests AS PERMISSIVE FOR ALL TO {APP} "
        f"USING ({ADMIN}) WITH CHECK ({ADMIN})"
    )

    op.execute(
        f"""CREATE FUNCTION {CUSTOMER_LEADS.replace("(text)", "(email text)")}
        RETURNS TABLE (id uuid, organisation_id uuid)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
            SELECT l.id, l.organisation_id FROM leads AS l
            WHERE lower(l.contact_email) = lower(partner_leads_customer_leads.email)
              AND app_platform_admin()
            ORDER BY l.organisation_id, l.received_at, l.id
        $$"""
    )
    # What a redacted lead left elsewhere: the contact in in-app notification bodies (the
    # recipients' rows, out of a partner tenant's reach) and in its outbox payloads. Safe to
    # offer both roles: it only ever blanks data of leads already redacted.
    op.execute(
        f"""CREATE FUNCTION {SCRUB.replace("(uuid[])", "(lead_ids uuid[])")}
        RETURNS integer
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
        DECLARE
            notified integer;
            events integer;
            path text;
            fields text[] := {_array(_CHANGED_FIELDS)};
        BEGIN
            UPDATE notifications AS n SET body = '{REDACTED_BODY.replace("'", "''")}'
            FROM leads AS l
            WHERE n.lead_id = l.id AND l.id = ANY (lead_ids) AND l.pii_redacted_at IS NOT NULL
              AND n.body <> '{REDACTED_BODY.replace("'", "''")}';
            GET DIAGNOSTICS notified = ROW_COUNT;
            -- The activity log is append-only for the API (migration 0014); only this, for
            -- leads already redacted, rewrites what was said on a call.
            UPDATE lead_activities AS a SET body = '{REDACTED_BODY.replace("'", "''")}'
            FROM leads AS l
            WHERE a.lead_id = l.id AND l.id = ANY (lead_ids) AND l.pii_redacted_at IS NOT NULL
              AND a.body <> '{REDACTED_BODY.replace("'", "''")}';
            FOREACH path IN ARRAY {_array(_PAYLOAD_PATHS)} LOOP
                UPDATE outbox AS o SET payload = jsonb_set(o.payload, path::text[], 'null')
                FROM leads AS l
                WHERE o.lead_id = l.id AND l.id = ANY (lead_ids)
                  AND l.pii_redacted_at IS NOT NULL AND o.payload #> path::text[] IS NOT NULL
                  AND o.payload #> path::text[] <> 'null'::jsonb;
            END LOOP;
            UPDATE outbox AS o SET payload = jsonb_set(o.payload, '{{changes}}', (
                SELECT jsonb_object_agg(c.key, CASE WHEN c.key = ANY (fields)
                    THEN '{{"from": null, "to": null}}'::jsonb ELSE c.value END)
                FROM jsonb_each(o.payload -> 'changes') AS c))
            FROM leads AS l
            WHERE o.lead_id = l.id AND l.id = ANY (lead_ids) AND l.pii_redacted_at IS NOT NULL
              AND jsonb_typeof(o.payload -> 'changes') = 'object'
              AND (o.payload -> 'changes') ?| fields;
            GET DIAGNOSTICS events = ROW_COUNT;
            RETURN notified + events;
        END $$"""
    )
    for function in (CUSTOMER_LEADS, SCRUB):
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {APP}, {WORKER}")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {SCRUB}")
    op.execute(f"DROP FUNCTION {CUSTOMER_LEADS}")
    op.drop_index("ix_privacy_requests_email_hash", table_name="privacy_requests")
    op.drop_table("privacy_requests")
    op.execute("DELETE FROM lead_history WHERE action = 'REDACT'")
    _history_actions(_ACTIONS_BEFORE)
    op.drop_index("ix_leads_contact_email", table_name="leads")
    op.drop_index("ix_leads_pii_retention", table_name="leads")
    op.drop_column("leads", "pii_redacted_at")
    op.drop_column("leads", "consent_to_share")
    op.drop_index("ix_intake_requests_lead", table_name="intake_requests")
    op.drop_index("ix_notifications_lead", table_name="notifications")
    op.drop_index("ix_leads_possible_duplicate_of", table_name="leads")
