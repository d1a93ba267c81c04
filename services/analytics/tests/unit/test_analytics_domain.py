"""Projection rules: buckets, one change per document, merging, coverage."""

from __future__ import annotations

import inspect
from datetime import UTC, date, datetime, timedelta

import contracts.catalog
import contracts.ip
import contracts.orders
from analytics.changes import (
    BLOCK_SPANS,
    PLATFORM_TOTALS,
    block_cover,
    blocks_of_day,
    field_id,
    field_key,
    last_minutes,
    museum_block_id,
    museum_block_ids,
    museum_day_ids,
    nested,
)
from analytics.domain import (
    LICENSES,
    MUSEUM_BLOCKS,
    MUSEUM_DAYS,
    MUSEUMS,
    PLATFORM_DAYS,
    PLATFORM_MINUTES,
    PROJECTED,
    Change,
    changes_for,
    local_day,
    merge,
    utc_minute,
)
from contracts.base import Event
from contracts.ip import LicenseGranted, RoyaltyAccrued, RoyaltyReversed
from contracts.orders import OrderLine, OrderPaid, OrderRefunded, RefundLine

PAID_AT = datetime(2026, 11, 20, 16, 30, tzinfo=UTC)  # 00:30 on the 21st in Shanghai


def line(i: int, product: str, quantity: int, price: int, museum: str | None = "m1") -> OrderLine:
    return OrderLine(
        line_id=f"l{i}",
        product_id=product,
        sku=f"SKU-{product}",
        quantity=quantity,
        unit_price_fen=price,
        line_total_fen=price * quantity,
        license_id="lic1",
        licensee_id="lee1",
        relic_ids=["r1", "r2"],
        museum_id=museum,
    )


def paid(*lines: OrderLine) -> OrderPaid:
    return OrderPaid(
        order_id="o1",
        payment_id="pay1",
        customer_id="c1",
        lines=list(lines),
        total_fen=sum(li.line_total_fen for li in lines),
        paid_at=PAID_AT,
    )


def by_doc(changes: list[Change]) -> dict[tuple[str, str], Change]:
    return {(c.collection, c.doc_id): c for c in changes}


def blocks(docs: dict[tuple[str, str], Change], museum: str, day: str) -> list[Change]:
    """The changes of the day's six blocks (1, 2, 4 ... 32 days)."""
    ids = [museum_block_id(museum, *b) for b in blocks_of_day(date.fromisoformat(day))]
    return [docs[(MUSEUM_BLOCKS, i)] for i in ids]


def test_days_are_shanghai_days_and_minutes_are_utc() -> None:
    assert local_day(datetime(2026, 11, 20, 15, 59, tzinfo=UTC)) == "2026-11-20"
    assert local_day(datetime(2026, 11, 20, 16, 0, tzinfo=UTC)) == "2026-11-21"
    assert local_day(datetime(2026, 12, 31, 17, 0, tzinfo=UTC)) == "2027-01-01"
    assert local_day(datetime(2026, 11, 20, 12, 0)) == "2026-11-20"  # naive means UTC
    assert utc_minute(PAID_AT) == "2026-11-20T16:30"


def test_a_paid_order_touches_each_document_once_with_summed_lines() -> None:
    changes = changes_for(paid(line(1, "p1", 2, 100), line(2, "p1", 1, 100)), PAID_AT)
    docs = by_doc(changes)
    assert len(docs) == len(changes)  # one change per document
    museum_day = docs[(MUSEUM_DAYS, "m1|2026-11-21")]
    assert museum_day.inc == {"gross_fen": 300, "units": 3, "orders": 1}
    assert museum_day.on_insert == {"museum_id": "m1", "day": "2026-11-21"}
    # the day's products, relics (each relic of the product is credited with
    # the line) and licensees, nested in each block that holds the day
    assert len([key for key in docs if key[0] == MUSEUM_BLOCKS]) == len(BLOCK_SPANS)
    for block in blocks(docs, "m1", "2026-11-21"):
        assert block.inc == {
            "products.p1.gross_fen": 300,
            "products.p1.units": 3,
            "relics.r1.gross_fen": 300,
            "relics.r1.units": 3,
            "relics.r2.gross_fen": 300,
            "relics.r2.units": 3,
            "licensees.lee1.gross_fen": 300,
            "licensees.lee1.units": 3,
        }
    first, thirty_two = blocks(docs, "m1", "2026-11-21")[0], blocks(docs, "m1", "2026-11-21")[-1]
    assert first.on_insert == {"museum_id": "m1", "first": "2026-11-21", "days": 1}
    assert thirty_two.on_insert == {"museum_id": "m1", "first": "2026-11-11", "days": 32}
    assert docs[(LICENSES, "lic1")].inc == {"gross_fen": 300, "units": 3}
    assert docs[(MUSEUMS, "m1")].set == {"license_ids.lic1": True}  # the museum's index
    assert docs[(PLATFORM_TOTALS, "all")].inc == {"gross_fen": 300, "orders": 1, "units": 3}
    assert docs[(PLATFORM_DAYS, "2026-11-21")].inc == {"gross_fen": 300, "orders": 1, "units": 3}
    assert docs[(PLATFORM_MINUTES, "2026-11-20T16:30")].inc == {"gross_fen": 300, "orders": 1}


