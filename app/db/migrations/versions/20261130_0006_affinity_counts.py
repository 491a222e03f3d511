"""affinity counts: what each partner answered, per attribute value and month

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 18:00:00.000000

Similar-deal affinity read every candidate partner's answered leads on each suggestion; it now
reads `affinity_counts` (app/services/affinity_counts.py), filled here from the leads as they
are and kept by the workers from then on. The covering index affinity scanned by organisation
becomes one by (organisation, received_at): the counts are rebuilt one partner at a time, and
the window's first month is read by a range of received_at.

The responsiveness recompute reads every profile's window: its index now covers the columns it
reads, so it is an index-only scan rather than a pass over the whole leads table.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INCLUDED = ["stage", "outcome", "type", "company_size", "industry", "solution_area"]
_SCORED = ["responded_at", "respond_by", "outcome", "stage"]

# The counts as `affinity_counts.refresh` computes them, written out as of this revision.
_FILL = """
INSERT INTO affinity_counts (organisation_id, attribute, value, month, answered, accepted)
SELECT l.organisation_id, k.attribute, k.value,
       CAST(date_trunc('month', l.received_at AT TIME ZONE 'UTC') AS date) AS month,
       count(*),
       count(*) FILTER (WHERE l.stage = 'ACCEPTED' OR l.outcome IN ('WON', 'LOST'))
FROM leads AS l
CROSS JOIN LATERAL (VALUES ('all', ''), ('industry', lower(l.industry)),
                           ('company_size', l.company_size), ('type', l.type),
                           ('solution_area', lower(l.solution_area))) AS k(attribute, value)
WHERE (l.stage = 'ACCEPTED' OR l.outcome IN ('WON', 'LOST', 'DECLINED'))
  AND k.value IS NOT NULL
GROUP BY l.organisation_id, k.attribute, k.value, month
"""


def upgrade() -> None:
    op.create_table(
        "affinity_counts",
        sa.Column("organisation_id", sa.UUID(), nullable=False),
        sa.Column("attribute", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "attribute IN ('all', 'industry', 'company_size', 'type', 'solution_area')",
            name=op.f("ck_affinity_counts_attribute"),
        ),
        sa.CheckConstraint(
            "accepted >= 0 AND answered >= accepted", name=op.f("ck_affinity_counts_counts")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_affinity_counts_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "organisation_id", "attribute", "value", "month", name=op.f("pk_affinity_counts")
        ),
    )
    op.create_index(
        "ix_leads_org_received",
        "leads",
        ["organisation_id", "received_at"],
        postgresql_include=_INCLUDED,
    )
    op.drop_index("ix_leads_org_answers", table_name="leads")
    op.execute(_FILL)
    # Scores read each profile's window from the index alone.
    op.drop_index("ix_leads_profile_received", table_name="leads")
    op.create_index(
        "ix_leads_profile_received",
        "leads",
        ["profile_id", "received_at"],
        postgresql_include=_SCORED,
    )


def downgrade() -> None:
    op.drop_index("ix_leads_profile_received", table_name="leads")
    op.create_index("ix_leads_profile_received", "leads", ["profile_id", "received_at"])
    op.create_index(
        "ix_leads_org_answers",
        "leads",
        ["organisation_id"],
        postgresql_include=[*_INCLUDED, "received_at"],
    )
    op.drop_index("ix_leads_org_received", table_name="leads")
    op.drop_table("affinity_counts")
