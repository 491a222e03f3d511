"""The demo world, and big worlds for benchmarks. Rows go in with COPY, never one by one."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import models
from app.db.session import create_engine
from app.domain.lifecycle import LeadAction, LeadOutcome, LeadStage, LeadType
from app.domain.reference import CompanySize, DeclineReason, LostReason
from app.domain.roles import Role
from app.services.profiles import refresh_search_document

DEMO_PARTNERS = {
    "contoso": ("Contoso Ltd", "Contoso Cloud Consulting", "US"),
    "fabrikam": ("Fabrikam Inc", "Fabrikam Data & AI", "DE"),
    "northwind": ("Northwind Traders", "Northwind Modern Work", "BR"),
}
PLATFORM_SLUG = "platform"
DEMO_LEADS = {"contoso": 90, "fabrikam": 60, "northwind": 60}

COMPANIES = [
    "Adatum",
    "Litware",
    "Proseware",
    "Tailspin Toys",
    "Wide World Importers",
    "Woodgrove Bank",
    "Alpine Ski House",
    "Blue Yonder Airlines",
    "Coho Winery",
    "Consolidated Messenger",
    "Fourth Coffee",
    "Graphic Design Institute",
    "Humongous Insurance",
    "Lucerne Publishing",
    "Margie's Travel",
    "Relecloud",
    "School of Fine Art",
    "Southridge Video",
    "Trey Research",
    "VanArsdel",
]
INDUSTRIES = [
    "Retail",
    "Financial services",
    "Healthcare",
    "Manufacturing",
    "Education",
    "Government",
    "Media",
    "Travel",
    "Energy",
    "Professional services",
]
NEEDS = [
    "Migrate our on-premises servers to the cloud before our lease ends",
    "Set up Teams and SharePoint for 200 remote employees",
    "Build a customer data platform with Power BI dashboards",
    "Harden our identity setup after a phishing incident",
    "Modernise a legacy .NET application and move it to containers",
    "Automate invoice processing with AI document extraction",
    "Implement Dynamics 365 Sales for our field team",
    "Cost review of our Azure subscriptions",
]
FIRST = [
    "Ana",
    "Bruno",
    "Chen",
    "Dana",
    "Elif",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemal",
    "Lena",
    "Mateo",
    "Nia",
    "Omar",
    "Priya",
]
LAST = ["Silva", "Okafor", "Schmidt", "Tanaka", "Rossi", "Nguyen", "Kowalski", "Haddad"]
COUNTRIES = ["US", "DE", "BR", "GB", "FR", "PT", "JP", "IN", "CA", "AU"]
CURRENCIES = ["USD", "EUR", "BRL", "GBP"]
DEAL_KINDS = ["Cloud migration", "Modern Work", "Data platform", "Security review"]

LEAD_COLUMNS = [
    "id",
    "organisation_id",
    "profile_id",
    "type",
    "stage",
    "outcome",
    "company_name",
    "company_size",
    "industry",
    "country",
    "contact_name",
    "contact_email",
    "contact_phone",
    "need",
    "contact_requested",
    "consent_to_contact",
    "sender_user_id",
    "sender_organisation_id",
    "received_at",
    "respond_by",
    "responded_at",
    "deal_name",
    "estimated_value_amount",
    "estimated_value_currency",
    "estimated_purchase_date",
    "notes",
    "crm_id",
    "campaign_id",
    "decline_reason",
    "decline_notes",
    "final_value_amount",
    "final_value_currency",
    "closing_date",
    "lost_reason",
    "lost_notes",
    "archived_at",
    "version",
    "created_at",
    "updated_at",
]
HISTORY_COLUMNS = [
    "lead_id",
    "action",
    "from_stage",
    "to_stage",
    "outcome",
    "actor_kind",
    "actor_user_id",
    "changes",
    "at",
]
TEAM_COLUMNS = ["id", "lead_id", "name", "email", "phone", "added_at"]


@dataclass
class Partner:
    organisation_id: uuid.UUID
    profile_id: uuid.UUID
    slug: str
    manager_ids: list[uuid.UUID]


@dataclass
class Senders:
    marketer: uuid.UUID
    seller: uuid.UUID
    platform_org: uuid.UUID
    partners: list[Partner] = field(default_factory=list)


@dataclass
class LeadRows:
    leads: list[tuple[Any, ...]] = field(default_factory=list)
    history: list[tuple[Any, ...]] = field(default_factory=list)
    team: list[tuple[Any, ...]] = field(default_factory=list)
    favorites: list[tuple[Any, ...]] = field(default_factory=list)


# Stage/outcome mix of a seeded inbox: mostly open work, every archived outcome present.
STATE_WEIGHTS: list[tuple[LeadStage, LeadOutcome | None, int]] = [
    (LeadStage.RECEIVED, None, 35),
    (LeadStage.ACCEPTED, None, 25),
    (LeadStage.ARCHIVED, LeadOutcome.WON, 12),
    (LeadStage.ARCHIVED, LeadOutcome.LOST, 10),
    (LeadStage.ARCHIVED, LeadOutcome.DECLINED, 10),
    (LeadStage.ARCHIVED, LeadOutcome.EXPIRED, 8),
]


def generate_lead(
    rng: random.Random,
    partner: Partner,
    senders: Senders,
    now: datetime,
    response_days: int,
    rows: LeadRows,
    *,
    index: int = 0,
) -> None:
    """One lead in a plausible state, with its history, team and favorites."""
    lead_type = rng.choice(list(LeadType))
    # The first leads of each inbox cover every (type, state) pair deterministically.
    state_index = index % len(STATE_WEIGHTS) if index < 18 else None
    if index < 18:
        lead_type = list(LeadType)[(index // len(STATE_WEIGHTS)) % 3]
    stage, outcome, _ = (
        STATE_WEIGHTS[state_index]
        if state_index is not None
        else rng.choices(STATE_WEIGHTS, weights=[w for *_, w in STATE_WEIGHTS])[0]
    )
    window = timedelta(days=response_days)
    if stage is LeadStage.RECEIVED:
        # Some close to their deadline, some fresh flames.
        age = rng.choice(
            [
                timedelta(hours=rng.uniform(1, 70)),
                window - timedelta(hours=rng.uniform(2, 30)),
                timedelta(days=rng.uniform(1, response_days - 1)),
            ]
        )
    else:
        age = timedelta(days=rng.uniform(response_days + 1, 200))
    received_at = now - age
    lead_id = uuid.uuid4()
    company = f"{rng.choice(COMPANIES)} {rng.choice(['', 'Group', 'Labs', 'Corp'])}".strip()
    contact = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    email = (
        f"{contact.split()[0].lower()}.{contact.split()[1].lower()}"
        f"@{company.split()[0].lower().replace(chr(39), '')}.example"
    )
    sender_user = sender_org = campaign = None
    if lead_type is LeadType.MARKETING_QUALIFIED:
        sender_user, sender_org = senders.marketer, senders.platform_org
        campaign = f"CMP-{rng.randint(1000, 9999)}"
    elif lead_type is LeadType.SALES_QUALIFIED:
        others = [p for p in senders.partners if p.slug != partner.slug]
        if others and rng.random() < 0.2:  # a partner referring a lead it cannot serve
            referrer = rng.choice(others)
            sender_user, sender_org = referrer.manager_ids[0], referrer.organisation_id
        else:
            sender_user, sender_org = senders.seller, senders.platform_org
    manager = rng.choice(partner.manager_ids)
    currency = rng.choice(CURRENCIES)
    estimate = Decimal(rng.randrange(5, 500) * 1000)
    deal: dict[str, Any] = dict.fromkeys(LEAD_COLUMNS)
    history: list[tuple[Any, ...]] = [
        (
            lead_id,
            LeadAction.RECEIVE.value,
            None,
            LeadStage.RECEIVED.value,
            None,
            "SYSTEM",
            None,
            "{}",
            received_at,
        )
    ]
    responded_at = archived_at = None
    updated_at = received_at
    version = 1
    if stage is not LeadStage.RECEIVED or outcome is not None:
        responded_at = received_at + timedelta(hours=rng.uniform(1, 24 * (response_days - 1)))
        updated_at = responded_at
    if outcome is LeadOutcome.EXPIRED:
        responded_at = None
        archived_at = updated_at = received_at + window
        history.append(
            (
                lead_id,
                LeadAction.EXPIRE.value,
                "RECEIVED",
                "ARCHIVED",
                "EXPIRED",
                "SYSTEM",
                None,
                "{}",
                archived_at,
            )
        )
        version = 2
    elif outcome is LeadOutcome.DECLINED:
        reason = rng.choice(list(DeclineReason))
        deal.update(
            decline_reason=reason.value,
            decline_notes="Outside our regions"
            if reason is DeclineReason.OTHER
            else rng.choice([None, "Not a fit right now"]),
        )
        archived_at = responded_at
        history.append(
            (
                lead_id,
                LeadAction.DECLINE.value,
                "RECEIVED",
                "ARCHIVED",
                "DECLINED",
                "USER",
                manager,
                json.dumps({"decline_reason": {"from": None, "to": reason.value}}),
                responded_at,
            )
        )
        version = 2
    elif stage in (LeadStage.ACCEPTED, LeadStage.ARCHIVED):
        assert responded_at is not None
        deal.update(
            deal_name=f"{company} - {rng.choice(DEAL_KINDS)}",
            estimated_value_amount=estimate,
            estimated_value_currency=currency,
            estimated_purchase_date=(received_at + timedelta(days=rng.randint(30, 180))).date(),
            notes=rng.choice(NEEDS),
            crm_id=f"CRM-{rng.randint(10000, 99999)}",
            campaign_id=campaign,
        )
        history.append(
            (
                lead_id,
                LeadAction.ACCEPT.value,
                "RECEIVED",
                "ACCEPTED",
                None,
                "USER",
                manager,
                '{"deal_name": {"from": null, "to": "accepted"}}',
                responded_at,
            )
        )
        version = 2
        for _ in range(rng.choice([0, 1, 2])):
            member = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            rows.team.append(
                (
                    uuid.uuid4(),
                    lead_id,
                    member,
                    f"{member.split()[0].lower()}@{partner.slug}.example",
                    f"+1 555 01{rng.randint(10, 99)}",
                    responded_at,
                )
            )
        if outcome in (LeadOutcome.WON, LeadOutcome.LOST):
            archived_at = updated_at = responded_at + timedelta(days=rng.uniform(5, 60))
            if archived_at > now:
                archived_at = updated_at = now - timedelta(hours=1)
            deal["closing_date"] = archived_at.date()
            if outcome is LeadOutcome.WON:
                deal.update(
                    final_value_amount=estimate * Decimal(rng.choice(["0.8", "1", "1.2"])),
                    final_value_currency=currency,
                )
                history.append(
                    (
                        lead_id,
                        LeadAction.MARK_WON.value,
                        "ACCEPTED",
                        "ARCHIVED",
                        "WON",
                        "USER",
                        manager,
                        "{}",
                        archived_at,
                    )
                )
            else:
                lost_reason = rng.choice(list(LostReason))
                deal.update(
                    lost_reason=lost_reason.value,
                    lost_notes=(
                        "Went with an in-house team" if lost_reason is LostReason.OTHER else None
                    ),
                )
                history.append(
                    (
                        lead_id,
                        LeadAction.MARK_LOST.value,
                        "ACCEPTED",
                        "ARCHIVED",
                        "LOST",
                        "USER",
                        manager,
                        "{}",
                        archived_at,
                    )
                )
            version = 3
    deal.update(
        id=lead_id,
        organisation_id=partner.organisation_id,
        profile_id=partner.profile_id,
        type=lead_type.value,
        stage=stage.value,
        outcome=outcome.value if outcome else None,
        company_name=company,
        company_size=rng.choice(list(CompanySize)).value,
        industry=rng.choice(INDUSTRIES),
        country=rng.choice(COUNTRIES),
        contact_name=contact,
        contact_email=email,
        contact_phone=rng.choice([None, f"+1 555 {rng.randint(1000, 9999)}"]),
        need=rng.choice(NEEDS),
        contact_requested=lead_type is LeadType.CUSTOMER_INQUIRY and rng.random() < 0.35,
        consent_to_contact=True,
        sender_user_id=sender_user,
        sender_organisation_id=sender_org,
        received_at=received_at,
        respond_by=received_at + window,
        responded_at=responded_at,
        archived_at=archived_at,
        version=version,
        created_at=received_at,
        updated_at=updated_at,
    )
    if campaign and deal["campaign_id"] is None:
        deal["campaign_id"] = campaign
    rows.leads.append(tuple(deal[c] for c in LEAD_COLUMNS))
    rows.history.extend(history)
    if rng.random() < 0.1:
        rows.favorites.append((manager, lead_id, now))


async def _copy(
    conn: AsyncConnection, table: str, columns: list[str], records: list[tuple[Any, ...]]
) -> None:
    if not records:
        return
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.copy_records_to_table(table, records=records, columns=columns)


async def _write(conn: AsyncConnection, rows: LeadRows) -> None:
    await _copy(conn, "leads", LEAD_COLUMNS, rows.leads)
    await _copy(conn, "lead_history", HISTORY_COLUMNS, rows.history)
    await _copy(conn, "lead_team_members", TEAM_COLUMNS, rows.team)
    await _copy(conn, "lead_favorites", ["user_id", "lead_id", "created_at"], rows.favorites)


# What each demo partner's business profile says (R1), by slug; other partners (bulk) get a
# generic cloud profile.
DEMO_PROFILES: dict[str, dict[str, Any]] = {
    "contoso": {
        "description": "Contoso Cloud Consulting moves mid-size and enterprise companies to Azure: "
        "assessments, landing zones, cloud migration of servers, databases and .NET applications, "
        "and the security hardening that comes with them (identity, Defender, Sentinel).",
        "website": "https://contoso.example",
        "keywords": ["cloud migration", "Azure", "security", "landing zones", "identity"],
        "industries": ["Retail", "Financial services", "Manufacturing"],
        "solution_areas": ["Azure Infrastructure", "Security"],
        "preferred_sizes": [],
        "competencies": ["Infrastructure (Azure)", "Security"],
        "endorsements": ["Azure Expert MSP", "Solutions Partner for Security"],
    },
    "fabrikam": {
        "description": "Fabrikam Data & AI builds data platforms and analytics for growing "
        "companies: Microsoft Fabric and Synapse, Power BI dashboards, machine learning and "
        "generative AI assistants on Azure OpenAI, from the first proof of concept to production.",
        "website": "https://fabrikam.example",
        "keywords": ["data", "AI", "analytics", "Power BI", "machine learning"],
        "industries": ["Healthcare", "Energy", "Retail"],
        "solution_areas": ["Data & AI"],
        "preferred_sizes": [
            CompanySize.SIZE_51_250.value,
            CompanySize.SIZE_251_1000.value,
            CompanySize.SIZE_1001_5000.value,
            CompanySize.SIZE_5001_10000.value,
        ],
        "competencies": ["Data Analytics", "AI and Machine Learning"],
        "endorsements": ["Solutions Partner for Data & AI (Azure)"],
    },
    "northwind": {
        "description": "Northwind Modern Work sets up the digital workplace: Microsoft 365 "
        "rollouts, Teams telephony and meeting rooms, SharePoint intranets and document "
        "management, and adoption training for remote and hybrid teams.",
        "website": "https://northwind.example",
        "keywords": ["modern work", "Teams", "SharePoint", "Microsoft 365", "intranet"],
        "industries": ["Education", "Professional services", "Government"],
        "solution_areas": ["Modern Work"],
        "preferred_sizes": [
            CompanySize.SIZE_1_9.value,
            CompanySize.SIZE_10_50.value,
            CompanySize.SIZE_51_250.value,
            CompanySize.SIZE_251_1000.value,
        ],
        "competencies": ["Teamwork Deployment", "Messaging"],
        "endorsements": ["Solutions Partner for Modern Work"],
    },
}
GENERIC_PROFILE: dict[str, Any] = {
    "description": "Cloud consulting and managed services on Azure and Microsoft 365.",
    "keywords": ["cloud", "Azure", "managed services"],
    "industries": ["Professional services"],
    "solution_areas": ["Azure Infrastructure"],
    "preferred_sizes": [],
    "competencies": [],
    "endorsements": [],
}


async def _create_partner(
    session: AsyncSession,
    slug: str,
    name: str,
    profile_name: str,
    country: str,
) -> Partner:
    org = models.Organisation(id=uuid.uuid4(), slug=slug, name=name, kind="PARTNER")
    session.add(org)
    admin = models.User(
        id=uuid.uuid4(),
        organisation_id=org.id,
        email=f"admin@{slug}.example",
        name=f"{name} Admin",
        roles=[Role.PARTNER_ADMIN.value],
    )
    referrals = models.User(
        id=uuid.uuid4(),
        organisation_id=org.id,
        email=f"referrals@{slug}.example",
        name=f"{name} Referrals",
        roles=[Role.REFERRALS_ADMIN.value],
    )
    member = models.User(
        id=uuid.uuid4(),
        organisation_id=org.id,
        email=f"sales@{slug}.example",
        name=f"{name} Sales",
        roles=[],
    )
    details = next(
        (v for k, v in DEMO_PROFILES.items() if slug.startswith(k)),
        {**GENERIC_PROFILE, "website": f"https://{slug}.example"},
    )
    profile = models.BusinessProfile(
        id=uuid.uuid4(),
        organisation_id=org.id,
        name=profile_name,
        published=True,
        published_at=datetime.now(UTC),
        **{k: list(v) if isinstance(v, list) else v for k, v in details.items()},
    )
    session.add_all([admin, referrals, member])
    await session.flush()
    session.add(profile)
    await session.flush()
    location = models.ProfileLocation(
        id=uuid.uuid4(),
        profile_id=profile.id,
        name="Head office",
        address=f"1 Main Street, {name}",
        country=country,
    )
    session.add(location)
    await session.flush()
    session.add_all(
        [
            models.LocationContact(
                location_id=location.id,
                name="Lead desk",
                email=f"leads@{slug}.example",
                phone="+1 555 0100",
            ),
            models.LocationContact(
                location_id=location.id,
                name="Former desk",
                email=f"old-desk@{slug}.example",
                alerts_opted_out=True,
            ),
        ]
    )
    await refresh_search_document(session, profile.id)
    return Partner(org.id, profile.id, slug, [admin.id, referrals.id])


async def seed_demo(
    settings: Settings, *, force: bool = False, now: datetime | None = None
) -> bool:
    """Create the demo world in an empty database. Returns False if there was data already."""
    engine = create_engine(settings, pool_size=1, max_overflow=0)
    try:
        async with AsyncSession(engine) as session, session.begin():
            existing = await session.scalar(select(func.count()).select_from(models.Organisation))
            if existing and not force:
                return False
            await seed_demo_into(session, settings, now=now)
            # Scores from the seeded history at once, rather than at the workers' first run.
            from app.services.responsiveness import recompute_all

            await recompute_all(session, now=now or datetime.now(UTC), settings=settings)
        return True
    finally:
        await engine.dispose()


async def seed_demo_into(
    session: AsyncSession,
    settings: Settings,
    *,
    now: datetime | None = None,
    seed: int = 42,
    suffix: str = "",
) -> dict[str, Partner]:
    """The demo world inside the caller's transaction (tests pass a suffix for fresh slugs)."""
    now = now or datetime.now(UTC)
    rng = random.Random(seed)
    platform = models.Organisation(
        id=uuid.uuid4(), slug=PLATFORM_SLUG + suffix, name="Partner Program", kind="PLATFORM"
    )
    session.add(platform)
    await session.flush()
    staff = {}
    for role, local in (
        (Role.MARKETER, "marketer"),
        (Role.SELLER, "seller"),
        (Role.PLATFORM_ADMIN, "admin"),
    ):
        user = models.User(
            id=uuid.uuid4(),
            organisation_id=platform.id,
            email=f"{local}{suffix}@{PLATFORM_SLUG}.example",
            name=f"Platform {local.title()}",
            roles=[role.value],
        )
        session.add(user)
        staff[role] = user.id
    await session.flush()
    senders = Senders(
        marketer=staff[Role.MARKETER], seller=staff[Role.SELLER], platform_org=platform.id
    )
    partners: dict[str, Partner] = {}
    for slug, (name, profile, country) in DEMO_PARTNERS.items():
        partners[slug] = await _create_partner(session, slug + suffix, name, profile, country)
        senders.partners.append(partners[slug])
    await session.flush()
    rows = LeadRows()
    for slug, count in DEMO_LEADS.items():
        for i in range(count):
            generate_lead(
                rng, partners[slug], senders, now, settings.lead_response_days, rows, index=i
            )
    await _write(await session.connection(), rows)
    return partners


