"""A poll folded into one guarded change per document (analytics.batch), pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from analytics.batch import DocFold, fold_batch, mark_key
from analytics.domain import MUSEUM_DAYS, PLATFORM_DAYS, Change, changes_for, merge
from contracts.orders import OrderLine, OrderPaid, OrderRefunded, RefundLine
from servicekit.consumer import EventMeta
from servicekit.idempotency import hwm_field

AT = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Where:
    id: str
    offset: int
    partition: int = 0
    topic: str = "orders.orders"
    time: datetime = AT


def line(order: str, quantity: int) -> OrderLine:
    return OrderLine(
        line_id=f"{order}-1",
        product_id="p1",
        sku="SKU-1",
        quantity=quantity,
        unit_price_fen=500,
        line_total_fen=500 * quantity,
        license_id="lic1",
        licensee_id="lee1",
        relic_ids=["r1"],
        museum_id="m1",
    )


def paid(order: str, quantity: int = 1) -> OrderPaid:
    return OrderPaid(
        order_id=order,
        payment_id=f"pay-{order}",
        customer_id="c1",
        lines=[line(order, quantity)],
        total_fen=500 * quantity,
        paid_at=AT,
    )


def refunded(order: str, quantity: int) -> OrderRefunded:
    refund_line = RefundLine(
        line_id=f"{order}-1",
        product_id="p1",
        sku="SKU-1",
        quantity=quantity,
        amount_fen=500 * quantity,
        license_id="lic1",
        licensee_id="lee1",
        relic_ids=["r1"],
        museum_id="m1",
    )
    return OrderRefunded(
        order_id=order,
        refund_id=f"ref-{order}",
        lines=[refund_line],
        amount_fen=500 * quantity,
        restock=False,
        refunded_at=AT,
    )


def doc(folded: list[DocFold], collection: str, doc_id: str) -> DocFold:
    (found,) = [d for d in folded if d.collection == collection and d.doc_id == doc_id]
    return found


def test_the_mark_is_servicekits_high_water_field() -> None:
    meta = EventMeta("e", "t", "s", "x", AT, "orders.orders", 4, 9)
    assert hwm_field(meta) == f"_hwm.{mark_key('orders.orders', 4)}"


def test_one_change_per_document_for_the_whole_batch() -> None:
    items = [(paid(f"o{i}", 1 + i), Where(f"e{i}", 10 + i, partition=i % 2)) for i in range(4)]
    folded = fold_batch(items, seen=set())
    assert folded.ids == ["e0", "e1", "e2", "e3"]
    keys = [(d.collection, d.doc_id) for d in folded.docs]
    assert len(keys) == len(set(keys))  # one per document
    day = doc(folded.docs, MUSEUM_DAYS, "m1|2026-11-20").after({})
    assert day is not None
    assert day.change.inc["gross_fen"] == 500 * (1 + 2 + 3 + 4)
    assert day.change.inc["orders"] == 4
    assert day.marks == {
        mark_key("orders.orders", 0): (10, 12),
        mark_key("orders.orders", 1): (11, 13),
    }


def test_known_ids_and_repeats_are_skipped_the_first_kept() -> None:
    items = [
        (paid("o1"), Where("e1", 1)),
        (paid("o2"), Where("e2", 2)),
        (paid("o1"), Where("e1", 3)),  # republished copy, same batch
        (paid("o3"), Where("e3", 4)),
    ]
    folded = fold_batch(items, seen={"e2"})
    assert folded.ids == ["e1", "e3"]
    assert folded.skipped == 2
    day = doc(folded.docs, PLATFORM_DAYS, "2026-11-20")
    assert [offset for _, offset, _ in day.parts] == [1, 4]


def test_only_the_parts_past_the_marks_count_on_redelivery() -> None:
    items = [(paid(f"o{i}"), Where(f"e{i}", i, partition=i % 2)) for i in range(6)]
    day = doc(fold_batch(items, seen=set()).docs, PLATFORM_DAYS, "2026-11-20")
    p0, p1 = mark_key("orders.orders", 0), mark_key("orders.orders", 1)
    assert day.after({p0: 4, p1: 5}) is None  # all counted
    rest = day.after({p0: 2, p1: 1})  # p0 up to 2 and p1 up to 1 counted
    assert rest is not None
    assert rest.change.inc["orders"] == 3  # offsets 4 (p0), 3 and 5 (p1)
    assert rest.marks == {p0: (4, 4), p1: (3, 5)}


def test_two_events_of_one_order_fold_as_applied_one_by_one() -> None:
    items = [(paid("o1", 3), Where("e1", 1)), (refunded("o1", 1), Where("e2", 2))]
    together = {(d.collection, d.doc_id): d.after({}) for d in fold_batch(items, set()).docs}
    one_by_one: list[Change] = []
    for event, where in items:
        one_by_one.extend(changes_for(event, where.time))
    for change in merge(one_by_one):
        guarded = together[(change.collection, change.doc_id)]
        assert guarded is not None
        assert guarded.change == change
