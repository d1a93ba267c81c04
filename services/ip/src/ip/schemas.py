"""Request and response schemas of the ip API (`XCreate / XRead` families)."""

from datetime import date, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ip.domain import ApprovalReference, OwnershipEntry, RoyaltyTerms
from ip.royalty import Tier
from ip.schemas_ledger import (
    BalanceRead,
    EntryRead,
    LedgerRead,
    PayoutCreate,
    PayoutRead,
    PeriodsRead,
    PostingRead,
    SectionRead,
    StatementLineRead,
    StatementRead,
    TrialBalance,
    UnmatchedRead,
)
from ip.store import (
    AssetRecord,
    HolderRecord,
    LicenseRecord,
    RegistrationRecord,
)

__all__ = [
    "ApprovalIO",
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
    # a relic's protection grade as catalog last said (grade_1 ... general):
    # a license on a grade_1 relic waits for its state approval reference
    protection_grade: str | None = None

    @classmethod
    def of(cls, a: AssetRecord) -> "AssetRead":
        history = sorted(a.ownership, key=lambda e: e.effective_at)
        return cls(
            asset_id=a.asset_id,
            museum_id=a.museum_id,
            relic_id=a.relic_id,
            title=a.title,
            ownership=[OwnershipRead.of(e) for e in history],
            protection_grade=a.protection_grade,
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


class ApprovalIO(_In):
    """The heritage administration's approval of a reproduction."""

    number: str = Field(min_length=1, max_length=128, examples=["文物博函〔2026〕118号"])
    approved_on: date

    def to_domain(self) -> ApprovalReference:
        return ApprovalReference(self.number.strip(), self.approved_on)


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
    # a first-grade relic: the state heritage administration's approval is needed
    approval_required: bool = False
    approval_reference: ApprovalIO | None = None
    # required, not recorded yet, and the license not active: it cannot be granted yet
    awaiting_approval_reference: bool = False

    @classmethod
    def of(cls, lic: LicenseRecord, *, approval_required: bool = False) -> "LicenseRead":
        s = lic.scope
        approval = lic.approval
        return cls(
            approval_required=approval_required,
            approval_reference=(
                ApprovalIO(number=approval.number, approved_on=approval.approved_on)
                if approval
                else None
            ),
            awaiting_approval_reference=approval_required
            and approval is None
            and lic.status in ("applied", "countered", "suspended"),
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
