"""SQLAlchemy 2 typed models. Relationships raise on lazy load: related rows come through
per-request DataLoaders or explicit queries, never by accident."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    cast,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, UUID
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import UserDefinedType

from app.domain.activities import MAX_ACTIVITY_BODY, ActivityKind
from app.domain.events import Channel, DeliveryStatus, Topic
from app.domain.lifecycle import LeadAction, LeadOutcome, LeadStage, LeadType
from app.domain.reference import CompanySize, DeclineReason, LostReason
from app.domain.roles import Role

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Xid8(UserDefinedType[int]):
    """A transaction id, epoch-extended (never wraps). Travels as text (the drivers have no
    codec for it) and reads as a Python int."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "xid8"

    def bind_expression(self, bindvalue: Any) -> Any:
        return cast(cast(bindvalue, Text), self)

    def column_expression(self, colexpr: Any) -> Any:
        return cast(colexpr, Text)

    def bind_processor(self, dialect: Any) -> Any:
        return lambda value: None if value is None else str(value)

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        return lambda value: None if value is None else int(value)


# So that reflection (the models-and-migrations check) knows the type too.
ischema_names["xid8"] = Xid8


def _in(column: str, values: Any) -> str:
    return f"{column} IN ({', '.join(repr(str(v.value)) for v in values)})"


# What similar-deal affinity reads of each answered lead (services/matching.py).
AFFINITY_COLUMNS = (
    "stage",
    "outcome",
    "type",
    "company_size",
    "industry",
    "solution_area",
    "received_at",
)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _uuid() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)


def _created() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Organisation(Base):
    __tablename__ = "organisations"
    __table_args__ = (CheckConstraint("kind IN ('PARTNER', 'PLATFORM')", name="kind"),)

    id: Mapped[uuid.UUID] = _uuid()
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), server_default="PARTNER")
    created_at: Mapped[datetime] = _created()

    profile: Mapped[BusinessProfile | None] = relationship(lazy="raise", uselist=False)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "roles <@ ARRAY[" + ", ".join(f"'{r.value}'" for r in Role) + "]::varchar[]",
            name="roles",
        ),
    )

    id: Mapped[uuid.UUID] = _uuid()
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(32)), server_default="{}")
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[datetime] = _created()
    # What the user reads messages in (app/i18n.py): a supported BCP 47 tag, an IANA zone.
    locale: Mapped[str] = mapped_column(String(35), server_default="en")
    time_zone: Mapped[str] = mapped_column(String(64), server_default="UTC")

    organisation: Mapped[Organisation] = relationship(lazy="raise")


class BusinessProfile(Base):
    __tablename__ = "business_profiles"
    __table_args__ = (
        Index(
            "ix_business_profiles_search",
            "search_document",
            postgresql_using="gin",
            postgresql_where=text("published"),
        ),
    )

    id: Mapped[uuid.UUID] = _uuid()
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), unique=True
    )
    name: Mapped[str] = mapped_column(String(200))
    published: Mapped[bool] = mapped_column(Boolean, server_default="false")
    description: Mapped[str | None] = mapped_column(Text)
    website: Mapped[str | None] = mapped_column(String(500))
    # Expertise keywords, industries and solution areas the partner wants leads for (R1).
    keywords: Mapped[list[str]] = mapped_column(ARRAY(String(100)), server_default="{}")
    industries: Mapped[list[str]] = mapped_column(ARRAY(String(100)), server_default="{}")
    solution_areas: Mapped[list[str]] = mapped_column(ARRAY(String(100)), server_default="{}")
    # Company size bands served; empty means every size.
    preferred_sizes: Mapped[list[str]] = mapped_column(ARRAY(String(32)), server_default="{}")
    # Membership data the platform maintains (PLATFORM_ADMIN), shown with the profile.
    competencies: Mapped[list[str]] = mapped_column(ARRAY(String(100)), server_default="{}")
    endorsements: Mapped[list[str]] = mapped_column(ARRAY(String(200)), server_default="{}")
    # Maintained by the profile service on every change (name A, keywords B, description C).
    search_document: Mapped[Any] = mapped_column(TSVECTOR, nullable=True, deferred=True)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    locations: Mapped[list[ProfileLocation]] = relationship(lazy="raise")


