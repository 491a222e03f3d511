"""The second tenancy wall: row-level security under the API's own scoping.

Every query the API sends is scoped to the caller's organisation in its WHERE clause. Under
that, Postgres itself hides what the caller may not see (migration 0007): the API connects as
`partner_leads_app`, which owns no table and cannot bypass the policies, and each transaction
says whom it serves with two transaction-scoped settings, `app.organisation_id` and
`app.user_id`. A query that forgot its organisation filter still sees one tenant's rows; a
transaction that says nothing sees only what is public; and since the settings end with the
transaction, a pooled connection never carries one request's tenant into the next.

Where the settings are made:
- the actor's lookup, `partner_leads_actor(user_id)`, makes them for the user it finds (the
  request's first statement: no extra round trip);
- every later transaction of the request's session, on BEGIN (`after_begin` below, from
  `session.info["tenant"]`);
- a compiled read, inside its one statement (`tenant_statement`);
- `acting_for`, where a service writes into another organisation on purpose (an anonymous
  inquiry lands in the partner's inbox).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session

SET_TENANT = (
    "SELECT set_config('app.organisation_id', $1, true), set_config('app.user_id', $2, true), "
    "set_config('app.platform_admin', $3, true)"
)


@dataclass(frozen=True, slots=True)
class Tenant:
    """Whom a transaction serves; None: nobody (public rows only)."""

    organisation_id: uuid.UUID | None
    user_id: uuid.UUID | None
    # A platform admin maintains every partner's profile (membership data, locations).
    platform_admin: bool = False

    def settings(self) -> tuple[str, str, str]:
        return (
            "" if self.organisation_id is None else str(self.organisation_id),
            "" if self.user_id is None else str(self.user_id),
            "on" if self.platform_admin else "",
        )


NOBODY = Tenant(None, None)

# session.info["tenant"]: a Tenant, or a callable answering one (a request's session asks its
# context, whose actor is known only after the first statement).
TenantSource = Tenant | Callable[[], Tenant | None]


@event.listens_for(Session, "after_begin")
def _set_tenant(session: Session, transaction: Any, connection: Any) -> None:
    source = session.info.get("tenant")
    tenant = source() if callable(source) else source
    if tenant is not None and tenant != NOBODY:
        connection.exec_driver_sql(SET_TENANT, tenant.settings())


def tenant_statement(
    sql: str, params: Sequence[Any], tenant: Tenant
) -> tuple[str, tuple[Any, ...]]:
    """One statement that makes the tenant's settings and then runs `sql`, in the implicit
    transaction of a statement sent alone (the compiled read path's). The order is the
    plan's shape, not luck: `set_config` is volatile, so its subquery is never pulled up, and
    `sql` is a LATERAL subquery (kept whole by OFFSET 0) gated on the tenant row, so it runs
    on the inner side of a nested loop, after the settings are made."""
    n = len(params)
    wrapped = (
        f"SELECT q.* FROM (SELECT set_config('app.organisation_id', ${n + 1}, true) AS o, "
        f"set_config('app.user_id', ${n + 2}, true) AS u, "
        f"set_config('app.platform_admin', ${n + 3}, true) AS a) AS tenant CROSS JOIN LATERAL "
        f"(SELECT * FROM ({sql}) AS s WHERE tenant.u IS NOT NULL AND tenant.a IS NOT NULL "
        "OFFSET 0) AS q"
    )
    return wrapped, (*params, *tenant.settings())


@asynccontextmanager
async def acting_for(session: AsyncSession, organisation_id: uuid.UUID) -> AsyncIterator[None]:
    """Write into `organisation_id` for the block, on purpose: a service that receives a lead
    for a partner (an anonymous customer's inquiry, a platform seller's lead) writes it as the
    partner's. The caller's own tenant is back after the block."""
    previous = await session.scalar(text("SELECT current_setting('app.organisation_id', true)"))
    await session.execute(
        text("SELECT set_config('app.organisation_id', :o, true)"), {"o": str(organisation_id)}
    )
    try:
        yield
    finally:
        await session.execute(
            text("SELECT set_config('app.organisation_id', :o, true)"), {"o": previous or ""}
        )


ROLE_PROBLEM = """
SELECT r.rolname, r.rolsuper, r.rolbypassrls,
       (SELECT count(*) FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'r' AND pg_has_role(c.relowner, 'USAGE'))
FROM pg_roles AS r WHERE r.rolname = current_user
"""


async def role_problem(conn: AsyncConnection) -> str | None:
    """Why this connection's role would get past the wall (a superuser, BYPASSRLS, or owning
    or inheriting the owner of tables), or None."""
    name, superuser, bypass, owned = (await conn.execute(text(ROLE_PROBLEM))).one()
    if superuser:
        return f"connects as {name}, a superuser, which row-level security does not apply to"
    if bypass:
        return f"connects as {name}, which has BYPASSRLS"
    if owned:
        return f"connects as {name}, which owns {owned} tables (owners bypass row-level security)"
    return None
