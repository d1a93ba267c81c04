"""Dashboard arithmetic, pure: periods, sums of daily rollups, rankings, rates.

The store hands over daily rollup rows (plain mappings of counters); these
functions turn them into what a dashboard shows. Money stays in integer fen;
rates are basis points (integer, rounded half up).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from analytics.changes import MONEY_FIELDS, TZ, field_id

__all__ = [
    "MONEY_FIELDS",
    "GuaranteeProgress",
    "Granularity",
    "Period",
    "Totals",
    "bps",
    "by_period",
    "guarantee_progress",
    "period_of",
    "periods",
    "rank",
    "rank_nested",
    "series",
    "today",
    "totals",
]


class Granularity(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True)
class Period:
    key: str  # 2026-11-25 | 2026-W48 | 2026-11
    start: date  # first day inside the requested range
    end: date  # last day inside the requested range


def today(now: datetime) -> date:
    return now.astimezone(TZ).date()


def period_of(day: date, granularity: Granularity) -> str:
    if granularity is Granularity.DAY:
        return day.isoformat()
    if granularity is Granularity.WEEK:
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year}-{day.month:02d}"


def periods(start: date, end: date, granularity: Granularity) -> list[Period]:
    """The periods covering [start, end], each clipped to the range."""
    out: list[Period] = []
    day = start
    while day <= end:
        key = period_of(day, granularity)
        first = day
        while (
            day + timedelta(days=1) <= end
            and period_of(day + timedelta(days=1), granularity) == key
        ):
            day += timedelta(days=1)
        out.append(Period(key, first, day))
        day += timedelta(days=1)
    return out


@dataclass(frozen=True)
class Totals:
    gross_fen: int = 0
    refunds_fen: int = 0
    units: int = 0
    refunded_units: int = 0
    orders: int = 0
    refunds: int = 0
    royalty_accrued_fen: int = 0
    royalty_reversed_fen: int = 0
    royalty_paid_fen: int = 0

    @property
    def net_fen(self) -> int:
        return self.gross_fen - self.refunds_fen

    @property
    def net_units(self) -> int:
        return self.units - self.refunded_units

    @property
    def royalty_net_fen(self) -> int:
        return self.royalty_accrued_fen - self.royalty_reversed_fen

    @property
    def royalty_outstanding_fen(self) -> int:
        """Earned and not yet paid out (negative when more was paid than earned)."""
        return self.royalty_net_fen - self.royalty_paid_fen

    @property
    def refund_rate_bps(self) -> int:
        return bps(self.refunds_fen, self.gross_fen)

    def as_dict(self) -> dict[str, int]:
        return {
            **{name: getattr(self, name) for name in MONEY_FIELDS},
            "net_fen": self.net_fen,
            "net_units": self.net_units,
            "royalty_net_fen": self.royalty_net_fen,
            "royalty_outstanding_fen": self.royalty_outstanding_fen,
            "refund_rate_bps": self.refund_rate_bps,
        }


def totals(rows: Iterable[Mapping[str, Any]]) -> Totals:
    sums = dict.fromkeys(MONEY_FIELDS, 0)
    for row in rows:
        _add(sums, row)
    return Totals(**sums)


def _add(sums: dict[str, int], row: Mapping[str, Any]) -> None:
    """Add a row's counters into `sums` (a dashboard adds thousands per request)."""
    for name in MONEY_FIELDS:
        if value := row.get(name):
            sums[name] += int(value)


def by_period(
    rows: Iterable[Mapping[str, Any]], start: date, end: date, granularity: Granularity
) -> list[tuple[Period, list[Mapping[str, Any]]]]:
    """Daily rows (each with a `day`) grouped per period; empty periods have none."""
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        day = date.fromisoformat(str(row["day"]))
        if start <= day <= end:
            grouped.setdefault(period_of(day, granularity), []).append(row)
    return [(p, grouped.get(p.key, [])) for p in periods(start, end, granularity)]


def series(
    rows: Iterable[Mapping[str, Any]], start: date, end: date, granularity: Granularity
) -> list[tuple[Period, Totals]]:
    """Daily rows (each with a `day`) summed per period; empty periods are zeros."""
    return [(p, totals(rs)) for p, rs in by_period(rows, start, end, granularity)]


def rank(rows: Iterable[Mapping[str, Any]], key: str, *, limit: int) -> list[tuple[str, Totals]]:
    """Daily rows grouped by `key` (product_id, relic_id...), best net sales
    first, then best net royalty, then the key (a stable order for ties)."""
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(str(row[key]), []).append(row)
    return _best_first([(k, totals(rs)) for k, rs in grouped.items()], limit)


def _best_first(ranked: list[tuple[str, Totals]], limit: int) -> list[tuple[str, Totals]]:
    ranked.sort(key=lambda kt: (-kt[1].net_fen, -kt[1].royalty_net_fen, kt[0]))
    return ranked[:limit]


def rank_nested(
    docs: Iterable[Mapping[str, Any]], mapping: str, *, limit: int
) -> list[tuple[str, Totals]]:
    """`rank` over the counters nested in museum-block documents (or older
    museum-day ones) under `mapping` (`products`, `relics`, `licensees`),
    keyed by the escaped id."""
    sums: dict[str, dict[str, int]] = {}
    for doc in docs:
        for key, counters in (doc.get(mapping) or {}).items():
            if (found := sums.get(key)) is None:
                found = sums[key] = dict.fromkeys(MONEY_FIELDS, 0)
            _add(found, counters)
    return _best_first([(field_id(k), Totals(**c)) for k, c in sums.items()], limit)


def bps(part: int, whole: int) -> int:
    """part/whole in basis points, rounded half up; 0 when whole is 0."""
    if whole <= 0:
        return 0
    return (part * 10_000 * 2 + whole) // (whole * 2)


@dataclass(frozen=True)
class GuaranteeProgress:
    earned_fen: int  # royalty accrued minus reversed, over the license's life
    minimum_guarantee_fen: int
    progress_bps: int  # earned / guarantee, capped at 10 000
    shortfall_fen: int  # what the licensee still owes to reach the guarantee


def guarantee_progress(
    *, accrued_fen: int, reversed_fen: int, minimum_guarantee_fen: int
) -> GuaranteeProgress:
    earned = accrued_fen - reversed_fen
    if minimum_guarantee_fen <= 0:
        return GuaranteeProgress(earned, 0, 10_000, 0)
    progress = min(bps(max(earned, 0), minimum_guarantee_fen), 10_000)
    return GuaranteeProgress(
        earned, minimum_guarantee_fen, progress, max(minimum_guarantee_fen - earned, 0)
    )