class ProfileLocation(Base):
    __tablename__ = "profile_locations"

    id: Mapped[uuid.UUID] = _uuid()
    profile_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("business_profiles.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(500))
    country: Mapped[str] = mapped_column(String(2))

    contacts: Mapped[list[LocationContact]] = relationship(lazy="raise")


class LocationContact(Base):
    """Who receives incoming-lead alerts for a location (R1, R13)."""

    __tablename__ = "location_contacts"

    id: Mapped[uuid.UUID] = _uuid()
    location_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("profile_locations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    alerts_opted_out: Mapped[bool] = mapped_column(Boolean, server_default="false")


class Lead(Base):
    __tablename__ = "leads"
    __table_args__ = (
        CheckConstraint(_in("type", LeadType), name="type"),
        CheckConstraint(_in("stage", LeadStage), name="stage"),
        # The database refuses impossible states: an outcome exactly when archived.
        CheckConstraint(
            "(stage = 'ARCHIVED') = (outcome IS NOT NULL)", name="outcome_iff_archived"
        ),
        CheckConstraint("outcome IS NULL OR " + _in("outcome", LeadOutcome), name="outcome"),
        CheckConstraint(_in("company_size", CompanySize), name="company_size"),
        CheckConstraint(
            "decline_reason IS NULL OR " + _in("decline_reason", DeclineReason),
            name="decline_reason",
        ),
        CheckConstraint(
            "lost_reason IS NULL OR " + _in("lost_reason", LostReason), name="lost_reason"
        ),
        CheckConstraint(
            "(outcome IS NOT DISTINCT FROM 'DECLINED') = (decline_reason IS NOT NULL)",
            name="declined_has_reason",
        ),
        CheckConstraint(
            "(outcome IS NOT DISTINCT FROM 'LOST') = (lost_reason IS NOT NULL)",
            name="lost_has_reason",
        ),
        CheckConstraint(
            "deal_name IS NOT NULL OR stage = 'RECEIVED' "
            "OR (outcome IS NOT NULL AND outcome IN ('DECLINED', 'EXPIRED'))",
            name="accepted_has_deal_name",
        ),
        CheckConstraint(
            "(estimated_value_amount IS NULL) = (estimated_value_currency IS NULL)",
            name="estimated_value_pair",
        ),
        CheckConstraint(
            "(final_value_amount IS NULL) = (final_value_currency IS NULL)",
            name="final_value_pair",
        ),
        CheckConstraint(
            "estimated_value_amount >= 0 AND final_value_amount >= 0", name="values_not_negative"
        ),
        CheckConstraint(
            "(sender_user_id IS NULL) OR (sender_organisation_id IS NOT NULL)",
            name="sender_user_has_organisation",
        ),
        CheckConstraint("version >= 1", name="version"),
        # Every tab is an index scan in keyset order.
        Index(
            "ix_leads_tab_received",
            "organisation_id",
            "tab",
            text("received_at DESC"),
            text("id DESC"),
        ),
        Index(
            "ix_leads_tab_stage_received",
            "organisation_id",
            "tab",
            "stage",
            text("received_at DESC"),
            text("id DESC"),
        ),
        Index("ix_leads_tab_respond_by", "organisation_id", "tab", "respond_by", "id"),
        Index(
            "ix_leads_tab_updated",
            "organisation_id",
            "tab",
            text("updated_at DESC"),
            text("id DESC"),
        ),
        # The expiry sweep reads only open leads by deadline.
        Index(
            "ix_leads_open_respond_by",
            "respond_by",
            postgresql_where=text("stage = 'RECEIVED'"),
        ),
        # Search is always within one partner's inbox: a GIN over (organisation, document),
        # via btree_gin, reads only that partner's postings.
        Index("ix_leads_search", "organisation_id", "search_document", postgresql_using="gin"),
        Index("ix_leads_sender_user", "sender_user_id", text("received_at DESC")),
        # Duplicate detection: the same customer e-mail at the same partner, recently.
        Index(
            "ix_leads_org_contact_email",
            "organisation_id",
            text("lower(contact_email)"),
            text("received_at DESC"),
        ),
        Index("ix_leads_engagement", "engagement_id"),
        # Exact lookups by the partner's own CRM id (`leadByCrmId`, the `crmIds` filter).
        Index(
            "ix_leads_crm_id",
            "organisation_id",
            "crm_id",
            postgresql_where=text("crm_id IS NOT NULL"),
        ),
        # Similar-deal counts read one partner's answers (a refresh: all of them; the window's
        # first month: a range of received_at) in an index-only scan.
        Index(
            "ix_leads_org_received",
            "organisation_id",
            "received_at",
            postgresql_include=[c for c in AFFINITY_COLUMNS if c != "received_at"],
        ),
        # A lead is rerouted at most once: the database refuses a second offer.
        Index(
            "ux_leads_rerouted_from",
            "rerouted_from",
            unique=True,
            postgresql_where=text("rerouted_from IS NOT NULL"),
        ),
        # Responsiveness reads each profile's trailing window in an index-only scan (3M leads:
        # all scores in under 2 s, see bench/RESULTS.md).
        Index(
            "ix_leads_profile_received",
            "profile_id",
            "received_at",
            postgresql_include=["responded_at", "respond_by", "outcome", "stage"],
        ),
        # Deleting a lead looks for leads pointing at it (`rerouted_from` has its unique index).
        Index(
            "ix_leads_possible_duplicate_of",
            "possible_duplicate_of",
            postgresql_where=text("possible_duplicate_of IS NOT NULL"),
        ),
        # The retention sweep (services/privacy.py): archived leads not yet redacted, oldest first.
        Index(
            "ix_leads_pii_retention",
            "archived_at",
            postgresql_where=text("stage = 'ARCHIVED' AND pii_redacted_at IS NULL"),
        ),
        # A customer's leads at every partner by e-mail (subject-access and erasure requests).
        Index("ix_leads_contact_email", text("lower(contact_email)")),
        # The owner filters (`owners`, `assignedToMe`) within one partner. Partial: a lead
        # nobody owns costs the index nothing (bulk loads, partners without routing).
        Index(
            "ix_leads_owner",
            "organisation_id",
            "owner_user_id",
            postgresql_where=text("owner_user_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = _uuid()
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE")
    )
    profile_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("business_profiles.id", ondelete="SET NULL")
    )
    type: Mapped[str] = mapped_column(String(32))
    # Which top-level tab (R5) the lead lives in, derived so one index serves each tab.
    tab: Mapped[str] = mapped_column(
        String(16),
        Computed(
            "CASE WHEN type = 'CUSTOMER_INQUIRY' THEN 'MARKETPLACE' ELSE 'QUALIFIED' END",
            persisted=True,
        ),
    )
    stage: Mapped[str] = mapped_column(String(16), server_default=LeadStage.RECEIVED.value)
    outcome: Mapped[str | None] = mapped_column(String(16))

    company_name: Mapped[str] = mapped_column(String(200))
    company_size: Mapped[str] = mapped_column(String(32))
    industry: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2))
    contact_name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str] = mapped_column(String(254))
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    need: Mapped[str] = mapped_column(Text)
    contact_requested: Mapped[bool] = mapped_column(Boolean, server_default="false")
    consent_to_contact: Mapped[bool] = mapped_column(Boolean, server_default="false")

    sender_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    sender_organisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    respond_by: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    responded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    deal_name: Mapped[str | None] = mapped_column(String(200))
    estimated_value_amount: Mapped[Decimal | None] = mapped_column(Numeric(15, 3))
    estimated_value_currency: Mapped[str | None] = mapped_column(String(3))
    estimated_purchase_date: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    crm_id: Mapped[str | None] = mapped_column(String(100))
    campaign_id: Mapped[str | None] = mapped_column(String(100))
    decline_reason: Mapped[str | None] = mapped_column(String(32))
    decline_notes: Mapped[str | None] = mapped_column(Text)
    final_value_amount: Mapped[Decimal | None] = mapped_column(Numeric(15, 3))
    final_value_currency: Mapped[str | None] = mapped_column(String(3))
    closing_date: Mapped[date | None] = mapped_column(Date)
    lost_reason: Mapped[str | None] = mapped_column(String(32))
    lost_notes: Mapped[str | None] = mapped_column(Text)
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    solution_area: Mapped[str | None] = mapped_column(String(100))
    # Leads about one customer engagement share an id (as Partner Center groups them).
    engagement_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    possible_duplicate_of: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("leads.id", ondelete="SET NULL")
    )
    # Return to pool: offer the lead to the next suggested partner when declined or expired.
    auto_reroute: Mapped[bool] = mapped_column(Boolean, server_default="false")
    reroute_hop: Mapped[int] = mapped_column(Integer, server_default="0")
    rerouted_from: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("leads.id", ondelete="SET NULL")
    )
    # Working the lead (issue 11): when the partner first reached the customer, and who; the
    # newest activity's time (`lead_activities`), kept here so inbox lists read no other table.
    customer_contacted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    customer_contacted_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    last_activity_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Privacy (issue 11): the customer agreed that other partners may see the request (return to
    # pool copies the contact only with it); when the customer's personal data was redacted.
    consent_to_share: Mapped[bool] = mapped_column(Boolean, server_default="false")
    pii_redacted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The customer's language and zone as the inquiry form (or the sender) gave them; NULL:
    # messages to the customer are in English, UTC.
    customer_locale: Mapped[str | None] = mapped_column(String(35))
    customer_time_zone: Mapped[str | None] = mapped_column(String(64))

    version: Mapped[int] = mapped_column(Integer, server_default="1")
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # The lead manager of the partner who works the lead (issue 11); null: nobody yet.
    owner_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    search_document: Mapped[Any] = mapped_column(
        TSVECTOR,
        Computed(
            "setweight(to_tsvector('simple', coalesce(company_name, '') || ' ' "
            "|| coalesce(deal_name, '')), 'A') || "
            "setweight(to_tsvector('simple', coalesce(contact_name, '') || ' ' "
            "|| coalesce(contact_email, '') || ' ' || coalesce(crm_id, '') || ' ' "
            "|| coalesce(industry, '')), 'B') || "
            "setweight(to_tsvector('simple', coalesce(need, '') || ' ' "
            "|| coalesce(notes, '')), 'C')",
            persisted=True,
        ),
        deferred=True,
    )


class LeadTeamMember(Base):
    """A partner employee working on an accepted lead (R8)."""

    __tablename__ = "lead_team_members"

    id: Mapped[uuid.UUID] = _uuid()
    lead_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("leads.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    added_at: Mapped[datetime] = _created()
    # The lead's partner, stamped by a trigger whoever inserts the row (migration 0011): the
    # API's policy matches a partner's own team rows by it instead of probing the lead.
    organisation_id: Mapped[uuid.UUID] = mapped_column()


class LeadFavorite(Base):
    __tablename__ = "lead_favorites"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    lead_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("leads.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = _created()


class LeadView(Base):
    """A user's saved list: a tab, a checked filter (lead_queries.LeadFilter as JSON) and an
    order; `shared` shows it to the whole organisation (issue 11)."""

    __tablename__ = "lead_views"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[uuid.UUID] = _uuid()
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    tab: Mapped[str] = mapped_column(String(32))
    filter: Mapped[dict[str, Any]] = mapped_column(JSONB)
    order_by: Mapped[str] = mapped_column(String(32))
    shared: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LeadActivity(Base):
    """One entry of a lead's activity log: a note, call, e-mail or meeting, by its author. Append
    only: the API may insert and read, never change or delete (migration 0014)."""

    __tablename__ = "lead_activities"
    __table_args__ = (
        CheckConstraint(_in("kind", ActivityKind), name="kind"),
        CheckConstraint(f"char_length(body) BETWEEN 1 AND {MAX_ACTIVITY_BODY}", name="body"),
        # A lead's log, newest first (`Lead.activities`).
        Index("ix_lead_activities_lead", "lead_id", text("occurred_at DESC"), text("id DESC")),
    )

    id: Mapped[uuid.UUID] = _uuid()
    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    # The lead's partner: the tenant whose rows these are (row-level security).
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE")
    )
    author_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # The key an integration logged it with (then there is no author user).
    author_api_key_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()


class PrivacyRequest(Base):
    """A subject-access export or an erasure of one customer's data, by a platform admin: who,
    when, how many leads; the e-mail only as a hash (services/privacy.py)."""

    __tablename__ = "privacy_requests"
    __table_args__ = (
        CheckConstraint("kind IN ('EXPORT', 'ERASURE')", name="kind"),
        Index("ix_privacy_requests_email_hash", "email_hash", "created_at"),
    )

    id: Mapped[uuid.UUID] = _uuid()
    kind: Mapped[str] = mapped_column(String(16))
    email_hash: Mapped[str] = mapped_column(String(64))
    requested_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    leads_count: Mapped[int] = mapped_column(Integer)
    organisations_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = _created()


class RoutingRule(Base):
    """One of a partner's ordered rules that pick a lead's owner as it arrives (issue 11): a
    match on the customer's industry, solution area and country (an empty list matches any),
    and a target: one owner, round-robin among listed users, or round-robin among the lead
    managers who are a location's alert contacts. `assigned_count` is the round-robin counter,
    bumped under the row's lock (app/services/routing.py)."""

    __tablename__ = "routing_rules"
    __table_args__ = (
        UniqueConstraint("organisation_id", "position"),
        CheckConstraint(
            "(owner_user_id IS NOT NULL)::int + (cardinality(user_ids) > 0)::int "
            "+ (location_id IS NOT NULL)::int = 1",
            name="one_target",
        ),
    )

    id: Mapped[uuid.UUID] = _uuid()
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    industries: Mapped[list[str]] = mapped_column(ARRAY(String(100)))
    solution_areas: Mapped[list[str]] = mapped_column(ARRAY(String(100)))
    countries: Mapped[list[str]] = mapped_column(ARRAY(String(2)))
    owner_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE")
    )
    user_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)))
    location_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("profile_locations.id", ondelete="CASCADE")
    )
    assigned_count: Mapped[int] = mapped_column(BigInteger, server_default="0")
    created_at: Mapped[datetime] = _created()


