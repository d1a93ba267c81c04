"""The reservation fold (catalog.stock_fold): a batch of order events decided
in memory, in order, as the one-by-one consumer would. Pure, no I/O."""

from collections.abc import Sequence
from datetime import UTC, datetime

from catalog.stock_fold import (
    Decided,
    PlannedMove,
    StockEvent,
    StockView,
    fold,
    note_ids,
    op_key,
    ops_of,
)
from contracts.catalog import StockRejected, StockReleased, StockReserved
from contracts.orders import OrderCancelled, OrderLine, OrderPlaced, OrderRefunded, RefundLine

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def _line(order_id: str, n: int, product_id: str, quantity: int) -> OrderLine:
    return OrderLine(
        line_id=f"{order_id}-{n}",
        product_id=product_id,
        sku=f"SKU-{product_id}",
        quantity=quantity,
        unit_price_fen=100,
        line_total_fen=100 * quantity,
        license_id="lic-1",
        licensee_id="licensee-1",
        relic_ids=["rel-1"],
        museum_id="mus-1",
    )


def placed(order_id: str, *lines: tuple[str, int]) -> OrderPlaced:
    order_lines = [_line(order_id, n, p, q) for n, (p, q) in enumerate(lines)]
    total = sum(x.line_total_fen for x in order_lines)
    return OrderPlaced(
        order_id=order_id, customer_id="c", lines=order_lines, total_fen=total, placed_at=NOW
    )


def cancelled(order: OrderPlaced) -> OrderCancelled:
    return OrderCancelled(
        order_id=order.order_id,
        reason="payment_expired",
        lines=order.lines,
        stock_was_reserved=True,
        cancelled_at=NOW,
    )


def refunded(order: OrderPlaced, refund_id: str, quantity: int, restock: bool = True):  # noqa: ANN201
    line = order.lines[0]
    return OrderRefunded(
        order_id=order.order_id,
        refund_id=refund_id,
        lines=[
            RefundLine(
                line_id=line.line_id,
                product_id=line.product_id,
                sku=line.sku,
                quantity=quantity,
                amount_fen=100 * quantity,
                license_id=line.license_id,
                licensee_id=line.licensee_id,
                relic_ids=line.relic_ids,
                museum_id=line.museum_id,
            )
        ],
        amount_fen=100 * quantity,
        restock=restock,
        refunded_at=NOW,
    )


def view(**stock: int) -> StockView:
    return StockView(
        sellable=dict.fromkeys(stock, True), heads={p: (7, q) for p, q in stock.items()}
    )


def moves(events: Sequence[StockEvent], start: StockView) -> list[PlannedMove]:
    return [m for s in fold(events, start).steps for m in s.moves]


def test_each_order_sees_what_the_earlier_ones_left_all_lines_or_none() -> None:
    events = [placed("o1", ("mug", 2), ("pin", 1)), placed("o2", ("mug", 1), ("pin", 5))]
    events.append(placed("o3", ("mug", 1)))
    plan = fold(events, view(mug=4, pin=3))

    statuses = [s.record.status for s in plan.steps if s.record]
    assert statuses == ["reserved", "rejected", "reserved"]
    assert [(m.op, m.seq, m.delta, m.balance) for s in plan.steps for m in s.moves] == [
        ("o1:hold:mug", 8, -2, 2),
        ("o1:hold:pin", 8, -1, 2),
        ("o3:hold:mug", 9, -1, 1),
    ]
    rejected = plan.steps[1].record
    assert rejected is not None
    assert isinstance(rejected.event, StockRejected)
    assert [(r.product_id, r.requested, r.available) for r in rejected.reasons] == [("pin", 5, 2)]
    assert rejected.event_id == "o2:stock.rejected"
    assert plan.short == {"pin"}
    assert plan.view.heads == {"mug": (9, 1), "pin": (8, 2)}


def test_unknown_and_unsellable_products_are_rejected_with_their_reason() -> None:
    start = view(mug=4)
    start.sellable["retired"] = False
    plan = fold([placed("o1", ("mug", 1), ("retired", 1), ("ghost", 1))], start)
    record = plan.steps[0].record
    assert record is not None
    assert [r.reason for r in record.reasons] == ["unsellable", "unknown_product"]
    assert plan.steps[0].moves == ()


def test_a_decided_order_and_applied_ops_are_not_applied_again() -> None:
    order = placed("o1", ("mug", 2))
    start = view(mug=4)
    start.outcomes["o1"] = Decided("reserved", (("mug", 2),))
    start.notes.add("o1#released")
    plan = fold([order, cancelled(order), refunded(order, "r1", 1)], start)
    assert [(s.moves, s.record) for s in plan.steps] == [((), None)] * 3


