"""Events published by the ip service."""

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.base import Event

__all__ = [
    "AssetOpened",
    "CertificateVerified",
    "CounterfeitReported",
    "LicenseExpired",
    "LicenseGranted",
    "LicenseReinstated",
    "LicenseRevoked",
    "LicenseSuspended",
    "OwnershipChanged",
    "OwnershipShare",
    "PayoutRecorded",
    "RoyaltyAccrued",
    "RoyaltyReversed",
    "RoyaltySplit",
    "StatementIssued",
]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OwnershipShare(_Part):
    holder_id: str
    holder_kind: Literal["museum", "donor", "artist", "company"]
    share_bps: int = Field(ge=0, le=10_000)


# --- assets --------------------------------------------------------------------


class _AssetEvent(Event):
    TOPIC: ClassVar[str] = "ip.assets"
    KEY_FIELD: ClassVar[str] = "asset_id"
    asset_id: str


class AssetOpened(_AssetEvent):
    """An IP asset exists (one per relic, or a design asset)."""

    TYPE: ClassVar[str] = "rebirth.ip.asset.opened.v1"
    relic_id: str | None
    museum_id: str
    shares: list[OwnershipShare]


class OwnershipChanged(_AssetEvent):
    """New shares apply to sales from `effective_at` on."""

    TYPE: ClassVar[str] = "rebirth.ip.asset.ownership_changed.v1"
    shares: list[OwnershipShare]
    effective_at: datetime


# --- licenses ------------------------------------------------------------------


class _LicenseEvent(Event):
    TOPIC: ClassVar[str] = "ip.licenses"
    KEY_FIELD: ClassVar[str] = "license_id"
    license_id: str
    licensee_id: str
    museum_id: str


class LicenseGranted(_LicenseEvent):
    """A museum approved a license; products under it may be sold."""

    TYPE: ClassVar[str] = "rebirth.ip.license.granted.v1"
    asset_ids: list[str]
    relic_ids: list[str]
    categories: list[str]
    territory: str
    channels: list[str]
    exclusivity: Literal["exclusive", "sole", "non_exclusive"]
    starts_at: datetime
    ends_at: datetime
    rate_bps: int
    minimum_guarantee_fen: int = 0
    advance_fen: int = 0
    minimum_per_unit_fen: int = 0  # the royalty per unit is at least this


class LicenseSuspended(_LicenseEvent):
    """Sales under the license stop until it is reinstated."""

    TYPE: ClassVar[str] = "rebirth.ip.license.suspended.v1"
    reason: str


class LicenseReinstated(_LicenseEvent):
    """A suspended license is active again."""

    TYPE: ClassVar[str] = "rebirth.ip.license.reinstated.v1"


class LicenseRevoked(_LicenseEvent):
    """The license ended early, for good."""

    TYPE: ClassVar[str] = "rebirth.ip.license.revoked.v1"
    reason: str


class LicenseExpired(_LicenseEvent):
    """The license term ended."""

    TYPE: ClassVar[str] = "rebirth.ip.license.expired.v1"


# --- royalties -------------------------------------------------------------------


class RoyaltySplit(_Part):
    holder_id: str
    holder_kind: Literal["museum", "donor", "artist", "company"]
    amount_fen: int


class _RoyaltyEvent(Event):
    TOPIC: ClassVar[str] = "ip.royalties"
    KEY_FIELD: ClassVar[str] = "license_id"
    license_id: str


class RoyaltyAccrued(_RoyaltyEvent):
    """Royalty earned on one paid order line, split among the rights holders."""

    TYPE: ClassVar[str] = "rebirth.ip.royalty.accrued.v1"
    posting_id: str
    licensee_id: str
    museum_id: str
    order_id: str
    line_id: str
    product_id: str
    relic_ids: list[str]
    quantity: int
    net_sales_fen: int
    royalty_fen: int
    splits: list[RoyaltySplit]  # what the ledger credited: royalty_fen - recouped_fen
    accrued_at: datetime
    recouped_fen: int = 0  # kept against the license's advance, not credited again
    period: str | None = None  # the statement period (YYYY-MM) it was posted to