class LeadHistory(Base):
    __tablename__ = "lead_history"
    __table_args__ = (
        CheckConstraint(_in("action", LeadAction), name="action"),
        CheckConstraint("actor_kind IN ('USER', 'SYSTEM', 'API_KEY')", name="actor_kind"),
        Index("ix_lead_history_lead", "lead_id", "id"),
        # The change feed: one partner's rows in (txid, id) order (app/services/lead_changes.py).
        Index("ix_lead_history_feed", "organisation_id", "txid", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(32))
    from_stage: Mapped[str | None] = mapped_column(String(16))
    to_stage: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(16))
    actor_kind: Mapped[str] = mapped_column(String(8))
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # The key an API_KEY actor acted with.
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL")
    )
    # {"field": {"from": ..., "to": ...}} for what the action changed.
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Set by the BEFORE INSERT trigger `lead_history_stamp` (migration 0009), whoever writes the
    # row: the writing transaction, the lead's partner, the lead's version after the change.
    txid: Mapped[int] = mapped_column(Xid8, server_default=text("pg_current_xact_id()"))
    # The lead's partner, stamped by a trigger (migration 0009). No foreign key: the lead's
    # own cascades, and each key is one more trigger on every history insert.
    organisation_id: Mapped[uuid.UUID] = mapped_column()
    version: Mapped[int] = mapped_column(Integer)


