"""The ip domain's rules: ownership shares, license terms and their lifecycle,
exclusivity conflicts and accounting periods. Pure: standard library only.

Money arithmetic (rounding, splits, tiers, recoupment, reversals) lives in
`ip.royalty`; this module decides who owns what, when, and under which terms.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta, timezone
from typing import Literal

from ip.royalty import BPS, Tier, TierBasis

__all__ = [
    "GRADE_1",
    "ApprovalReference",
    "activation_blocker",
    "needs_state_approval",
    "relic_shares_changed",
    "CHANNELS",
    "CHINA_TIME",
    "Exclusivity",
    "HolderKind",
    "LicenseScope",
    "LicenseStatus",
    "OwnershipEntry",
    "RoyaltyTerms",
    "RuleViolation",
    "Share",
    "StatementSection",
    "TRANSITIONS",
    "check_transition",
    "conflicts",
    "default_relic_shares",
    "next_period",
    "period_bounds",
    "period_of",
    "posting_period",
    "previous_period",
    "shares_at",
    "territories_overlap",
    "validate_period",
    "validate_shares",
    "validate_territory",
]

HolderKind = Literal["museum", "donor", "artist", "company"]
Exclusivity = Literal["exclusive", "sole", "non_exclusive"]
LicenseStatus = Literal[
    "applied", "countered", "rejected", "active", "suspended", "revoked", "expired"
]
CHANNELS = frozenset({"museum_shop", "online", "wholesale"})
# Statements follow the Chinese calendar month (UTC+8, no daylight saving).
CHINA_TIME = timezone(timedelta(hours=8), "CST")


class RuleViolation(ValueError):
    """A business rule the input breaks (rendered 422 by the service)."""


# --- ownership -----------------------------------------------------------------


@dataclass(frozen=True)
class Share:
    holder_id: str
    holder_kind: HolderKind
    share_bps: int


def validate_shares(shares: Sequence[Share]) -> None:
    if not shares:
        raise RuleViolation("an asset needs at least one holder")
    holders = [s.holder_id for s in shares]
    if len(set(holders)) != len(holders):
        raise RuleViolation("each holder may appear only once")
    if any(s.share_bps <= 0 for s in shares):
        raise RuleViolation("every share must be positive")
    total = sum(s.share_bps for s in shares)
    if total != BPS:
        raise RuleViolation(f"shares must sum to {BPS} bps, not {total}")


def default_relic_shares(museum_id: str, donor_id: str | None, donor_share_bps: int) -> list[Share]:
    """A relic's asset opens with the museum as 100 % owner; a donated relic
    opens as a co-ownership, museum (10,000 - donor share) and donor the rest
    (the seed case: 7,000 / 3,000). The museum may change it, effective-dated."""
    if donor_id is None or donor_share_bps <= 0:
        return [Share(museum_id, "museum", BPS)]
    return [
        Share(museum_id, "museum", BPS - donor_share_bps),
        Share(donor_id, "donor", donor_share_bps),
    ]


@dataclass(frozen=True)
class OwnershipEntry:
    effective_at: datetime
    shares: tuple[Share, ...]


def relic_shares_changed(
    history: Sequence[OwnershipEntry], museum_id: str, donor_id: str | None, donor_share_bps: int
) -> tuple[Share, ...] | None:
    """The shares a relic's asset moves to when catalog names another donor
    (or none), or None when its donor is the one its latest shares name (shares
    the museum set by hand then stay as they are)."""
    wanted = tuple(default_relic_shares(museum_id, donor_id, donor_share_bps))
    latest = max(history, key=lambda e: e.effective_at).shares if history else ()
    donors = {s.holder_id for s in latest if s.holder_kind == "donor"}
    if history and donors == {s.holder_id for s in wanted if s.holder_kind == "donor"}:
        return None
    return wanted


def shares_at(history: Sequence[OwnershipEntry], at: datetime) -> tuple[Share, ...]:
    """The shares in force at `at`: the latest entry effective at or before it
    (a sale older than the asset's first entry uses the first entry)."""
    if not history:
        raise RuleViolation("the asset has no ownership")
    ordered = sorted(history, key=lambda e: e.effective_at)
    current = ordered[0]
    for entry in ordered:
        if entry.effective_at <= at:
            current = entry
    return current.shares


# --- licenses ------------------------------------------------------------------

_TERRITORY = re.compile(r"^(worldwide|[A-Z]{2}(-[A-Z0-9]{1,3})?)$")


def validate_territory(territory: str) -> None:
    if not _TERRITORY.match(territory):
        raise RuleViolation(
            f"territory {territory!r} is not 'worldwide', a country (CN) or a province (CN-CQ)"
        )


def territories_overlap(a: str, b: str) -> bool:
    """worldwide covers all; CN covers CN-CQ; CN-CQ and CN-SH do not overlap."""
    if "worldwide" in (a, b):
        return True
    return a == b or a.startswith(f"{b}-") or b.startswith(f"{a}-")


@dataclass(frozen=True)
class RoyaltyTerms:
    rate_bps: int
    minimum_per_unit_fen: int = 0
    tier_basis: TierBasis = "units"
    tiers: tuple[Tier, ...] = ()
    advance_fen: int = 0
    minimum_guarantee_fen: int = 0  # per monthly period; the shortfall is charged at close

    def validate(self) -> None:
        if not 0 <= self.rate_bps <= BPS:
            raise RuleViolation(f"rate_bps must be within 0..{BPS}")
        for name in ("minimum_per_unit_fen", "advance_fen", "minimum_guarantee_fen"):
            if getattr(self, name) < 0:
                raise RuleViolation(f"{name} must not be negative")
        previous = 0
        for tier in self.tiers:
            if not 0 <= tier.rate_bps <= BPS:
                raise RuleViolation(f"tier rate_bps must be within 0..{BPS}")
            if tier.threshold <= previous:
                raise RuleViolation("tier thresholds must be positive and strictly increasing")
            previous = tier.threshold


@dataclass(frozen=True)
class LicenseScope:
    """What a license covers: the thing exclusivity is judged on."""

    licensee_id: str
    asset_ids: frozenset[str]
    categories: frozenset[str]
    territory: str
    channels: frozenset[str]
    starts_at: datetime
    ends_at: datetime
    exclusivity: Exclusivity
    license_id: str = ""

    def validate(self) -> None:
        if not self.asset_ids:
            raise RuleViolation("a license covers at least one asset")
        if not self.categories:
            raise RuleViolation("a license covers at least one product category")
        if not self.channels or not self.channels <= CHANNELS:
            raise RuleViolation(f"channels must be a non-empty subset of {sorted(CHANNELS)}")
        validate_territory(self.territory)
        if self.ends_at <= self.starts_at:
            raise RuleViolation("the term must end after it starts")

    def overlaps(self, other: "LicenseScope") -> bool:
        return (
            bool(self.asset_ids & other.asset_ids)
            and bool(self.categories & other.categories)
            and territories_overlap(self.territory, other.territory)
            and self.starts_at < other.ends_at
            and other.starts_at < self.ends_at
        )


def conflicts(candidate: LicenseScope, existing: Iterable[LicenseScope]) -> list[str]:
    """Licenses that `candidate` may not coexist with.

    An exclusive license (on either side) blocks every overlapping license;
    a sole license blocks overlapping licenses of other licensees."""
    found: list[str] = []
    for other in existing:
        if other.license_id == candidate.license_id or not candidate.overlaps(other):
            continue
        kinds = {candidate.exclusivity, other.exclusivity}
        if "exclusive" in kinds or ("sole" in kinds and other.licensee_id != candidate.licensee_id):
            found.append(other.license_id)
    return found


# action -> (allowed from, to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "approve": (frozenset({"applied"}), "active"),
    "reject": (frozenset({"applied", "countered"}), "rejected"),
    "counter": (frozenset({"applied"}), "countered"),
    "accept": (frozenset({"countered"}), "active"),
    "suspend": (frozenset({"active"}), "suspended"),
    "reinstate": (frozenset({"suspended"}), "active"),
    "revoke": (frozenset({"active", "suspended"}), "revoked"),
    "expire": (frozenset({"active", "suspended"}), "expired"),
}


