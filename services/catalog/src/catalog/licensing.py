"""Licenses as catalog knows them (a replica of ip's, fed by its events) and
the scope rule: a product must fall inside its license. Pure, no I/O.

A license's scope is what its `license.granted` event carries: relics,
product categories, territory, sales channels and term. Catalog's products
are sold on the platform's own storefront, so a license must allow that
storefront's channel (`online`) and cover its market (`CN`). The license
terms carry no unit caps, so there are none to check (caps would need a
contract change in libs/contracts)."""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from catalog.errors import OutsideLicenseScope

__all__ = [
    "ALL_RULES",
    "STOREFRONT",
    "License",
    "LicenseChange",
    "LicenseScope",
    "LicenseStatus",
    "ScopeBreach",
    "ScopeRule",
    "Storefront",
    "check_scope",
    "covers_territory",
    "next_license_status",
    "scope_breach",
]

LicenseStatus = Literal["active", "suspended", "revoked", "expired"]
LicenseChange = Literal["granted", "suspended", "reinstated", "revoked", "expired"]
ScopeRule = Literal["relics", "category", "channel", "territory", "term"]
ALL_RULES: tuple[ScopeRule, ...] = ("relics", "category", "channel", "territory", "term")


@dataclass(frozen=True)
class LicenseScope:
    categories: frozenset[str]
    territory: str  # "worldwide", a country ("CN") or a region of one ("CN-CQ")
    channels: frozenset[str]
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class License:
    id: str
    licensee_id: str
    museum_id: str
    status: LicenseStatus
    relic_ids: list[str]  # empty: recorded without relics (not checked)
    # None: recorded before catalog kept the scope; not checked until the
    # license's next `granted` event brings it
    scope: LicenseScope | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class Storefront:
    """Where and how catalog's products are sold."""

    channel: str = "online"
    territory: str = "CN"


STOREFRONT = Storefront()


@dataclass(frozen=True)
class ScopeBreach:
    rule: ScopeRule
    value: str  # what the product (or the storefront, or the clock) has
    allowed: list[str]  # what the license allows for that rule


def next_license_status(current: LicenseStatus | None, change: LicenseChange) -> LicenseStatus:
    """Where a license goes on an event. Revoked and expired are final; a
    grant never revives a license that already ended."""
    if change == "granted":
        return current or "active"
    if current in ("revoked", "expired"):
        return current
    if change == "suspended":
        return "suspended"
    if change == "reinstated":
        return "active" if current in ("suspended", "active") else (current or "active")
    return "revoked" if change == "revoked" else "expired"


def covers_territory(licensed: str, market: str) -> bool:
    """A license for `CN` covers `CN` and `CN-CQ`; one for `CN-CQ` does not
    cover all of `CN`; `worldwide` covers everything."""
    return licensed == "worldwide" or market == licensed or market.startswith(f"{licensed}-")


def scope_breach(
    license: License,
    *,
    category: str,
    relic_ids: Sequence[str],
    now: datetime,
    selling: bool,
    rules: Collection[ScopeRule] = ALL_RULES,
    storefront: Storefront = STOREFRONT,
) -> ScopeBreach | None:
    """The first rule of `rules` a product breaks under `license`, if any.

    `selling`: the product is (to be) on sale, so the term must have begun;
    a draft may be prepared before it does, never after it ended."""
    uncovered = [r for r in relic_ids if license.relic_ids and r not in license.relic_ids]
    if "relics" in rules and uncovered:
        return ScopeBreach("relics", ", ".join(uncovered), sorted(license.relic_ids))
    scope = license.scope
    if scope is None:
        return None
    if "category" in rules and category not in scope.categories:
        return ScopeBreach("category", category, sorted(scope.categories))
    if "channel" in rules and storefront.channel not in scope.channels:
        return ScopeBreach("channel", storefront.channel, sorted(scope.channels))
    if "territory" in rules and not covers_territory(scope.territory, storefront.territory):
        return ScopeBreach("territory", storefront.territory, [scope.territory])
    term = [scope.starts_at.isoformat(), scope.ends_at.isoformat()]
    if "term" in rules and (now >= scope.ends_at or (selling and now < scope.starts_at)):
        return ScopeBreach("term", now.isoformat(), term)
    return None


def check_scope(
    license: License,
    *,
    category: str,
    relic_ids: Sequence[str],
    now: datetime,
    selling: bool,
    rules: Collection[ScopeRule] = ALL_RULES,
) -> None:
    """Raise OutsideLicenseScope naming the first rule broken."""
    breach = scope_breach(
        license, category=category, relic_ids=relic_ids, now=now, selling=selling, rules=rules
    )
    if breach is not None:
        raise OutsideLicenseScope(license.id, breach.rule, breach.value, breach.allowed)
