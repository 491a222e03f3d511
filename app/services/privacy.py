"""Privacy (SPEC R17, issue 11 section 4): the retention sweep that redacts archived leads'
customer data, and a platform admin's subject-access export and erasure of one customer's data
by e-mail. Services flush, never commit.

Redaction empties the columns `app.domain.privacy.REDACTED_COLUMNS` names, the same fields'
values in the lead's history entries, and (through `partner_leads_scrub_redacted`, migration
0015) what the lead left in in-app notification bodies, its activity log and outbox payloads;
it marks the lead `pii_redacted_at`, bumps its version and writes a REDACT history entry. What
the pipeline counts is never touched. A lead is redacted once: both paths take only leads not
yet redacted, so an arq job that runs twice, or an erasure asked twice, changes nothing the
second time.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Uuid, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import Lead, PrivacyRequest
from app.db.tenancy import acting_for
from app.domain.lifecycle import ActorKind, LeadAction
from app.domain.privacy import REDACTED_COLUMNS, REDACTED_HISTORY_FIELDS, email_hash
from app.domain.validation import Checker
from app.services.auth import Actor
from app.services.errors import ErrorCode, Refused
from app.services.lead_state import lead_state_json

# Leads redacted per transaction by the retention sweep.
BATCH = 500
# How many leads one subject-access or erasure request may cover: a customer has a handful; a
# shared mailbox with more is refused rather than half-answered.
MAX_CUSTOMER_LEADS = 1000

RETENTION = "retention"
ERASURE = "erasure"


def _literal(value: str | None) -> str:
    return "NULL" if value is None else f"'{value}'"


_SET = ", ".join(f"{column} = {_literal(value)}" for column, value in REDACTED_COLUMNS.items())
_FIELDS = "ARRAY[" + ", ".join(f"'{f}'" for f in REDACTED_HISTORY_FIELDS) + "]"


def _redact_sql(due: str) -> str:
    """One statement: lock the leads `due` selects, empty their personal data, empty the same
    fields' values in their history, and write each a REDACT entry (with the lead's new version:
    the history trigger would read the version before this statement)."""
    return f"""
WITH due AS ({due}),
redacted AS (
    UPDATE leads AS l SET {_SET}, consent_to_share = false, pii_redacted_at = :now,
        version = l.version + 1, updated_at = :now
    FROM due WHERE l.id = due.id AND l.pii_redacted_at IS NULL
    RETURNING l.id, l.stage, l.outcome, l.version
),
history AS (
    UPDATE lead_history AS h SET changes = (
        SELECT jsonb_object_agg(c.key, CASE WHEN c.key = ANY ({_FIELDS})
            THEN '{{"from": null, "to": null}}'::jsonb ELSE c.value END)
        FROM jsonb_each(h.changes) AS c)
    FROM redacted
    WHERE h.lead_id = redacted.id AND jsonb_typeof(h.changes) = 'object'
      AND h.changes ?| {_FIELDS}
)
INSERT INTO lead_history
    (lead_id, action, from_stage, to_stage, outcome, actor_kind, actor_user_id, changes, at,
     version)
SELECT id, '{LeadAction.REDACT.value}', stage, stage, outcome, :actor_kind, :actor_user_id,
       CAST(:changes AS jsonb), :now, version