class RoyaltyReversed(_RoyaltyEvent):
    """Royalty given back for a refunded (part of a) line."""

    TYPE: ClassVar[str] = "rebirth.ip.royalty.reversed.v1"
    posting_id: str
    licensee_id: str
    museum_id: str
    order_id: str
    refund_id: str
    line_id: str
    product_id: str
    relic_ids: list[str]
    quantity: int
    net_sales_fen: int  # the refunded sales, positive
    royalty_fen: int  # the royalty taken back, positive
    splits: list[RoyaltySplit]  # what the ledger debited back: royalty_fen - recouped_fen
    reversed_at: datetime
    recouped_fen: int = 0  # of the advance recoupment given back
    period: str | None = None  # the statement period (YYYY-MM) it was posted to


class StatementIssued(_RoyaltyEvent):
    """A period's statement for one license was closed and issued."""

    TYPE: ClassVar[str] = "rebirth.ip.statement.issued.v1"
    statement_id: str
    museum_id: str
    licensee_id: str
    period_start: datetime
    period_end: datetime
    opening_balance_fen: int
    accrued_fen: int
    reversed_fen: int
    closing_balance_fen: int
    # one rights holder's section for this license (ip issues one statement per
    # holder and period, and one of these events per license in it); balances
    # are what the license's postings owe the holder:
    # closing = opening + accrued - reversed + shortfall + advance
    holder_id: str | None = None
    holder_kind: Literal["museum", "donor", "artist", "company"] | None = None
    shortfall_fen: int = 0  # minimum-guarantee shortfall charged at period end
    advance_fen: int = 0  # the license's advance, posted when granted


class PayoutRecorded(Event):
    """Money was paid out to a rights holder."""

    TYPE: ClassVar[str] = "rebirth.ip.payout.recorded.v1"
    TOPIC: ClassVar[str] = "ip.royalties"
    KEY_FIELD: ClassVar[str] = "holder_id"
    payout_id: str
    reference: str
    holder_id: str
    museum_id: str | None
    amount_fen: int = Field(gt=0)
    paid_at: datetime


# --- authenticity (issue 20) ---------------------------------------------------
# Counterfeits infringe a museum's IP assets, so these travel on `ip.assets`
# (no topic of their own: every deployment already creates that one).


class CertificateVerified(Event):
    """Someone checked a serial on the public verify page or API. `unknown`:
    no certificate has it (then no museum); a malformed serial is not counted."""

    TYPE: ClassVar[str] = "rebirth.ip.certificate.verified.v1"
    TOPIC: ClassVar[str] = "ip.assets"
    KEY_FIELD: ClassVar[str] = "serial"
    check_id: str
    serial: str
    status: Literal["valid", "revoked", "unknown"]
    museum_id: str | None = None
    product_id: str | None = None
    license_id: str | None = None
    verified_at: datetime


class CounterfeitReported(Event):
    """Someone reported a suspect item. `serial_status` is what the serial
    (if any) verified as when reported; `museum_id` is the certificate's
    museum, else the one the reporter named (the item claims to be theirs).
    The free text is plain text, never markup."""

    TYPE: ClassVar[str] = "rebirth.ip.counterfeit.reported.v1"
    TOPIC: ClassVar[str] = "ip.assets"
    KEY_FIELD: ClassVar[str] = "report_id"
    report_id: str
    serial: str | None = None
    serial_status: Literal["valid", "revoked", "unknown", "none"]
    museum_id: str | None = None
    product_id: str | None = None
    license_id: str | None = None
    where_seen: str = Field(max_length=200)
    photo_url: str | None = Field(None, max_length=500)
    text: str = Field("", max_length=2000)
    reported_at: datetime