class OutboxMessage(Base):
    """A side effect written in the transaction that caused it; workers deliver it."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(_in("topic", Topic), name="topic"),
        Index("ix_outbox_pending", "id", postgresql_where=text("processed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(64))
    lead_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("leads.id", ondelete="SET NULL"), index=True
    )
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _created()
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Delivery(Base):
    """One side effect owed to one recipient on one channel. The unique key makes fan-out
    idempotent: a relay that runs twice creates each delivery once."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("outbox_id", "channel", "recipient", name="uq_deliveries_key"),
        CheckConstraint(_in("channel", Channel), name="channel"),
        CheckConstraint(_in("status", DeliveryStatus), name="status"),
        Index(
            "ix_deliveries_due",
            "next_attempt_at",
            postgresql_where=text(f"status = '{DeliveryStatus.PENDING}'"),
        ),
        # An endpoint's (or a user's) deliveries, newest first.
        Index(
            "ix_deliveries_recipient",
            "channel",
            "recipient",
            text("created_at DESC"),
            text("id DESC"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    # An e-mail address, a webhook endpoint id, a user id, or an organisation id (LIVE).
    recipient: Mapped[str] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(16), server_default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()


class DeliveryAttempt(Base):
    """Every try of a delivery, kept so that failures can be inspected (R13)."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    succeeded: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)


class Notification(Base):
    """An in-app notification for one user."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("outbox_id", "user_id", name="uq_notifications_event_user"),
        Index("ix_notifications_user", "user_id", text("created_at DESC"), text("id DESC")),
        Index(
            "ix_notifications_unread",
            "user_id",
            text("created_at DESC"),
            text("id DESC"),
            postgresql_where=text("read_at IS NULL"),
        ),
        # A deleted lead's notifications cascade; a redacted lead's are scrubbed (migration 0015).
        Index("ix_notifications_lead", "lead_id"),
    )

    id: Mapped[uuid.UUID] = _uuid()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="SET NULL"))
    lead_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookEndpoint(Base):
    """Where a partner's tooling receives signed lead events (Standard Webhooks)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = _uuid()
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    secret: Mapped[str] = mapped_column(String(100))
    # The secret a rotation replaced, still signed with for a grace period.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()


class ApiKey(Base):
    """A partner organisation's machine credential (app/domain/api_keys.py): only the HMAC of
    its secret is kept."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = _uuid()
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = _created()
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LeadReminder(Base):
    """A reminder sent for a lead, so each (lead, hours before deadline) goes out once."""

    __tablename__ = "lead_reminders"

    lead_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("leads.id", ondelete="CASCADE"), primary_key=True
    )
    hours_before: Mapped[int] = mapped_column(Integer, primary_key=True)
    sent_at: Mapped[datetime] = _created()