def check_transition(action: str, status: str) -> str:
    """The status `action` leads to from `status`, or RuleViolation."""
    allowed, target = TRANSITIONS[action]
    if status not in allowed:
        raise RuleViolation(f"cannot {action} a license that is {status}")
    return target


# --- grade-aware licensing ------------------------------------------------------

# catalog's protection grades (contracts.catalog: grade_1, grade_2, grade_3,
# general). Reproducing a first-grade relic needs the state heritage
# administration's approval; other grades the provincial one, which the
# museum's own approval of a license stands for here.
GRADE_1 = "grade_1"


@dataclass(frozen=True)
class ApprovalReference:
    """The heritage administration's approval of a reproduction: its number
    and the date it was given."""

    number: str
    approved_on: date

    def validate(self, today: date) -> None:
        if not self.number.strip():
            raise RuleViolation("an approval reference needs its approval number")
        if self.approved_on > today:
            raise RuleViolation("an approval cannot be dated in the future")


def needs_state_approval(grades: Iterable[str | None]) -> bool:
    """True if any of a license's relics is of the first grade."""
    return any(g == GRADE_1 for g in grades)


def activation_blocker(
    grades: Iterable[str | None], approval: ApprovalReference | None
) -> str | None:
    """Why a license on relics of these grades cannot become active yet, or
    None: a first-grade relic needs an approval reference on the license."""
    if needs_state_approval(grades) and approval is None:
        return (
            "a license on a first-grade (一级) relic becomes active only once the museum has "
            "recorded the state heritage administration's approval (number and date) on it"
        )
    return None


