"""Request and response schemas of the ip API (`XCreate / XRead` families)."""

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ip.domain import OwnershipEntry, RoyaltyTerms, StatementSection
from ip.royalty import Tier
from ip.statements import StatementLine
from ip.store import (
    AssetRecord,
    HolderRecord,
    LicenseRecord,
    Posting,
    RegistrationRecord,
    StatementRecord,
)

__all__ = [
    "AssetRead",
    "BalanceRead",
    "DesignAssetCreate",
    "EntryRead",
    "HolderCreate",
    "HolderKind",
    "HolderRead",
    "LedgerRead",
    "LicenseAction",
    "LicenseApply",
    "LicenseRead",
    "OwnershipChange",
    "OwnershipRead",
    "PayoutCreate",
    "PayoutDetailsUpdate",
    "PayoutRead",
    "PeriodsRead",
    "PostingRead",
    "RegistrationCreate",
    "RegistrationRead",
    "SectionRead",
    "ShareIO",
    "StatementLineRead",
    "StatementRead",
    "TermsIO",
    "TierIO",
    "TrialBalance",
    "UnmatchedRead",
]

HolderKind = Literal["museum", "donor", "artist", "company"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HolderCreate(_In):
    kind: Literal["donor", "artist", "company"]
    name: str = Field(min_length=1)
    holder_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    museum_id: str | None = None  # operators only; a museum's holders are its own
    payout_details: dict[str, str] | None = None


class PayoutDetailsUpdate(_In):
    payout_details: dict[str, str]


class HolderRead(BaseModel):
    holder_id: str
    kind: str
    name: str
    museum_id: str | None
    payout_details: dict[str, str] | None

    @classmethod
    def of(cls, h: HolderRecord) -> "HolderRead":
        return cls(
            holder_id=h.holder_id,
            kind=h.kind,
            name=h.name,
            museum_id=h.museum_id,
            payout_details=h.payout_details,
        )


class ShareIO(BaseModel):
    holder_id: str
    holder_kind: HolderKind
    share_bps: int


class OwnershipRead(BaseModel):
    effective_at: datetime
    shares: list[ShareIO]

    @classmethod
    def of(cls, e: OwnershipEntry) -> "OwnershipRead":
        return cls(
            effective_at=e.effective_at,
            shares=[ShareIO(**vars(s)) for s in e.shares],
        )


class AssetRead(BaseModel):
    asset_id: str
    museum_id: str
    relic_id: str | None
    title: str
    ownership: list[OwnershipRead]

    @classmethod
    def of(cls, a: AssetRecord) -> "AssetRead":
        history = sorted(a.ownership, key=lambda e: e.effective_at)
        return cls(
            asset_id=a.asset_id,
            museum_id=a.museum_id,
            relic_id=a.relic_id,
            title=a.title,
            ownership=[OwnershipRead.of(e) for e in history],
        )


class DesignAssetCreate(_In):
    title: str = Field(min_length=1)
    museum_id: str | None = None


class OwnershipChange(_In):
    shares: list[ShareIO] = Field(min_length=1)
    effective_at: AwareDatetime


class RegistrationCreate(_In):
    kind: Literal["copyright", "trademark", "design_patent"]
    number: str = Field(min_length=1)
    jurisdiction: str = "CN"
    title: str = ""
    nice_class: int | None = None
    registered_at: AwareDatetime
    expires_at: AwareDatetime


class RegistrationRead(BaseModel):
    registration_id: str
    asset_id: str
    museum_id: str
    kind: str
    number: str
    jurisdiction: str
    title: str
    nice_class: int | None
    registered_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, r: RegistrationRecord) -> "RegistrationRead":
        return cls(**vars(r))


class TierIO(BaseModel):
    threshold: int
    rate_bps: int


class TermsIO(_In):
    rate_bps: int
    minimum_per_unit_fen: int = 0
    tier_basis: Literal["units", "net_sales"] = "units"
    tiers: list[TierIO] = []
    advance_fen: int = 0
    minimum_guarantee_fen: int = 0

    def to_domain(self) -> RoyaltyTerms:
        return RoyaltyTerms(
            rate_bps=self.rate_bps,
            minimum_per_unit_fen=self.minimum_per_unit_fen,
            tier_basis=self.tier_basis,
            tiers=tuple(Tier(t.threshold, t.rate_bps) for t in self.tiers),
            advance_fen=self.advance_fen,
            minimum_guarantee_fen=self.minimum_guarantee_fen,
        )

    @classmethod
    def of(cls, t: RoyaltyTerms) -> "TermsIO":
        return cls(
            rate_bps=t.rate_bps,
            minimum_per_unit_fen=t.minimum_per_unit_fen,
            tier_basis=t.tier_basis,
            tiers=[TierIO(threshold=x.threshold, rate_bps=x.rate_bps) for x in t.tiers],
            advance_fen=t.advance_fen,
            minimum_guarantee_fen=t.minimum_guarantee_fen,
        )


class LicenseApply(_In):
    asset_ids: list[str] = Field(min_length=1)
    categories: list[str] = Field(min_length=1)
    territory: str
    channels: list[str] = Field(min_length=1)
    exclusivity: Literal["exclusive", "sole", "non_exclusive"]
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    terms: TermsIO


class LicenseAction(_In):
    reason: str = ""
    terms: TermsIO | None = None  # for a counter-offer


