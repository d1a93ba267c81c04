"""What the dashboards and the overview return (money in fen, rates in bps)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel

__all__ = [
    "DashboardRead",
    "FiguresRead",
    "GuaranteeRead",
    "LagRead",
    "MinuteRead",
    "OverviewRead",
    "PeriodRead",
    "PrincipalRead",
    "RankedRead",
    "ReplayRead",
    "TopicRead",
]


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
    royalty_accrued_fen: int
    royalty_reversed_fen: int
    royalty_net_fen: int
    royalty_paid_fen: int
    royalty_outstanding_fen: int


class PeriodRead(FiguresRead):
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


class DashboardRead(BaseModel):
    museum_id: str
    museum_name_zh: str | None
    museum_name_en: str | None
    start: date
    end: date
    granularity: str
    timezone: str
    projection_version: int
    totals: FiguresRead
    series: list[PeriodRead]
    top_products: list[RankedRead]
    top_relics: list[RankedRead]
    top_licensees: list[RankedRead]
    guarantees: list[GuaranteeRead]


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
