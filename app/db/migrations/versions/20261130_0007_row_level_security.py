"""row-level security: the API and the workers as their own roles, every table behind policies

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 07:00:00.000000

A second tenancy wall under the API's own scoping (app/db/tenancy.py says how it is used):

- `partner_leads_app` (the API) and `partner_leads_worker` (the arq workers) own no table, are
  not superusers and cannot bypass row-level security. They are created LOGIN without a
  password: with password authentication nobody can log in as them until an operator sets one
  (or logs in as a role of their own that is a member of them); with trust authentication (the
  embedded dev stack) they work at once.
- Each request's transaction says whom it serves with `app.organisation_id` / `app.user_id`
  (`set_config(..., true)`: transaction-scoped, gone at COMMIT, so a pooled connection never
  carries one request's tenant into the next). Unset means nobody: only public rows.
- The API's policies name each cross-tenant flow the product has: published profiles (and
  their locations, scores and affinity counts) are public; a lead is seen by its partner and
  its sender's organisation; a sender's user is seen by the partners it sent leads to; rows
  hanging off a lead (history, team, reminders, outbox, deliveries) follow their lead.
- The workers work across every tenant by design (expiry, reroute, relay, scores): their
  policies say so explicitly, and still only for their role.
- Two functions answer one question each past the wall: `partner_leads_actor(user_id)` reads
  an active user (the token names the user, the database says its organisation and roles) and
  makes that user's tenant the transaction's, in one statement; `partner_leads_engagement`
  gives the engagement a customer's latest lead at any partner belongs to.

The roles are cluster-wide, so the downgrade leaves them (other databases of the cluster may
use them) and removes what this database gave them.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP = "partner_leads_app"
WORKER = "partner_leads_worker"

TABLES = (
    "organisations",
    "users",
    "business_profiles",
    "profile_locations",
    "location_contacts",
    "leads",
    "lead_team_members",
    "lead_favorites",
    "lead_history",
    "outbox",
    "deliveries",
    "delivery_attempts",
    "notifications",
    "webhook_endpoints",
    "lead_reminders",
    "responsiveness_scores",
    "affinity_counts",
    "intake_requests",
)

# The two ways past the wall, each for one question (SECURITY DEFINER).
_FUNCTIONS = (
    "partner_leads_actor(uuid)",
    "partner_leads_engagement(text, timestamptz, timestamptz)",
)

# In a sub-select, each is an InitPlan: evaluated once per statement, not once per row (a
# bare STABLE call is re-evaluated for every row a policy filters: measured, 14 ms of a 16 ms
# inbox page).
ORG = "(SELECT app_organisation_id())"
USER = "(SELECT app_user_id())"
# Platform admins maintain every partner's membership data and see its locations.
ADMIN = "(SELECT app_platform_admin())"
# Visible through the lead's own policy (a policy's subquery is itself behind the wall).
LEAD_VISIBLE = "EXISTS (SELECT 1 FROM leads AS l WHERE l.id = {table}.lead_id)"
OWN_PROFILE = (
    "EXISTS (SELECT 1 FROM business_profiles AS p WHERE p.id = {column} "
    f"AND p.organisation_id = {ORG})"
)

# (table, policy, command, USING, WITH CHECK) for the API's role. A command with no policy is
# refused: the API never deletes leads or writes scores, for instance.
APP_POLICIES: tuple[tuple[str, str, str, str | None, str | None], ...] = (
    # Names and kinds are shown with profiles and with a lead's sender.
    ("organisations", "shown", "SELECT", "true", None),
    ("organisations", "own", "UPDATE", f"id = {ORG}", f"id = {ORG}"),
    # The caller's colleagues, and the senders of the leads the caller's partner received.
    (
        "users",
        "colleagues_and_senders",
        "SELECT",
        f"organisation_id = {ORG} OR id = {USER} OR EXISTS (SELECT 1 FROM leads AS l "
        f"WHERE l.sender_user_id = users.id AND l.organisation_id = {ORG})",
        None,
    ),
    ("users", "own_insert", "INSERT", None, f"organisation_id = {ORG}"),
    ("users", "own_update", "UPDATE", f"organisation_id = {ORG}", f"organisation_id = {ORG}"),
    (
        "business_profiles",
        "published_or_own",
        "SELECT",
        f"published OR organisation_id = {ORG}",
        None,
    ),
    ("business_profiles", "own_insert", "INSERT", None, f"organisation_id = {ORG}"),
    (
        "business_profiles",
        "own_update",
        "UPDATE",
        f"organisation_id = {ORG} OR {ADMIN}",
        f"organisation_id = {ORG} OR {ADMIN}",
    ),
    ("business_profiles", "own_delete", "DELETE", f"organisation_id = {ORG}", None),
    ("business_profiles", "platform_admin", "SELECT", ADMIN, None),
    (
        "profile_locations",
        "of_visible_profiles",
        "SELECT",
        "EXISTS (SELECT 1 FROM business_profiles AS p WHERE p.id = profile_locations.profile_id)",
        None,
    ),
    (
        "profile_locations",
        "own_write",
        "ALL",
        OWN_PROFILE.format(column="profile_locations.profile_id"),
        OWN_PROFILE.format(column="profile_locations.profile_id"),
    ),
    (
        "location_contacts",
        "own",
        "ALL",
        "EXISTS (SELECT 1 FROM profile_locations AS pl JOIN business_profiles AS p "
        f"ON p.id = pl.profile_id WHERE pl.id = location_contacts.location_id "
        f"AND p.organisation_id = {ORG})",
        "EXISTS (SELECT 1 FROM profile_locations AS pl JOIN business_profiles AS p "
        f"ON p.id = pl.profile_id WHERE pl.id = location_contacts.location_id "
        f"AND p.organisation_id = {ORG})",
    ),
    ("location_contacts", "platform_admin", "SELECT", ADMIN, None),
    # A lead is its partner's, and visible to the organisation that sent it.
    (
        "leads",
        "partner_or_sender",
        "SELECT",
        f"organisation_id = {ORG} OR sender_organisation_id = {ORG}",
        None,
    ),
    (
        "leads",
        "partner_or_sender_insert",
        "INSERT",
        None,
        f"organisation_id = {ORG} OR sender_organisation_id = {ORG}",
    ),
    ("leads", "partner_update", "UPDATE", f"organisation_id = {ORG}", f"organisation_id = {ORG}"),
    *(
        (
            table,
            "with_its_lead",
            "ALL",
            LEAD_VISIBLE.format(table=table),
            LEAD_VISIBLE.format(table=table),
        )
        for table in ("lead_team_members", "lead_history", "lead_reminders", "intake_requests")
    ),
    (
        "lead_favorites",
        "own",
        "ALL",
        f"user_id = {USER} AND " + LEAD_VISIBLE.format(table="lead_favorites"),
        f"user_id = {USER} AND " + LEAD_VISIBLE.format(table="lead_favorites"),
    ),
    (
        "outbox",
        "own_or_with_its_lead",
        "ALL",
        f"organisation_id = {ORG} OR (lead_id IS NOT NULL AND "
        + LEAD_VISIBLE.format(table="outbox")
        + ")",
        f"organisation_id = {ORG} OR (lead_id IS NOT NULL AND "
        + LEAD_VISIBLE.format(table="outbox")
        + ")",
    ),
    (
        "deliveries",
        "of_visible_events",
        "SELECT",
        "EXISTS (SELECT 1 FROM outbox AS o WHERE o.id = deliveries.outbox_id)",
        None,
    ),
    (
        "delivery_attempts",
        "of_visible_deliveries",
        "SELECT",
        "EXISTS (SELECT 1 FROM deliveries AS d WHERE d.id = delivery_attempts.delivery_id)",
        None,
    ),
    ("notifications", "own", "ALL", f"user_id = {USER}", f"user_id = {USER}"),
    ("webhook_endpoints", "own", "ALL", f"organisation_id = {ORG}", f"organisation_id = {ORG}"),
    # Aggregates for matching partners to leads: no customer data, read by the public search.
    ("responsiveness_scores", "shown", "SELECT", "true", None),
    ("affinity_counts", "shown", "SELECT", "true", None),
)


def _policy(
    table: str, name: str, role: str, command: str, using: str | None, check: str | None
) -> str:
    sql = f"CREATE POLICY {name} ON {table} AS PERMISSIVE FOR {command} TO {role}"
    if using is not None:
        sql += f" USING ({using})"
    if check is not None:
        sql += f" WITH CHECK ({check})"
    return sql


def upgrade() -> None:
    for role in (APP, WORKER):
        op.execute(
            f"""DO $$ BEGIN
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                    CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
                END IF;
            EXCEPTION WHEN duplicate_object THEN
                NULL;  -- another database of the cluster created it meanwhile
            END $$"""
        )
        op.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        op.execute(f"GRANT SELECT ON alembic_version TO {role}")
        op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}")
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(TABLES)} TO {role}")

    # Inlined into the policies (plain SQL, STABLE): an unset or emptied setting is NULL, and
    # NULL matches nothing.
    for name, setting in (
        ("app_organisation_id", "app.organisation_id"),
        ("app_user_id", "app.user_id"),
    ):
        op.execute(
            f"CREATE FUNCTION {name}() RETURNS uuid LANGUAGE sql STABLE PARALLEL SAFE AS "
            f"$$ SELECT nullif(current_setting('{setting}', true), '')::uuid $$"
        )

    op.execute(
        "CREATE FUNCTION app_platform_admin() RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE "
        "AS $$ SELECT current_setting('app.platform_admin', true) = 'on' $$"
    )

    op.execute(
        """CREATE FUNCTION partner_leads_actor(user_id uuid)
        RETURNS TABLE (id uuid, organisation_id uuid, kind varchar, roles varchar[],
                       name varchar, email varchar)
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
        DECLARE
            found_user record;
        BEGIN
            SELECT u.id, u.organisation_id, o.kind, u.roles, u.name, u.email INTO found_user
            FROM users AS u JOIN organisations AS o ON o.id = u.organisation_id
            WHERE u.id = partner_leads_actor.user_id AND u.active;
            IF NOT FOUND THEN
                RETURN;
            END IF;
            PERFORM set_config('app.organisation_id', found_user.organisation_id::text, true),
                    set_config('app.user_id', found_user.id::text, true),
                    set_config('app.platform_admin',
                               CASE WHEN found_user.kind = 'PLATFORM'
                                         AND 'PLATFORM_ADMIN' = ANY (found_user.roles)
                                    THEN 'on' ELSE '' END, true);
            RETURN QUERY SELECT found_user.id, found_user.organisation_id, found_user.kind,
                                found_user.roles, found_user.name, found_user.email;
        END $$"""
    )
    # A customer's leads at every partner share one engagement (app/services/receive.py): the
    # partner receiving a new one learns the engagement's id, and nothing else of the others.
    op.execute(
        """CREATE FUNCTION partner_leads_engagement(
            contact_email text, received_from timestamptz, received_to timestamptz)
        RETURNS uuid LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
        AS $$
            SELECT l.engagement_id FROM leads AS l
            WHERE lower(l.contact_email) = partner_leads_engagement.contact_email
              AND l.received_at >= received_from AND l.received_at <= received_to
              AND l.engagement_id IS NOT NULL
            ORDER BY l.received_at DESC, l.id DESC LIMIT 1
        $$"""
    )
    for function in _FUNCTIONS:
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {APP}, {WORKER}")

    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(_policy(table, "worker_all_tenants", WORKER, "ALL", "true", "true"))
    for table, name, command, using, check in APP_POLICIES:
        op.execute(_policy(table, f"app_{name}", APP, command, using, check))


def downgrade() -> None:
    for table, name, *_ in APP_POLICIES:
        op.execute(f"DROP POLICY app_{name} ON {table}")
    for table in TABLES:
        op.execute(f"DROP POLICY worker_all_tenants ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    for function in _FUNCTIONS:
        op.execute(f"DROP FUNCTION {function}")
    op.execute("DROP FUNCTION app_platform_admin()")
    op.execute("DROP FUNCTION app_user_id()")
    op.execute("DROP FUNCTION app_organisation_id()")
    for role in (APP, WORKER):
        op.execute(f"REVOKE ALL ON {', '.join(TABLES)} FROM {role}")
        op.execute(f"REVOKE ALL ON alembic_version FROM {role}")
        op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role}")
        op.execute(f"REVOKE ALL ON SCHEMA public FROM {role}")