class LicenseRead(BaseModel):
    license_id: str
    status: str
    museum_id: str
    licensee_id: str
    asset_ids: list[str]
    relic_ids: list[str]
    categories: list[str]
    territory: str
    channels: list[str]
    exclusivity: str
    starts_at: datetime
    ends_at: datetime
    terms: TermsIO
    counter_terms: TermsIO | None
    applied_at: datetime
    granted_at: datetime | None
    ended_at: datetime | None

    @classmethod
    def of(cls, lic: LicenseRecord) -> "LicenseRead":
        s = lic.scope
        return cls(
            license_id=lic.license_id,
            status=lic.status,
            museum_id=lic.museum_id,
            licensee_id=s.licensee_id,
            asset_ids=sorted(s.asset_ids),
            relic_ids=list(lic.relic_ids),
            categories=sorted(s.categories),
            territory=s.territory,
            channels=sorted(s.channels),
            exclusivity=s.exclusivity,
            starts_at=s.starts_at,
            ends_at=s.ends_at,
            terms=TermsIO.of(lic.terms),
            counter_terms=TermsIO.of(lic.counter_terms) if lic.counter_terms else None,
            applied_at=lic.applied_at,
            granted_at=lic.granted_at,
            ended_at=lic.ended_at,
        )


class EntryRead(BaseModel):
    account: str
    party_id: str
    party_kind: str
    amount_fen: int  # debit positive, credit negative


class PostingRead(BaseModel):
    posting_id: str
    kind: str
    period: str
    posted_at: datetime
    license_id: str | None
    licensee_id: str | None
    museum_id: str | None
    order_id: str | None
    line_id: str | None
    refund_id: str | None
    reference: str | None
    quantity: int
    net_sales_fen: int
    royalty_fen: int
    recouped_fen: int
    entries: list[EntryRead]

    @classmethod
    def of(cls, p: Posting) -> "PostingRead":
        return cls(
            posting_id=p.posting_id,
            kind=p.kind,
            period=p.period,
            posted_at=p.posted_at,
            license_id=p.license_id,
            licensee_id=p.licensee_id,
            museum_id=p.museum_id,
            order_id=p.order_id,
            line_id=p.line_id,
            refund_id=p.refund_id,
            reference=p.reference,
            quantity=p.amounts.quantity,
            net_sales_fen=p.amounts.net_sales_fen,
            royalty_fen=p.amounts.royalty_fen,
            recouped_fen=p.amounts.recouped_fen,
            entries=[EntryRead(**vars(e)) for e in p.entries],
        )


class BalanceRead(BaseModel):
    account: str
    party_id: str
    balance_fen: int  # holders: what they are owed; licensees: what they owe


class LedgerRead(BaseModel):
    balance: BalanceRead
    postings: list[PostingRead]
    next_cursor: str | None = None  # the next page's `cursor`; None on the last page


class TrialBalance(BaseModel):
    accounts: dict[str, int]  # raw sums, debit positive
    total_fen: int  # always 0


class PayoutCreate(_In):
    reference: str = Field(min_length=1, max_length=128)
    holder_id: str
    amount_fen: int


class PayoutRead(BaseModel):
    payout_id: str
    reference: str
    holder_id: str
    amount_fen: int
    period: str
    paid_at: datetime


class PeriodsRead(BaseModel):
    last_closed: str | None


class SectionRead(BaseModel):
    license_id: str | None
    opening_balance_fen: int
    accrued_fen: int
    reversed_fen: int
    shortfall_fen: int
    advance_fen: int
    payouts_fen: int
    closing_balance_fen: int

    @classmethod
    def of(cls, s: StatementSection) -> "SectionRead":
        return cls(
            license_id=s.license_id,
            opening_balance_fen=s.opening_balance_fen,
            accrued_fen=s.accrued_fen,
            reversed_fen=s.reversed_fen,
            shortfall_fen=s.shortfall_fen,
            advance_fen=s.advance_fen,
            payouts_fen=s.payouts_fen,
            closing_balance_fen=s.closing_balance_fen,
        )


class StatementRead(SectionRead):
    statement_id: str
    holder_id: str
    holder_kind: str
    museum_id: str | None
    period: str
    period_start: datetime
    period_end: datetime
    sections: list[SectionRead]
    issued_at: datetime

    @classmethod
    def of(cls, r: StatementRecord) -> "StatementRead":  # type: ignore[override]
        totals = SectionRead.of(r.totals).model_dump(exclude={"license_id"})
        return cls(
            statement_id=r.statement_id,
            holder_id=r.holder_id,
            holder_kind=r.holder_kind,
            museum_id=r.museum_id,
            period=r.period,
            period_start=r.period_start,
            period_end=r.period_end,
            license_id=None,
            sections=[SectionRead.of(x) for x in r.sections],
            issued_at=r.issued_at,
            **totals,
        )


class StatementLineRead(BaseModel):
    posting_id: str
    kind: str
    posted_at: datetime
    license_id: str | None
    order_id: str | None
    line_id: str | None
    refund_id: str | None
    reference: str | None
    product_id: str | None
    quantity: int
    net_sales_fen: int
    royalty_fen: int
    amount_fen: int

    @classmethod
    def of(cls, line: StatementLine) -> "StatementLineRead":
        return cls(**vars(line))


class UnmatchedRead(BaseModel):
    posting_id: str
    reason: str
    event_id: str | None = None