class ResponsivenessScore(Base):
    """How responsive a profile's team is (R11), with the parts it is made of."""

    __tablename__ = "responsiveness_scores"

    profile_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("business_profiles.id", ondelete="CASCADE"), primary_key=True
    )
    score: Mapped[float] = mapped_column(Float)
    answered_on_time_share: Mapped[float] = mapped_column(Float)
    median_response_hours: Mapped[float | None] = mapped_column(Float)
    expired_share: Mapped[float] = mapped_column(Float)
    leads_considered: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AffinityCount(Base):
    """How many of a partner's leads received in one month (UTC) with one value of an attribute
    it answered and accepted: what similar-deal affinity reads (services/affinity_counts.py)."""

    __tablename__ = "affinity_counts"
    __table_args__ = (
        CheckConstraint(
            "attribute IN ('all', 'industry', 'company_size', 'type', 'solution_area')",
            name="attribute",
        ),
        CheckConstraint("accepted >= 0 AND answered >= accepted", name="counts"),
    )

    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    attribute: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(Text, primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    answered: Mapped[int] = mapped_column(Integer)
    accepted: Mapped[int] = mapped_column(Integer)


class IntakeRequest(Base):
    """An idempotency key of an intake call: the same key returns the same lead; the same key
    with different input is refused."""

    __tablename__ = "intake_requests"
    __table_args__ = (Index("ix_intake_requests_lead", "lead_id"),)

    scope: Mapped[str] = mapped_column(String(100), primary_key=True)  # who may reuse the key
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = _created()