async def seed_bulk(
    settings: Settings,
    *,
    partners: int,
    leads: int,
    progress: bool = False,
    now: datetime | None = None,
    seed: int = 7,
    batch: int = 20_000,
) -> None:
    """M partners and N leads spread over them, COPY'd in batches (benchmarks)."""
    now = now or datetime.now(UTC)
    rng = random.Random(seed)
    engine = create_engine(settings, pool_size=1, max_overflow=0)
    run_id = uuid.uuid4().hex[:6]
    try:
        async with AsyncSession(engine) as session, session.begin():
            platform_org = await session.scalar(
                select(models.Organisation.id).where(models.Organisation.slug == PLATFORM_SLUG)
            )
            assert platform_org is not None, "seed the demo world first"
            staff: dict[str, uuid.UUID] = dict(
                (
                    await session.execute(
                        select(models.User.roles[1], models.User.id).where(
                            models.User.organisation_id == platform_org
                        )
                    )
                ).all()
            )
            senders = Senders(
                marketer=staff[Role.MARKETER.value],
                seller=staff[Role.SELLER.value],
                platform_org=platform_org,
            )
            for i in range(partners):
                slug = f"bulk-{run_id}-{i:05d}"
                senders.partners.append(
                    await _create_partner(
                        session, slug, f"Bulk Partner {i}", f"Bulk Profile {i}", "US"
                    )
                )
        with _progress(progress, leads) as advance:
            done = 0
            while done < leads:
                size = min(batch, leads - done)
                rows = LeadRows()
                for n in range(size):
                    partner = senders.partners[(done + n) % len(senders.partners)]
                    generate_lead(
                        rng, partner, senders, now, settings.lead_response_days, rows, index=18 + n
                    )
                async with engine.begin() as conn:
                    await _write(conn, rows)
                done += size
                advance(size)
        # Fresh statistics and visibility maps, so the planner and index-only scans see the
        # world as it is rather than as an empty table.
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in ("leads", "lead_history", "lead_team_members", "lead_favorites"):
                await conn.exec_driver_sql(f"VACUUM ANALYZE {table}")
    finally:
        await engine.dispose()


