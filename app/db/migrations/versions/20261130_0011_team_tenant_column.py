"""lead team members know their partner: the policy compares a column instead of probing the lead

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 09:00:00.000000

Row-level security (0007) let the API see a lead's team members through the lead's own policy:
one primary-key probe of `leads` for every team row a statement reads, about a hundred for an
inbox page (bench/RESULTS.md, "the second tenancy wall's cost"). As `lead_history` does since
0009, each row now carries its lead's partner, stamped by a BEFORE INSERT trigger (writers
cannot forget it, nor set another), and the partner's own rows match by that column; the
sender's organisation still sees the team of a lead it sent through the lead's policy.

No foreign key on the new column: it is the lead's, whose own key already cascades, and each
foreign key is one more trigger on every insert.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP = "partner_leads_app"
ORG = "(SELECT app_organisation_id())"
LEAD_VISIBLE = "EXISTS (SELECT 1 FROM leads AS l WHERE l.id = lead_team_members.lead_id)"

_TRIGGER_FUNCTION = """
CREATE FUNCTION lead_team_member_stamp() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    SELECT l.organisation_id INTO NEW.organisation_id FROM leads AS l WHERE l.id = NEW.lead_id;
    RETURN NEW;
END $$
"""


def _policy(using: str) -> str:
    return (
        f"CREATE POLICY app_with_its_lead ON lead_team_members AS PERMISSIVE FOR ALL TO {APP} "
        f"USING ({using}) WITH CHECK ({using})"
    )


def upgrade() -> None:
    op.add_column("lead_team_members", sa.Column("organisation_id", sa.UUID(), nullable=True))
    op.execute(
        "UPDATE lead_team_members AS t SET organisation_id = l.organisation_id "
        "FROM leads AS l WHERE l.id = t.lead_id"
    )
    op.alter_column("lead_team_members", "organisation_id", nullable=False)
    op.execute(_TRIGGER_FUNCTION)
    op.execute("REVOKE ALL ON FUNCTION lead_team_member_stamp() FROM PUBLIC")
    op.execute(
        "CREATE TRIGGER lead_team_member_stamp BEFORE INSERT ON lead_team_members "
        "FOR EACH ROW EXECUTE FUNCTION lead_team_member_stamp()"
    )
    op.execute("DROP POLICY app_with_its_lead ON lead_team_members")
    op.execute(_policy(f"organisation_id = {ORG} OR {LEAD_VISIBLE}"))


def downgrade() -> None:
    op.execute("DROP POLICY app_with_its_lead ON lead_team_members")
    op.execute(_policy(LEAD_VISIBLE))
    op.execute("DROP TRIGGER lead_team_member_stamp ON lead_team_members")
    op.execute("DROP FUNCTION lead_team_member_stamp()")
    op.drop_column("lead_team_members", "organisation_id")