FROM redacted
RETURNING lead_id
"""


_RETENTION_SQL = text(
    _redact_sql(
        "SELECT id FROM leads WHERE stage = 'ARCHIVED' AND pii_redacted_at IS NULL "
        "AND archived_at < :cutoff ORDER BY archived_at, id LIMIT :batch FOR UPDATE SKIP LOCKED"
    )
)
_ERASURE_SQL = text(
    _redact_sql(
        "SELECT id FROM leads WHERE id = ANY (:ids) AND pii_redacted_at IS NULL "
        "ORDER BY id FOR UPDATE"
    )
).bindparams(bindparam("ids", type_=ARRAY(Uuid())))
_CUSTOMER_LEADS_SQL = text(
    "SELECT id, organisation_id FROM partner_leads_customer_leads(:email) LIMIT :n"
)
_SCRUB_SQL = text("SELECT partner_leads_scrub_redacted(:ids)").bindparams(
    bindparam("ids", type_=ARRAY(Uuid()))
)


def _changes(reason: str) -> str:
    fields = sorted({*REDACTED_HISTORY_FIELDS})
    return orjson.dumps({"reason": reason, "redactedFields": fields}).decode()


async def _scrub(session: AsyncSession, ids: Sequence[uuid.UUID]) -> None:
    if ids:
        await session.execute(_SCRUB_SQL, {"ids": list(ids)})


async def redact_due(
    session: AsyncSession, *, now: datetime, settings: Settings, batch: int = BATCH
) -> int:
    """The retention sweep's batch: archived leads archived more than `pii_retention_days` ago,
    oldest first, not yet redacted. Returns how many it redacted (fewer than `batch`: done)."""
    rows = await session.execute(
        _RETENTION_SQL,
        {
            "cutoff": now - timedelta(days=settings.pii_retention_days),
            "batch": batch,
            "now": now,
            "actor_kind": ActorKind.SYSTEM.value,
            "actor_user_id": None,
            "changes": _changes(RETENTION),
        },
    )
    ids = [row[0] for row in rows]
    await _scrub(session, ids)
    return len(ids)


# --- subject-access and erasure requests (platform admins) ---------------------------------


@dataclass(frozen=True, slots=True)
class CustomerExport:
    email: str
    organisation_count: int
    leads: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Erasure:
    request_id: uuid.UUID
    lead_count: int
    organisation_count: int


def _check(actor: Actor | None, raw_email: str, what: str) -> str | Refused:
    if actor is None:
        return Refused.one(ErrorCode.UNAUTHENTICATED, f"sign in to {what}")
    if not actor.tenant.platform_admin:
        return Refused.one(ErrorCode.FORBIDDEN, f"only platform admins {what}")
    check = Checker()
    email = check.email("email", raw_email, required=True)
    if check.problems or email is None:
        return Refused.invalid(check.problems)
    return email


async def _customer_leads(
    session: AsyncSession, email: str
) -> dict[uuid.UUID, list[uuid.UUID]] | Refused:
    """The customer's leads by partner, past the tenancy wall by the one function that answers
    this to platform admins only (migration 0015)."""
    rows = (
        await session.execute(_CUSTOMER_LEADS_SQL, {"email": email, "n": MAX_CUSTOMER_LEADS + 1})
    ).all()
    if len(rows) > MAX_CUSTOMER_LEADS:
        return Refused.one(
            ErrorCode.VALIDATION,
            f"more than {MAX_CUSTOMER_LEADS} leads hold this e-mail: ask the database team",
            "email",
        )
    by_partner: dict[uuid.UUID, list[uuid.UUID]] = {}
    for lead_id, organisation_id in rows:
        by_partner.setdefault(organisation_id, []).append(lead_id)
    return by_partner


def _record(
    session: AsyncSession, actor: Actor, kind: str, email: str, leads: int, partners: int
) -> PrivacyRequest:
    request = PrivacyRequest(
        id=uuid.uuid4(),
        kind=kind,
        email_hash=email_hash(email),
        requested_by=actor.user_id,
        leads_count=leads,
        organisations_count=partners,
    )
    session.add(request)
    return request


async def customer_data_export(
    session: AsyncSession, actor: Actor | None, raw_email: str
) -> CustomerExport | Refused:
    """Every lead holding the e-mail, at every partner, as integrations read a lead (customer,
    deal, links) with its partner's id; the request is recorded (the e-mail as a hash)."""
    email = _check(actor, raw_email, "export a customer's data")
    if isinstance(email, Refused):
        return email
    assert actor is not None
    by_partner = await _customer_leads(session, email)
    if isinstance(by_partner, Refused):
        return by_partner
    documents: list[dict[str, Any]] = []
    for organisation_id, ids in by_partner.items():
        # Read as the lead's partner: the platform admin crosses tenants here on purpose.
        async with acting_for(session, organisation_id):
            leads = (
                await session.scalars(
                    select(Lead).where(Lead.id.in_(ids)).order_by(Lead.received_at, Lead.id)
                )
            ).all()
            documents += [
                {"organisationId": str(lead.organisation_id), **lead_state_json(lead)}
                for lead in leads
            ]
    _record(session, actor, "EXPORT", email, len(documents), len(by_partner))
    await session.flush()
    return CustomerExport(email=email, organisation_count=len(by_partner), leads=documents)


async def erase_customer_data(
    session: AsyncSession, actor: Actor | None, raw_email: str, *, now: datetime
) -> Erasure | Refused:
    """Redact the customer's personal data on every lead holding the e-mail, whatever its stage
    (an open lead stays open, with its deal, but nobody to contact); recorded as a REDACT entry
    on each lead (by the admin) and one privacy request (the e-mail as a hash)."""
    email = _check(actor, raw_email, "erase a customer's data")
    if isinstance(email, Refused):
        return email
    assert actor is not None
    by_partner = await _customer_leads(session, email)
    if isinstance(by_partner, Refused):
        return by_partner
    await session.flush()
    erased: list[uuid.UUID] = []
    for organisation_id, ids in by_partner.items():
        async with acting_for(session, organisation_id):
            rows = await session.execute(
                _ERASURE_SQL,
                {
                    "ids": ids,
                    "now": now,
                    "actor_kind": ActorKind.USER.value,
                    "actor_user_id": actor.user_id,
                    "changes": _changes(ERASURE),
                },
            )
            done = [row[0] for row in rows]
            await _scrub(session, done)
            erased += done
    request_id = _record(session, actor, "ERASURE", email, len(erased), len(by_partner)).id
    await session.flush()
    # What the session holds of the erased leads is stale after the statements.
    session.expire_all()
    return Erasure(
        request_id=request_id, lead_count=len(erased), organisation_count=len(by_partner)
    )
