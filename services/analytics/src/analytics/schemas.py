"""What the dashboards and the overview return (money in fen, rates in bps)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

__all__ = [
    "AuthenticityRead",
    "CoOwnerRead",
    "CoOwnerRelicRead",
    "DashboardFiguresRead",
    "DashboardRead",
    "FiguresRead",
    "GuaranteeRead",
    "LagRead",
    "MinuteRead",
    "OverviewRead",
    "PeriodRead",
    "PrincipalRead",
    "RankedRead",
    "RelicRankedRead",
    "ReplayRead",
    "ShareRead",
    "TopicRead",
]


_LICENCE = (
    "the licence royalty: what licensees owe, ALL rights holders together"
    " (not the museum's income: see museum_share_*)"
)


class FiguresRead(BaseModel):
    gross_fen: int
    refunds_fen: int
    net_fen: int
    units: int
    refunded_units: int
    net_units: int
    orders: int
    refunds: int
    refund_rate_bps: int
    royalty_accrued_fen: int = Field(description=f"accrued: {_LICENCE}")
    royalty_reversed_fen: int = Field(description=f"reversed: {_LICENCE}")
    royalty_net_fen: int = Field(description=f"accrued - reversed: {_LICENCE}")
    royalty_paid_fen: int = Field(
        description="paid out to every holder registered under the museum (itself and its"
        " co-owners); on the overview, to every holder"
    )
    royalty_outstanding_fen: int = Field(
        description="licence royalty net - paid to all holders (a whole-licence figure)"
    )


_OWN = "the museum's OWN share (ip's holder id = the museum id): "
_CO = "the co-owners' shares together (donors and other holders of the museum's relics): "


class DashboardFiguresRead(FiguresRead):
    """A museum's figures: the sales, the licence royalty, and what of that
    royalty ip owes the museum itself and its co-owners (ip's splits)."""

    museum_share_accrued_fen: int = Field(description=_OWN + "accrued")
    museum_share_reversed_fen: int = Field(description=_OWN + "reversed")
    museum_share_net_fen: int = Field(description=_OWN + "accrued - reversed")
    museum_share_paid_fen: int = Field(description=_OWN + "paid out to the museum")
    museum_share_outstanding_fen: int = Field(description=_OWN + "net - paid")
    co_owner_share_accrued_fen: int = Field(description=_CO + "accrued")
    co_owner_share_reversed_fen: int = Field(description=_CO + "reversed")
    co_owner_share_net_fen: int = Field(description=_CO + "accrued - reversed")
    co_owner_share_paid_fen: int = Field(description=_CO + "paid out to them")
    co_owner_share_outstanding_fen: int = Field(description=_CO + "net - paid")


class PeriodRead(DashboardFiguresRead):
    period: str
    start: date
    end: date


class RankedRead(BaseModel):
    id: str
    name_zh: str | None = None
    name_en: str | None = None
    gross_fen: int
    refunds_fen: int
    net_fen: int
    units: int
    net_units: int
    refund_rate_bps: int
    royalty_accrued_fen: int
    royalty_reversed_fen: int
    royalty_net_fen: int


class RelicRankedRead(RankedRead):
    """A relic's row: its licence royalty, and the museum's and the co-owners'
    shares of it (no payouts: ip pays holders, not relics)."""

    museum_share_accrued_fen: int = 0
    museum_share_reversed_fen: int = 0
    museum_share_net_fen: int = 0
    co_owner_share_accrued_fen: int = 0
    co_owner_share_reversed_fen: int = 0
    co_owner_share_net_fen: int = 0


class ShareRead(BaseModel):
    """One holder's royalty share over the range: ip's splits to that holder
    and ip's payouts to it, so `outstanding_fen` over a range holding all of
    the holder's activity equals ip's `GET /holders/{holder_id}/balance`."""

    holder_id: str
    holder_kind: str | None  # museum | donor | artist | company
    name: str | None = None  # a donor's name, from the relic it donated
    accrued_fen: int
    reversed_fen: int
    net_fen: int
    paid_fen: int
    outstanding_fen: int


class CoOwnerRelicRead(BaseModel):
    relic_id: str
    name_zh: str | None = None
    name_en: str | None = None
    accrued_fen: int
    reversed_fen: int
    net_fen: int


class CoOwnerRead(ShareRead):
    relics: list[CoOwnerRelicRead]  # the relics its share came from


class GuaranteeRead(BaseModel):
    license_id: str
    licensee_id: str | None
    status: str | None
    rate_bps: int | None
    starts_at: datetime | None
    ends_at: datetime | None
    gross_fen: int
    net_fen: int
    royalty_accrued_fen: int
    royalty_reversed_fen: int
    earned_fen: int
    minimum_guarantee_fen: int
    progress_bps: int
    shortfall_fen: int  # still missing to reach the guarantee
    advance_fen: int  # paid up front when granted
    recouped_fen: int  # royalty kept against the advance
    shortfall_charged_fen: int  # guarantee shortfall charged on statements


class AuthenticityRead(BaseModel):
    """The range's certificate checks and counterfeit reports of the museum
    (ip's events; analytics.authenticity says what each counts)."""

    cert_verifications: int = 0
    cert_revoked_seen: int = 0
    cert_unknown_seen: int = 0
    counterfeit_reports: int = 0


class DashboardRead(BaseModel):
    museum_id: str
    museum_name_zh: str | None
    museum_name_en: str | None
    start: date
    end: date
    granularity: str
    timezone: str
    projection_version: int
    totals: DashboardFiguresRead
    series: list[PeriodRead]
    museum_share: ShareRead  # what ip owes the museum itself (holder id = museum id)
    co_owners: list[CoOwnerRead]  # every co-owner with a share or a payout in the range
    top_products: list[RankedRead]
    top_relics: list[RelicRankedRead]
    top_licensees: list[RankedRead]
    guarantees: list[GuaranteeRead]
    authenticity: AuthenticityRead = AuthenticityRead()


class MinuteRead(BaseModel):
    minute: str
    orders: int
    gross_fen: int


class TopicRead(BaseModel):
    topic: str
    end_offset: int
    events_per_second: float | None
    dead_letters: int


class LagRead(BaseModel):
    group: str
    service: str
    topic: str
    committed: int
    lag: int


class OverviewRead(BaseModel):
    projection_version: int
    gmv_fen: int
    refunds_fen: int
    net_fen: int
    orders: int
    today: FiguresRead
    orders_per_minute: float  # paid orders per minute over the last 15 minutes
    minutes: list[MinuteRead]  # the last 60 minutes
    topics: list[TopicRead]
    lags: list[LagRead]
    dead_letters_total: int


class PrincipalRead(BaseModel):
    subject: str
    role: str
    museum_id: str | None


class ReplayRead(BaseModel):
    version: int
    status: str
    total: int | None = None
    events: int | None = None
    skipped: int | None = None
    events_per_second: float | None = None
    seconds: float | None = None
    error: str | None = None
