"""languages and time zones: a user's locale and zone; the customer's, as the inquiry form sent

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 13:00:00.000000

Columns only, on tables already behind row-level security (users, leads): their policies and
grants cover the new columns. Which locales are valid is not the database's to say: it is the
catalogues the code ships (app/i18n.py), checked when a value is saved. A lead's customer locale
and zone are NULL when the form sent none: messages to that customer are then in English, UTC.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("locale", sa.String(length=35), server_default="en", nullable=False),
    )
    op.add_column(
        "users",
        sa.Column("time_zone", sa.String(length=64), server_default="UTC", nullable=False),
    )
    op.add_column("leads", sa.Column("customer_locale", sa.String(length=35), nullable=True))
    op.add_column("leads", sa.Column("customer_time_zone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("leads", "customer_time_zone")
    op.drop_column("leads", "customer_locale")
    op.drop_column("users", "time_zone")
    op.drop_column("users", "locale")