def test_lines_without_a_museum_count_for_the_platform_only() -> None:
    docs = by_doc(changes_for(paid(line(1, "p1", 1, 500, museum=None)), PAID_AT))
    assert docs[(PLATFORM_DAYS, "2026-11-21")].inc["gross_fen"] == 500
    assert not [key for key in docs if key[0] in (MUSEUM_DAYS, MUSEUM_BLOCKS)]


def test_a_refund_counts_money_units_and_one_refund_per_museum() -> None:
    refund = OrderRefunded(
        order_id="o1",
        refund_id="rf1",
        lines=[
            RefundLine(
                line_id="l1",
                product_id="p1",
                sku="S",
                quantity=1,
                amount_fen=80,
                license_id=None,
                licensee_id=None,
                relic_ids=[],
                museum_id="m1",
            ),
            RefundLine(
                line_id="l2",
                product_id="p2",
                sku="S2",
                quantity=2,
                amount_fen=40,
                license_id=None,
                licensee_id=None,
                relic_ids=[],
                museum_id="m1",
            ),
        ],
        amount_fen=120,
        restock=True,
        refunded_at=PAID_AT,
    )
    docs = by_doc(changes_for(refund, PAID_AT))
    assert docs[(MUSEUM_DAYS, "m1|2026-11-21")].inc == {
        "refunds_fen": 120,
        "refunded_units": 3,
        "refunds": 1,
    }
    for block in blocks(docs, "m1", "2026-11-21"):
        assert block.inc == {
            "products.p1.refunds_fen": 80,
            "products.p1.refunded_units": 1,
            "products.p2.refunds_fen": 40,
            "products.p2.refunded_units": 2,
        }
    assert docs[(PLATFORM_DAYS, "2026-11-21")].inc == {
        "refunds_fen": 120,
        "refunds": 1,
        "refunded_units": 3,
    }


def test_royalty_goes_to_museum_product_relics_licensee_and_license() -> None:
    accrued = RoyaltyAccrued(
        license_id="lic1",
        posting_id="post1",
        licensee_id="lee1",
        museum_id="m1",
        order_id="o1",
        line_id="l1",
        product_id="p1",
        relic_ids=["r1", "r1"],
        quantity=1,
        net_sales_fen=1000,
        royalty_fen=100,
        splits=[],
        accrued_at=PAID_AT,
    )
    docs = by_doc(changes_for(accrued, PAID_AT))
    expected = {"royalty_accrued_fen": 100}
    assert docs[(MUSEUM_DAYS, "m1|2026-11-21")].inc == expected
    for block in blocks(docs, "m1", "2026-11-21"):
        assert block.inc == {
            "products.p1.royalty_accrued_fen": 100,
            "relics.r1.royalty_accrued_fen": 100,  # a repeated relic once
            "licensees.lee1.royalty_accrued_fen": 100,
        }
    assert docs[(LICENSES, "lic1")].inc == expected
    assert docs[(PLATFORM_TOTALS, "all")].inc == expected


def test_a_grant_sets_the_terms_and_never_sets_on_insert_what_it_sets() -> None:
    grant = LicenseGranted(
        license_id="lic1",
        licensee_id="lee1",
        museum_id="m1",
        asset_ids=[],
        relic_ids=["r1"],
        categories=["apparel"],
        territory="CN",
        channels=["online"],
        exclusivity="sole",
        starts_at=PAID_AT,
        ends_at=PAID_AT,
        rate_bps=800,
        minimum_guarantee_fen=50_000,
    )
    change = by_doc(changes_for(grant, PAID_AT))[(LICENSES, "lic1")]
    assert change.set["minimum_guarantee_fen"] == 50_000
    assert change.set["status"] == "active"
    assert not set(change.on_insert) & set(change.set)


def test_merge_sums_counters_keeps_the_last_set_and_the_first_insert() -> None:
    merged = merge(
        [
            Change("c", "a", {"x": 1}, {"s": 1}, {"dim": "first", "s": 0}),
            Change("c", "b", {"x": 5}),
            Change("c", "a", {"x": 2, "y": 3}, {"s": 2}, {"dim": "second"}),
        ]
    )
    docs = {c.doc_id: c for c in merged}
    assert docs["a"].inc == {"x": 3, "y": 3}
    assert docs["a"].set == {"s": 2}
    assert docs["a"].on_insert == {"dim": "first"}  # `s` is set, so never set on insert
    assert docs["b"].inc == {"x": 5}