class _progress:
    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total = enabled, total

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        from rich.progress import Progress

        self._bar = Progress()
        self._bar.start()
        task = self._bar.add_task("leads", total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._bar.stop()


async def find_user(
    settings: Settings,
    *,
    partner: str | None = None,
    role: Role | None = None,
    email: str | None = None,
) -> uuid.UUID | None:
    """The demo user a token is for: by e-mail, or the first user of the partner (or of the
    platform, for platform roles) holding the role."""
    engine = create_engine(settings, pool_size=1, max_overflow=0)
    try:
        async with AsyncSession(engine) as session:
            statement = select(models.User.id).join(models.Organisation)
            if email:
                statement = statement.where(func.lower(models.User.email) == email.lower())
            else:
                slug = partner or PLATFORM_SLUG
                wanted = role or (Role.PARTNER_ADMIN if partner else Role.PLATFORM_ADMIN)
                statement = statement.where(
                    models.Organisation.slug == slug, models.User.roles.contains([wanted.value])
                )
            return (await session.scalars(statement.order_by(models.User.email).limit(1))).first()
    finally:
        await engine.dispose()


async def demo_lead(
    settings: Settings,
    partner: str,
    *,
    contact_me: bool,
    days_ago: float = 0.0,
    from_seller: bool = False,
) -> uuid.UUID | None:
    """One customer inquiry through the real RECEIVE step (history, outbox), then a relay job."""
    from app.domain.lifecycle import LeadType
    from app.jobs import JobQueue, unit_of_work
    from app.services.receive import IncomingLead, receive_lead

    engine = create_engine(settings, pool_size=1, max_overflow=0)
    queue = JobQueue(settings.redis_url)
    rng = random.Random()
    contact = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    company = rng.choice(COMPANIES)
    try:
        async with unit_of_work(async_sessionmaker(engine), queue) as session:
            org_id = await session.scalar(
                select(models.Organisation.id).where(models.Organisation.slug == partner)
            )
            if org_id is None:
                return None
            seller = (
                await session.scalar(
                    select(models.User)
                    .where(models.User.roles.contains([Role.SELLER.value]))
                    .order_by(models.User.email)
                    .limit(1)
                )
                if from_seller
                else None
            )
            lead = await receive_lead(
                session,
                org_id,
                IncomingLead(
                    type=LeadType.SALES_QUALIFIED if seller else LeadType.CUSTOMER_INQUIRY,
                    sender_user_id=seller.id if seller else None,
                    sender_organisation_id=seller.organisation_id if seller else None,
                    company_name=company,
                    company_size=rng.choice(list(CompanySize)).value,
                    country=rng.choice(COUNTRIES),
                    contact_name=contact,
                    contact_email=f"{contact.split()[0].lower()}@{company.split()[0].lower()}.example",
                    need=rng.choice(NEEDS),
                    industry=rng.choice(INDUSTRIES),
                    contact_phone="+1 555 0199",
                    contact_requested=contact_me,
                ),
                now=datetime.now(UTC) - timedelta(days=days_ago),
                settings=settings,
            )
            lead_id = lead.id
    finally:
        await queue.close()
        await engine.dispose()
    return lead_id