# --- periods -------------------------------------------------------------------

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def validate_period(period: str) -> None:
    if not _PERIOD.match(period):
        raise RuleViolation(f"period {period!r} is not YYYY-MM")


def period_of(at: datetime) -> str:
    local = at.astimezone(CHINA_TIME)
    return f"{local.year:04d}-{local.month:02d}"


def next_period(period: str) -> str:
    year, month = (int(x) for x in period.split("-"))
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def previous_period(period: str) -> str:
    year, month = (int(x) for x in period.split("-"))
    return f"{year - (month == 1):04d}-{(month - 2) % 12 + 1:02d}"


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """[start, end) of a monthly period, as aware datetimes (China time)."""
    validate_period(period)
    year, month = (int(x) for x in period.split("-"))
    start = datetime(year, month, 1, tzinfo=CHINA_TIME)
    ny, nm = (int(x) for x in next_period(period).split("-"))
    return start, datetime(ny, nm, 1, tzinfo=CHINA_TIME)


def posting_period(at: datetime, last_closed: str | None) -> str:
    """The period a posting dated `at` belongs to: its own month, or the first
    open one when its month is already closed (late events roll forward)."""
    period = period_of(at)
    if last_closed is not None and period <= last_closed:
        return next_period(last_closed)
    return period


# --- statements ------------------------------------------------------------------

# how each posting kind moves what a holder is owed, and where a statement shows it
_MOVEMENT = {
    "accrual": ("accrued_fen", +1),
    "reversal": ("reversed_fen", -1),
    "shortfall": ("shortfall_fen", +1),
    "advance": ("advance_fen", +1),
    "payout": ("payouts_fen", -1),
}


@dataclass
class StatementSection:
    """A holder's statement for one license (license_id None: not license-bound,
    i.e. payouts), or the statement's totals. Amounts are what the holder is
    owed; movements are shown positive."""

    license_id: str | None = None
    opening_balance_fen: int = 0
    accrued_fen: int = 0
    reversed_fen: int = 0
    shortfall_fen: int = 0
    advance_fen: int = 0
    payouts_fen: int = 0

    @property
    def closing_balance_fen(self) -> int:
        return (
            self.opening_balance_fen
            + self.accrued_fen
            - self.reversed_fen
            + self.shortfall_fen
            + self.advance_fen
            - self.payouts_fen
        )

    def add(self, kind: str, owed_delta: int) -> None:
        """A posting of `kind` moved what the holder is owed by `owed_delta`."""
        name, sign = _MOVEMENT[kind]
        setattr(self, name, getattr(self, name) + sign * owed_delta)

    @classmethod
    def total(cls, sections: Iterable["StatementSection"]) -> "StatementSection":
        totals = cls()
        for section in sections:
            for f in fields(cls):
                if f.name != "license_id":
                    setattr(totals, f.name, getattr(totals, f.name) + getattr(section, f.name))
        return totals
