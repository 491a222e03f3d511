"""Senders follow what they sent (sentLeads), without seeing the partner's internal work."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import BusinessProfile
from tests.factories import World
from tests.graphql_client import GraphQLClient

SEND = """mutation($p: ID!) { sendQualifiedLead(profileId: $p, input: {
  company: {name: "Woodgrove", size: SIZE_51_250, country: "US"},
  contact: {name: "Hiro", email: "hiro@woodgrove.example"}, need: "Data platform",
  contactRequested: false, consentToContact: true}) { lead { id } errors { code } } }"""
ACCEPT = """mutation($id: ID!) { acceptLead(input: {id: $id, dealName: "Secret deal",
  estimatedValue: {amount: "90000", currency: "USD"}, estimatedPurchaseDate: "2027-02-01",
  notes: "internal margin 40%", teamMembers: [{name: "Ana"}]}) { errors { code } } }"""
SENT = """{ sentLeads(first: 10) { nodes { id stage outcome deal { name notes } team { name }
  history { action } allowedActions isFavorite customer { companyName } } } }"""


async def test_seller_sees_stage_not_the_partners_deal(
    gql: GraphQLClient, session: AsyncSession, world: World, settings: Settings
) -> None:
    profile = await session.scalar(
        select(BusinessProfile.id).where(
            BusinessProfile.organisation_id == world.fabrikam.organisation_id
        )
    )
    seller = gql.as_user(world.seller)
    sent = await seller.data(SEND, {"p": str(profile)})
    lead_id = sent["sendQualifiedLead"]["lead"]["id"]
    accepted = await gql.as_user(world.fabrikam.referrals_admin).data(ACCEPT, {"id": lead_id})
    assert accepted["acceptLead"]["errors"] == []

    nodes = (await seller.data(SENT))["sentLeads"]["nodes"]
    (mine,) = [n for n in nodes if n["id"] == lead_id]
    assert mine == {
        "id": lead_id,
        "stage": "ACCEPTED",
        "outcome": None,
        "deal": None,
        "team": [],
        "history": [],
        "allowedActions": [],
        "isFavorite": False,
        "customer": {"companyName": "Woodgrove"},
    }
    # The partner itself still sees everything.
    own = await gql.as_user(world.fabrikam.referrals_admin).data(
        "query($id: ID!) { lead(id: $id) { deal { notes } team { name } } }", {"id": lead_id}
    )
    assert own["lead"] == {"deal": {"notes": "internal margin 40%"}, "team": [{"name": "Ana"}]}
