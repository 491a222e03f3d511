"""The whole path of a lead from where it comes from, over GraphQL only: a customer finds
contoso by a keyword and asks to be contacted; contoso sees it with the flame. A seller asks
for suggestions and sends a sales-qualified lead that shows in the partner's Qualified tab."""

from __future__ import annotations

import uuid

from tests.factories import World
from tests.graphql_client import GraphQLClient

SEARCH = """query($q: String) { searchPartners(query: $q, first: 5) {
  nodes { profile { id name keywords } rank reasons { matchedKeywords responsivenessScore } } } }"""
INQUIRE = """mutation($p: ID!, $key: String!) { submitInquiry(profileId: $p, idempotencyKey: $key,
  input: {company: {name: "Fourth Coffee", size: SIZE_51_250, industry: "Retail", country: "US"},
          contact: {name: "Dana Okafor", email: "dana@fourthcoffee.example", phone: "+1 555 0142"},
          need: "Move our shops' systems to Azure", contactRequested: true,
          consentToContact: true}) { lead { id stage } errors { code field message } } }"""
MARKETPLACE = """{ leads(tab: MARKETPLACE, first: 5, filter: {stages: [RECEIVED]}) {
  nodes { id type contactAlert allowedActions customer { companyName contactRequested } } } }"""
SUGGEST = """{ suggestPartners(need: {description: "analytics and ai for retail demand forecasting",
  industry: "Retail", companySize: SIZE_251_1000, country: "US"}, first: 3) {
  profile { id name } score reasons } }"""
SEND = """mutation($p: ID!) { sendQualifiedLead(profileId: $p, input: {
  company: {name: "Relecloud", size: SIZE_251_1000, industry: "Retail", country: "US"},
  contact: {name: "Omar Haddad", email: "omar@relecloud.example"},
  need: "Demand forecasting with AI", consentToContact: true}) {
  lead { id type } errors { code } } }"""
QUALIFIED = """{ leads(tab: QUALIFIED, first: 5, filter: {stages: [RECEIVED]}) {
  nodes { id type sender { kind name } } } }"""


async def test_customer_inquiry_and_seller_referral_reach_the_right_tabs(
    gql: GraphQLClient, world: World
) -> None:
    customer = gql.as_user(None)
    found = (await customer.data(SEARCH, {"q": "azure"}))["searchPartners"]["nodes"]
    contoso = next(n for n in found if n["profile"]["name"].startswith("Contoso"))
    assert found[0] == contoso  # the keyword's partner ranks first
    assert contoso["reasons"]["matchedKeywords"]

    sent = (
        await customer.data(INQUIRE, {"p": contoso["profile"]["id"], "key": str(uuid.uuid4())})
    )["submitInquiry"]
    assert sent["errors"] == [] and sent["lead"]["stage"] == "RECEIVED"

    admin = gql.as_user(world.contoso.partner_admin)
    inbox = (await admin.data(MARKETPLACE))["leads"]["nodes"]
    assert inbox[0] == {
        "id": sent["lead"]["id"],
        "type": "CUSTOMER_INQUIRY",
        "contactAlert": "URGENT",
        "allowedActions": ["ACCEPT", "DECLINE"],
        "customer": {"companyName": "Fourth Coffee", "contactRequested": True},
    }

    seller = gql.as_user(world.seller)
    suggestions = (await seller.data(SUGGEST))["suggestPartners"]
    assert suggestions and suggestions[0]["reasons"]
    top = suggestions[0]["profile"]
    assert top["name"].startswith("Fabrikam")  # the data & AI partner fits this need
    referred = (await seller.data(SEND, {"p": top["id"]}))["sendQualifiedLead"]
    assert referred["errors"] == [] and referred["lead"]["type"] == "SALES_QUALIFIED"

    qualified = (await gql.as_user(world.fabrikam.referrals_admin).data(QUALIFIED))["leads"]
    assert qualified["nodes"][0]["id"] == referred["lead"]["id"]
    assert qualified["nodes"][0]["sender"]["kind"] == "PLATFORM"