def test_a_hold_of_a_crashed_attempt_is_kept_not_taken_twice() -> None:
    start = view(mug=4, pin=4)
    start.applied.add(op_key("o1", "hold", "mug"))  # landed before the crash
    plan = fold([placed("o1", ("mug", 2), ("pin", 1))], start)
    [step] = plan.steps
    assert [m.op for m in step.moves] == ["o1:hold:pin"]
    assert step.record is not None
    assert step.record.status == "reserved"


def test_a_rejection_with_holds_is_recorded_first_and_the_holds_go_back_next_round() -> None:
    start = view(mug=4, pin=0)
    start.applied.add(op_key("o1", "hold", "mug"))
    events = [placed("o1", ("mug", 2), ("pin", 1)), placed("o2", ("mug", 1))]
    plan = fold(events, start)
    [step] = plan.steps
    assert step.record is not None
    assert (step.record.status, step.moves, step.again) == ("rejected", (), True)
    assert plan.deferred == [1]

    start.outcomes["o1"] = Decided("rejected")  # the record landed
    again = fold(events, start)
    assert [(m.op, m.delta) for s in again.steps for m in s.moves] == [
        ("o1:undo:mug", 2),
        ("o2:hold:mug", -1),
    ]


def test_a_cancel_in_the_same_batch_releases_what_the_order_held_once() -> None:
    order = placed("o1", ("mug", 2), ("mug", 1), ("pin", 1))
    plan = fold([order, cancelled(order), cancelled(order)], view(mug=5, pin=5))
    assert [(m.op, m.delta) for m in (plan.steps[1].moves)] == [
        ("o1:release:mug", 3),
        ("o1:release:pin", 1),
    ]
    note = plan.steps[1].record
    assert note is not None
    assert (note.record_id, note.status, note.event_id) == (
        "o1#released",
        "note",
        "o1:stock.released",
    )
    assert isinstance(note.event, StockReleased)
    assert note.event.reason == "order_cancelled"
    assert plan.steps[2].record is None  # the redelivered cancel
    assert plan.view.heads == {"mug": (9, 5), "pin": (9, 5)}


def test_a_cancel_before_any_reservation_wins_and_the_late_placement_holds_nothing() -> None:
    order = placed("o1", ("mug", 2))
    plan = fold([cancelled(order), order], view(mug=5))
    first = plan.steps[0].record
    assert first is not None
    assert (first.status, first.event) == ("cancelled", None)
    assert plan.steps[1] == plan.steps[1].__class__(1)  # nothing to do


def test_a_restocking_refund_puts_back_once_and_never_after_a_release() -> None:
    order = placed("o1", ("mug", 3))
    refund = refunded(order, "r1", 2)
    plan = fold([order, refund, refund, refunded(order, "r2", 1, restock=False)], view(mug=5))
    assert [(m.op, m.delta) for s in plan.steps for m in s.moves] == [
        ("o1:hold:mug", -3),
        ("r1:restock:mug", 2),
    ]
    record = plan.steps[1].record
    assert record is not None
    assert isinstance(record.event, StockReleased)
    assert (record.record_id, record.event.reason) == ("r1#restocked", "refund_restocked")

    released = fold([order, cancelled(order), refund], view(mug=5))
    assert released.steps[2].moves == ()
    assert released.steps[2].record is None


def test_one_batch_ends_where_one_event_at_a_time_ends() -> None:
    a, b, c = placed("a", ("mug", 2)), placed("b", ("mug", 2), ("pin", 1)), placed("c", ("mug", 2))
    events: list[StockEvent] = [
        a,
        b,
        cancelled(a),
        c,
        refunded(b, "rb", 1),
        placed("d", ("pin", 9)),
    ]
    together = fold(events, view(mug=4, pin=5))
    one_by_one = view(mug=4, pin=5)
    singles = []
    for event in events:
        plan = fold([event], one_by_one)
        singles.extend((s.moves, s.record) for s in plan.steps)
        one_by_one = plan.view
    assert [(s.moves, s.record) for s in together.steps] == singles
    assert together.view == one_by_one
    reserved = [
        s.record.record_id for s in together.steps if s.record and s.record.status == "reserved"
    ]
    assert reserved == ["a", "b", "c"]
    assert isinstance(together.steps[0].record.event, StockReserved)  # type: ignore[union-attr]


def test_the_batch_reads_name_its_records_and_ops() -> None:
    order = placed("o1", ("mug", 1))
    events = [order, cancelled(order), refunded(order, "r1", 1)]
    assert note_ids(events) == ["o1#released", "r1#restocked"]
    assert ops_of(events) == ["o1:hold:mug", "o1:release:mug", "o1:undo:mug", "r1:restock:mug"]
