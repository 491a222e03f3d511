"""lead changes: a history row knows its transaction, its partner and the lead's version

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 08:00:00.000000

The change feed (`leadChanges`, app/services/lead_changes.py) reads `lead_history` by partner in
(txid, id) order and returns only rows of transactions older than every transaction still in
flight, so a connector's cursor never passes a row that commits later (the service says why
ordering by id alone would skip). Three columns:

- `txid`: the writing transaction's id, epoch-extended (`xid8`, never wraps). Rows written
  before this revision get 0, lower than any real transaction id (normal ids start at 3), so
  they sort first, in id order, and are always below the snapshot's xmin.
- `organisation_id`: the lead's partner, so the feed is one index range per partner and the
  API's policy matches a partner's own rows by a column rather than a probe of the lead. No
  foreign key: the lead's own cascades, and each key is one more trigger on every insert of
  the sweeps' hot path.
- `version`: the lead's version after the change.

A BEFORE INSERT trigger fills them, rather than every writer: history is written by
`record_step`, by the expiry sweep's set-based SQL, by reroute through the ORM and by COPY in
the dev tools, and a writer that forgot the transaction id would silently break the feed's
guarantee. The trigger overrides `txid` and `organisation_id` whatever a writer passes (they
are facts, not inputs); `version` is kept when given (the expiry sweep passes the version its
own UPDATE wrote: a sibling CTE's row is not reliably visible to the trigger) and otherwise
read from the lead, which every other writer has updated before writing history. The function
is SECURITY DEFINER because it reads the lead past row-level security: it reads only the lead
the row names, and the inserting role's own WITH CHECK policy still decides whether it may
write history for that lead.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP = "partner_leads_app"
ORG = "(SELECT app_organisation_id())"
LEAD_VISIBLE = "EXISTS (SELECT 1 FROM leads AS l WHERE l.id = lead_history.lead_id)"

# The version after each existing row: receiving makes version 1 and every later step adds one,
# except REROUTE, which marks the old lead without changing it.
_BACKFILL = """
UPDATE lead_history AS h
SET organisation_id = f.organisation_id, version = f.version, txid = '0'::xid8
FROM (
    SELECT h2.id, l.organisation_id,
           count(*) FILTER (WHERE h2.action <> 'REROUTE')
               OVER (PARTITION BY h2.lead_id ORDER BY h2.id) AS version
    FROM lead_history AS h2 JOIN leads AS l ON l.id = h2.lead_id
) AS f
WHERE f.id = h.id
"""

_TRIGGER_FUNCTION = """
CREATE FUNCTION lead_history_stamp() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    lead_organisation uuid;
    lead_version integer;
BEGIN
    SELECT l.organisation_id, l.version INTO lead_organisation, lead_version
    FROM leads AS l WHERE l.id = NEW.lead_id;
    NEW.txid := pg_current_xact_id();
    NEW.organisation_id := lead_organisation;
    NEW.version := coalesce(NEW.version, lead_version);
    RETURN NEW;
END $$
"""


def _history_policy(using: str) -> str:
    return (
        f"CREATE POLICY app_with_its_lead ON lead_history AS PERMISSIVE FOR ALL TO {APP} "
        f"USING ({using}) WITH CHECK ({using})"
    )


def upgrade() -> None:
    op.execute("ALTER TABLE lead_history ADD COLUMN txid xid8 DEFAULT pg_current_xact_id()")
    op.add_column("lead_history", sa.Column("organisation_id", sa.UUID(), nullable=True))
    op.add_column("lead_history", sa.Column("version", sa.Integer(), nullable=True))
    op.execute(_BACKFILL)
    for column in ("txid", "organisation_id", "version"):
        op.alter_column("lead_history", column, nullable=False)
    op.create_index("ix_lead_history_feed", "lead_history", ["organisation_id", "txid", "id"])
    op.execute(_TRIGGER_FUNCTION)
    op.execute("REVOKE ALL ON FUNCTION lead_history_stamp() FROM PUBLIC")
    op.execute(
        "CREATE TRIGGER lead_history_stamp BEFORE INSERT ON lead_history "
        "FOR EACH ROW EXECUTE FUNCTION lead_history_stamp()"
    )
    # The partner's own rows by the column (an index condition); the sender's organisation
    # still sees the history of leads it sent through the lead's own policy.
    op.execute("DROP POLICY app_with_its_lead ON lead_history")
    op.execute(_history_policy(f"organisation_id = {ORG} OR {LEAD_VISIBLE}"))

    op.create_index(
        "ix_leads_crm_id",
        "leads",
        ["organisation_id", "crm_id"],
        postgresql_where=sa.text("crm_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_leads_crm_id", table_name="leads")
    op.execute("DROP POLICY app_with_its_lead ON lead_history")
    op.execute(_history_policy(LEAD_VISIBLE))
    op.execute("DROP TRIGGER lead_history_stamp ON lead_history")
    op.execute("DROP FUNCTION lead_history_stamp()")
    op.drop_index("ix_lead_history_feed", table_name="lead_history")
    for column in ("version", "organisation_id", "txid"):
        op.drop_column("lead_history", column)
