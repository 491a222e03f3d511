"""Where leads come from (R3, R4): the public inquiry form, qualified leads from platform staff,
referrals between partners, and what a sender sent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry
from strawberry.types import Info

from app.graphql.context import Context
from app.graphql.errors import ARGUMENTS, ArgumentPaths, query_error
from app.graphql.mutations import LeadPayload, lead_change
from app.graphql.queries import LeadConnection
from app.graphql.types.enums import CompanySize
from app.graphql.types.inputs import SentLeadFilter
from app.services import intake, lead_queries
from app.services.errors import Refused

CONSENT_TO_SHARE = (
    "The customer agrees that other partners may receive this request if this partner declines "
    "it or lets it expire (return to pool). Without it the request goes to nobody else."
)
LOCALE_DESCRIPTION = (
    "The customer's language, BCP 47 (e.g. pt-BR; see supportedLocales): what the messages to "
    "the customer are written in. Null: English. Else UNSUPPORTED_LOCALE."
)
TIME_ZONE_DESCRIPTION = (
    "The customer's IANA time zone (e.g. America/Sao_Paulo), for dates in messages to them. "
    "Null: UTC. Else UNKNOWN_TIME_ZONE."
)


@strawberry.input(description="The customer's company.")
class CompanyInput:
    name: str
    size: CompanySize
    industry: str | None = None
    country: str = strawberry.field(description="ISO 3166-1 alpha-2, e.g. US.")

    def to_service(self) -> intake.CompanyData:
        return intake.CompanyData(
            name=self.name,
            size=self.size.value,
            industry=self.industry,
            country=self.country,
        )


@strawberry.input(description="The person to contact at the customer.")
class ContactInput:
    name: str
    email: str
    phone: str | None = None

    def to_service(self) -> intake.ContactData:
        return intake.ContactData(name=self.name, email=self.email, phone=self.phone)


@strawberry.input(description="A customer's inquiry to one partner (R3).")
class InquiryInput:
    company: CompanyInput
    contact: ContactInput
    need: str
    contact_requested: bool = strawberry.field(
        description="The customer asked to be contacted directly (the flame, R7)."
    )
    consent_to_contact: bool = strawberry.field(
        description="Must be true: the customer agrees that the partner contacts them."
    )
    consent_to_share_with_other_partners: bool = strawberry.field(
        default=False, description=CONSENT_TO_SHARE
    )
    locale: str | None = strawberry.field(default=None, description=LOCALE_DESCRIPTION)
    time_zone: str | None = strawberry.field(default=None, description=TIME_ZONE_DESCRIPTION)

    def to_service(self) -> intake.InquiryData:
        return intake.InquiryData(
            company=self.company.to_service(),
            contact=self.contact.to_service(),
            need=self.need,
            contact_requested=self.contact_requested,
            consent_to_contact=self.consent_to_contact,
            consent_to_share=self.consent_to_share_with_other_partners,
            locale=self.locale,
            time_zone=self.time_zone,
        )


@strawberry.input(description="A qualified lead sent by platform staff, or a partner's referral.")
class QualifiedLeadInput:
    company: CompanyInput
    contact: ContactInput
    need: str
    contact_requested: bool = False
    consent_to_contact: bool = strawberry.field(
        description="Must be true: the customer agreed to be contacted by a partner."
    )
    consent_to_share_with_other_partners: bool = strawberry.field(
        default=False, description=CONSENT_TO_SHARE
    )
    campaign_id: str | None = strawberry.field(
        default=None, description="Required for marketing-qualified leads (MARKETER)."
    )
    solution_area: str | None = None
    auto_reroute: bool = strawberry.field(
        default=False,
        description="When declined or expired, offer the lead to the next suggested partner.",
    )
    locale: str | None = strawberry.field(default=None, description=LOCALE_DESCRIPTION)
    time_zone: str | None = strawberry.field(default=None, description=TIME_ZONE_DESCRIPTION)

    def to_service(self) -> intake.QualifiedData:
        return intake.QualifiedData(
            company=self.company.to_service(),
            contact=self.contact.to_service(),
            need=self.need,
            contact_requested=self.contact_requested,
            consent_to_contact=self.consent_to_contact,
            consent_to_share=self.consent_to_share_with_other_partners,
            campaign_id=self.campaign_id,
            solution_area=self.solution_area,
            auto_reroute=self.auto_reroute,
            locale=self.locale,
            time_zone=self.time_zone,
        )


# The lead's fields are the service's `data`, spread over `input`; the profile and the key are
# arguments of their own.
INTAKE_ARGUMENTS = ArgumentPaths(
    under=("input",),
    renames={"profile_id": ("profileId",), "idempotency_key": ("idempotencyKey",)},
)


def _sending(source: intake.LeadSource) -> Callable[..., Awaitable[LeadPayload]]:
    """The resolver of a mutation that sends a lead to a partner as `source` says."""

    async def send(
        info: Info[Context, None],
        profile_id: strawberry.ID,
        input: QualifiedLeadInput,
        idempotency_key: str | None = None,
    ) -> LeadPayload:
        ctx, data = info.context, input.to_service()
        return await lead_change(
            info,
            lambda s: intake.send_lead(
                s,
                ctx.actor,
                source,
                profile_id=profile_id,
                data=data,
                idempotency_key=idempotency_key,
                now=ctx.now,
                settings=ctx.settings,
            ),
            INTAKE_ARGUMENTS,
        )

    return send


@strawberry.type
class IntakeMutation:
    @strawberry.mutation(
        description="Public: a customer's inquiry to a published profile. Rate limited per "
        "client and e-mail; the same idempotencyKey with the same input returns the same lead."
    )
    async def submit_inquiry(
        self,
        info: Info[Context, None],
        profile_id: strawberry.ID,
        input: InquiryInput,
        idempotency_key: str,
    ) -> LeadPayload:
        ctx = info.context
        data = input.to_service()
        return await lead_change(
            info,
            lambda s: intake.submit_inquiry(
                s,
                profile_id=profile_id,
                data=data,
                idempotency_key=idempotency_key,
                client_ip=ctx.client_ip,
                now=ctx.now,
                settings=ctx.settings,
                limiter=ctx.limiter,
            ),
            INTAKE_ARGUMENTS,
        )

    send_qualified_lead = strawberry.mutation(
        resolver=_sending(intake.PLATFORM_STAFF),
        description="MARKETER sends a MARKETING_QUALIFIED lead (campaignId required); SELLER a "
        "SALES_QUALIFIED one. The sender is told when it expires.",
    )
    refer_lead = strawberry.mutation(
        resolver=_sending(intake.REFERRAL),
        description="A partner's admin refers a lead to another partner's published profile "
        "(SALES_QUALIFIED).",
    )


@strawberry.type
class IntakeQuery:
    @strawberry.field(
        description="Leads the viewer sent (platform staff, referring partners), newest first, "
        "with their stage and outcome (first <= 100)."
    )
    async def sent_leads(
        self,
        info: Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        filter: SentLeadFilter | None = None,
    ) -> LeadConnection:
        async with info.context.db() as session:
            page = await lead_queries.list_sent_leads(
                session,
                info.context.actor,
                first,
                after,
                filter.to_service() if filter else None,
                contact_hidden_before=info.context.contact_hidden_before,
            )
        if isinstance(page, Refused):
            raise query_error(page, ARGUMENTS)
        return LeadConnection.build(page, info.context)
