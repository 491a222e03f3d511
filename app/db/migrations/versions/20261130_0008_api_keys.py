"""API keys: machine credentials of a partner's organisation, behind row-level security

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 08:00:00.000000

- `api_keys` holds each key's name, the displayable start of its secret, the HMAC of the whole
  secret (app/domain/api_keys.py) and the roles it was given. The API's role sees its own
  organisation's keys (their names label history entries); only a PARTNER_ADMIN of the
  organisation creates or revokes them, which the policies check against the user row too.
- `partner_leads_api_key(hash)` finds an active key past the wall (no tenant is known before
  the key is) and makes the key's organisation the transaction's tenant, with no user: a key is
  not a person, so per-user rows (favorites, notifications) are not its to see or write.
- `partner_leads_api_key_used(id, at)` records a key's last use, at most once a minute, so a
  busy integration does not write a row per request.
- `lead_history` names the key an action was taken with (`api_key_id`, actor kind API_KEY).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP = "partner_leads_app"
WORKER = "partner_leads_worker"
ORG = "(SELECT app_organisation_id())"
# The caller is a PARTNER_ADMIN of the row's organisation (an API key never is: it has no user).
ADMIN_OF_ORG = (
    "EXISTS (SELECT 1 FROM users AS u WHERE u.id = (SELECT app_user_id()) "
    "AND u.organisation_id = api_keys.organisation_id AND u.active "
    "AND 'PARTNER_ADMIN' = ANY (u.roles))"
)
FUNCTIONS = ("partner_leads_api_key(bytea)", "partner_leads_api_key_used(uuid, timestamptz)")


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("organisation_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", postgresql.BYTEA(), nullable=False),
        sa.Column("roles", postgresql.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_api_keys_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_api_keys_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_api_keys_secret_hash")),
    )
    op.create_index(op.f("ix_api_keys_organisation_id"), "api_keys", ["organisation_id"])

    op.add_column("lead_history", sa.Column("api_key_id", sa.UUID(), nullable=True))
    op.create_foreign_key(
        op.f("fk_lead_history_api_key_id_api_keys"),
        "lead_history",
        "api_keys",
        ["api_key_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.drop_constraint(op.f("ck_lead_history_actor_kind"), "lead_history", type_="check")
    op.create_check_constraint(
        op.f("ck_lead_history_actor_kind"),
        "lead_history",
        "actor_kind IN ('USER', 'SYSTEM', 'API_KEY')",
    )

    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON api_keys TO {APP}, {WORKER}")
    op.execute("ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY worker_all_tenants ON api_keys AS PERMISSIVE FOR ALL TO {WORKER} "
        "USING (true) WITH CHECK (true)"
    )
    # Seen by the organisation (a key's name labels the history entries it made); created and
    # revoked by its PARTNER_ADMINs; never deleted through the API (history refers to it).
    op.execute(
        f"CREATE POLICY app_own_organisation ON api_keys AS PERMISSIVE FOR SELECT TO {APP} "
        f"USING (organisation_id = {ORG})"
    )
    op.execute(
        f"CREATE POLICY app_admin_insert ON api_keys AS PERMISSIVE FOR INSERT TO {APP} "
        f"WITH CHECK (organisation_id = {ORG} AND {ADMIN_OF_ORG})"
    )
    op.execute(
        f"CREATE POLICY app_admin_update ON api_keys AS PERMISSIVE FOR UPDATE TO {APP} "
        f"USING (organisation_id = {ORG} AND {ADMIN_OF_ORG}) "
        f"WITH CHECK (organisation_id = {ORG} AND {ADMIN_OF_ORG})"
    )

    op.execute(
        """CREATE FUNCTION partner_leads_api_key(secret_hash bytea)
        RETURNS TABLE (id uuid, organisation_id uuid, kind varchar, roles varchar[],
                       name varchar, last_used_at timestamptz, expires_at timestamptz)
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
        DECLARE
            found_key record;
        BEGIN
            SELECT k.id, k.organisation_id, o.kind, k.roles, k.name, k.last_used_at,
                   k.expires_at INTO found_key
            FROM api_keys AS k JOIN organisations AS o ON o.id = k.organisation_id
            WHERE k.secret_hash = partner_leads_api_key.secret_hash
              AND k.revoked_at IS NULL
              AND (k.expires_at IS NULL OR k.expires_at > clock_timestamp());
            IF NOT FOUND THEN
                RETURN;
            END IF;
            PERFORM set_config('app.organisation_id', found_key.organisation_id::text, true),
                    set_config('app.user_id', '', true),
                    set_config('app.platform_admin', '', true);
            RETURN QUERY SELECT found_key.id, found_key.organisation_id, found_key.kind,
                                found_key.roles, found_key.name, found_key.last_used_at,
                                found_key.expires_at;
        END $$"""
    )
    op.execute(
        """CREATE FUNCTION partner_leads_api_key_used(key_id uuid, used_at timestamptz)
        RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
            UPDATE api_keys SET last_used_at = used_at
            WHERE id = key_id
              AND (last_used_at IS NULL OR last_used_at < used_at - interval '1 minute')
        $$"""
    )
    for function in FUNCTIONS:
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {APP}, {WORKER}")


def downgrade() -> None:
    for function in FUNCTIONS:
        op.execute(f"DROP FUNCTION {function}")
    op.drop_constraint(op.f("ck_lead_history_actor_kind"), "lead_history", type_="check")
    # What a key did stays in history, as the system's.
    op.execute("UPDATE lead_history SET actor_kind = 'SYSTEM' WHERE actor_kind = 'API_KEY'")
    op.create_check_constraint(
        op.f("ck_lead_history_actor_kind"), "lead_history", "actor_kind IN ('USER', 'SYSTEM')"
    )
    op.drop_constraint("fk_lead_history_api_key_id_api_keys", "lead_history", type_="foreignkey")
    op.drop_column("lead_history", "api_key_id")
    op.drop_index(op.f("ix_api_keys_organisation_id"), table_name="api_keys")
    op.drop_table("api_keys")
