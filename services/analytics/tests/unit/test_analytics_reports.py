"""Dashboard arithmetic: periods, sums, rankings, rates, guarantees."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from analytics.reports import (
    Granularity,
    bps,
    guarantee_progress,
    periods,
    rank,
    rank_nested,
    series,
    today,
    totals,
)


def test_weeks_are_iso_weeks_clipped_to_the_range() -> None:
    got = periods(date(2026, 11, 20), date(2026, 12, 2), Granularity.WEEK)
    assert [(p.key, p.start, p.end) for p in got] == [
        ("2026-W47", date(2026, 11, 20), date(2026, 11, 22)),
        ("2026-W48", date(2026, 11, 23), date(2026, 11, 29)),
        ("2026-W49", date(2026, 11, 30), date(2026, 12, 2)),
    ]


def test_months_and_days() -> None:
    months = periods(date(2026, 11, 30), date(2027, 1, 1), Granularity.MONTH)
    assert [p.key for p in months] == ["2026-11", "2026-12", "2027-01"]
    days = periods(date(2026, 2, 27), date(2026, 3, 1), Granularity.DAY)
    assert [p.key for p in days] == ["2026-02-27", "2026-02-28", "2026-03-01"]


def test_series_sums_days_per_period_and_fills_gaps_with_zeros() -> None:
    rows = [
        {"day": "2026-11-20", "gross_fen": 100, "orders": 1},
        {"day": "2026-11-22", "gross_fen": 50, "refunds_fen": 20, "orders": 1},
        {"day": "2026-11-23", "gross_fen": 7},
        {"day": "2026-12-31", "gross_fen": 999},  # outside the range
    ]
    by_week = series(rows, date(2026, 11, 20), date(2026, 11, 24), Granularity.WEEK)
    assert [(p.key, t.gross_fen, t.net_fen, t.orders) for p, t in by_week] == [
        ("2026-W47", 150, 130, 2),
        ("2026-W48", 7, 7, 0),
    ]
    by_day = series(rows, date(2026, 11, 20), date(2026, 11, 21), Granularity.DAY)
    assert [t.gross_fen for _, t in by_day] == [100, 0]


def test_totals_derive_net_outstanding_and_refund_rate() -> None:
    t = totals(
        [
            {"gross_fen": 10_000, "refunds_fen": 1_234, "units": 5, "refunded_units": 1},
            {"royalty_accrued_fen": 900, "royalty_reversed_fen": 100, "royalty_paid_fen": 300},
        ]
    )
    assert t.net_fen == 8_766
    assert t.net_units == 4
    assert t.royalty_net_fen == 800
    assert t.royalty_outstanding_fen == 500
    assert t.refund_rate_bps == 1_234
    assert t.as_dict()["refund_rate_bps"] == 1_234


@pytest.mark.parametrize(
    ("part", "whole", "expected"),
    [(0, 0, 0), (1, 3, 3_333), (2, 3, 6_667), (1, 20_000, 1), (1, 20_001, 0), (5, 5, 10_000)],
)
def test_basis_points_round_half_up(part: int, whole: int, expected: int) -> None:
    assert bps(part, whole) == expected


def test_rank_orders_by_net_sales_then_royalty_then_key() -> None:
    rows = [
        {"product_id": "b", "gross_fen": 100},
        {"product_id": "a", "gross_fen": 100},
        {"product_id": "c", "gross_fen": 300, "refunds_fen": 250},
        {"product_id": "d", "gross_fen": 100, "royalty_accrued_fen": 5},
        {"product_id": "a", "gross_fen": 1},
    ]
    ranked = rank(rows, "product_id", limit=3)
    assert [(k, t.net_fen) for k, t in ranked] == [("a", 101), ("d", 100), ("b", 100)]


def test_rank_nested_sums_each_id_over_the_days() -> None:
    days = [
        {"day": "d1", "products": {"a%2Eb": {"gross_fen": 100}, "c": {"gross_fen": 50}}},
        {"day": "d2", "products": {"c": {"gross_fen": 60, "refunds_fen": 5}}},
        {"day": "d3"},
    ]
    ranked = rank_nested(days, "products", limit=10)
    assert [(k, t.net_fen) for k, t in ranked] == [("c", 105), ("a.b", 100)]


def test_guarantee_progress_and_shortfall() -> None:
    g = guarantee_progress(accrued_fen=3_000, reversed_fen=500, minimum_guarantee_fen=10_000)
    assert (g.earned_fen, g.progress_bps, g.shortfall_fen) == (2_500, 2_500, 7_500)
    over = guarantee_progress(accrued_fen=20_000, reversed_fen=0, minimum_guarantee_fen=10_000)
    assert (over.progress_bps, over.shortfall_fen) == (10_000, 0)
    none = guarantee_progress(accrued_fen=10, reversed_fen=0, minimum_guarantee_fen=0)
    assert (none.progress_bps, none.shortfall_fen) == (10_000, 0)


def test_today_is_the_shanghai_date() -> None:
    assert today(datetime(2026, 11, 20, 16, 1, tzinfo=UTC)) == date(2026, 11, 21)