def test_merging_events_equals_applying_them_one_by_one() -> None:
    events = [paid(line(1, "p1", 2, 100)), paid(line(1, "p2", 1, 250), line(2, "p1", 1, 100))]
    one_by_one: dict[tuple[str, str], dict[str, int]] = {}
    for event in events:
        for change in changes_for(event, PAID_AT):
            counters = one_by_one.setdefault((change.collection, change.doc_id), {})
            for name, amount in change.inc.items():
                counters[name] = counters.get(name, 0) + amount
    merged = merge(c for e in events for c in changes_for(e, PAID_AT))
    assert {(c.collection, c.doc_id): c.inc for c in merged} == one_by_one


def test_every_contract_event_is_projected() -> None:
    contracts_ = {
        cls
        for module in (contracts.catalog, contracts.orders, contracts.ip)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, Event) and "TYPE" in cls.__dict__
    }
    assert contracts_ == set(PROJECTED)


def test_recouped_royalty_is_tracked_per_license_and_given_back_on_reversal() -> None:
    common = {
        "license_id": "lic1",
        "posting_id": "post1",
        "licensee_id": "lee1",
        "museum_id": "m1",
        "order_id": "o1",
        "line_id": "l1",
        "product_id": "p1",
        "relic_ids": [],
        "quantity": 1,
        "net_sales_fen": 1000,
        "royalty_fen": 100,
        "splits": [],
        "recouped_fen": 40,
    }
    accrued = RoyaltyAccrued(**common, accrued_at=PAID_AT)
    reversed_ = RoyaltyReversed(**common, refund_id="rf1", reversed_at=PAID_AT)
    assert by_doc(changes_for(accrued, PAID_AT))[(LICENSES, "lic1")].inc == {
        "royalty_accrued_fen": 100,
        "royalty_recouped_fen": 40,
    }
    assert by_doc(changes_for(reversed_, PAID_AT))[(LICENSES, "lic1")].inc == {
        "royalty_reversed_fen": 100,
        "royalty_recouped_fen": -40,
    }


def test_ids_become_field_names_and_back_exactly() -> None:
    for ident in ("p1", "a.b", "$x", "100%", "%2E", "", "三星堆.面具", "a..b$"):
        key = field_key(ident)
        assert "." not in key
        assert not key.startswith("$")
        assert key
        assert field_id(key) == ident
    assert nested("products", "a.b", "units") == "products.a%2Eb.units"


def test_a_change_builds_the_document_an_upsert_would_insert() -> None:
    change = Change(
        MUSEUM_DAYS,
        "m1|d",
        {"gross_fen": 5, "products.p1.units": 2, "products.p2.units": 1},
        {"license_ids.l1": True},
        {"museum_id": "m1"},
    )
    assert change.document() == {
        "_id": "m1|d",
        "museum_id": "m1",
        "gross_fen": 5,
        "products": {"p1": {"units": 2}, "p2": {"units": 1}},
        "license_ids": {"l1": True},
    }


def test_bucket_ids_a_request_reads() -> None:
    assert museum_day_ids("m", date(2026, 12, 30), date(2027, 1, 1)) == [
        "m|2026-12-30",
        "m|2026-12-31",
        "m|2027-01-01",
    ]
    minutes = last_minutes(PAID_AT)
    assert len(minutes) == 60
    assert minutes[-1] == "2026-11-20T16:30"
    assert minutes[0] == "2026-11-20T15:31"


def test_a_day_lies_in_one_aligned_block_of_each_span() -> None:
    day = date(2026, 11, 21)  # day 20,778 since 1970-01-01
    assert blocks_of_day(day) == [
        (date(2026, 11, 21), 1),
        (date(2026, 11, 21), 2),
        (date(2026, 11, 19), 4),
        (date(2026, 11, 19), 8),
        (date(2026, 11, 11), 16),
        (date(2026, 11, 11), 32),
    ]
    for first, span in blocks_of_day(day):
        assert (first - date(1970, 1, 1)).days % span == 0
        assert first <= day < first + timedelta(days=span)


def test_any_range_is_exactly_a_few_aligned_blocks() -> None:
    origin = date(2025, 11, 1)
    for offset in range(70):
        for length in (1, 2, 7, 29, 30, 31, 32, 33, 64, 90, 365):
            start = origin + timedelta(days=offset)
            end = start + timedelta(days=length - 1)
            cover = block_cover(start, end)
            days = [first + timedelta(days=i) for first, span in cover for i in range(span)]
            assert days == [start + timedelta(days=i) for i in range(length)]  # exact, in order
            assert all(b in blocks_of_day(b[0]) for b in cover)  # each one a block writes to
            if length <= 30:
                assert len(cover) <= 8, (start, length)
    assert museum_block_ids("m", date(2026, 10, 22), date(2026, 11, 20)) == [
        "m|2026-10-22|4",
        "m|2026-10-26|16",
        "m|2026-11-11|8",
        "m|2026-11-19|2",
    ]
