"""The CSV export and lead owners (issue 11): the owner filters, and the owner's id and e-mail
as columns."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from tests.factories import WorldPartner, make_lead
from tests.http.conftest import bearer
from tests.http.test_csv_export import URL, export


async def test_owner_filters_and_columns(
    http: httpx.AsyncClient, settings: Settings, session: AsyncSession, partner: WorldPartner
) -> None:
    org = partner.organisation_id
    mine = await make_lead(session, organisation_id=org, owner_user_id=partner.referrals_admin)
    theirs = await make_lead(session, organisation_id=org, owner_user_id=partner.partner_admin)
    nobodys = await make_lead(session, organisation_id=org)
    me = partner.referrals_admin

    rows = await export(http, settings, me, tab="MARKETPLACE", assignedToMe="true")
    assert [(r["id"], r["ownerId"], r["ownerEmail"]) for r in rows] == [
        (str(mine.id), str(me), f"referrals_admin@{partner.slug}.example")
    ]
    rows = await export(http, settings, me, tab="MARKETPLACE", unassigned="true")
    assert [(r["id"], r["ownerId"], r["ownerEmail"]) for r in rows] == [(str(nobodys.id), "", "")]
    rows = await export(
        http, settings, me, tab="MARKETPLACE", owners=f"{partner.partner_admin},{me}"
    )
    assert {r["id"] for r in rows} == {str(mine.id), str(theirs.id)}

    response = await http.get(
        URL, params={"tab": "MARKETPLACE", "owners": "x"}, headers=bearer(settings, me)
    )
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["code"], error["field"]) == ("VALIDATION", ["owners", "0"])
