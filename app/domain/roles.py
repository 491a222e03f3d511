"""Who may do what. Roles live in the database; tokens only say who the caller is."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    PARTNER_ADMIN = "PARTNER_ADMIN"
    REFERRALS_ADMIN = "REFERRALS_ADMIN"
    MARKETER = "MARKETER"
    SELLER = "SELLER"
    PLATFORM_ADMIN = "PLATFORM_ADMIN"


# The source names exactly these two roles as the ones that work a partner's leads.
LEAD_MANAGER_ROLES: frozenset[Role] = frozenset({Role.PARTNER_ADMIN, Role.REFERRALS_ADMIN})
PARTNER_ROLES: frozenset[Role] = LEAD_MANAGER_ROLES
PLATFORM_ROLES: frozenset[Role] = frozenset({Role.MARKETER, Role.SELLER, Role.PLATFORM_ADMIN})
