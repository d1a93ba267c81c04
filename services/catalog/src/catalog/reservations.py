"""Stock reservations: the order saga's catalog side (events from orders).

Every stock movement is a ledger append keyed by (order or refund, step,
product), so it applies once whatever the redelivery, crash or second
consumer; each order's outcome is one inserted record, so the first decision
holds (see catalog.ledger for why the store forces this shape).
"""

from collections.abc import Sequence

from catalog.domain import Line, LineRejection, RejectionReason, check_lines, merge_lines
from catalog.ledger import Move, Outcome
from catalog.store import CatalogStore
from contracts.catalog import StockLine, StockRejected, StockReleased, StockReserved
from contracts.orders import OrderCancelled, OrderPlaced, OrderRefunded
from servicekit.consumer import EventMeta

__all__ = ["op_key", "release_stock", "reserve_stock", "restock_refund"]

_REASONS: dict[Move, RejectionReason] = {
    Move.INSUFFICIENT: "insufficient",
    Move.UNSELLABLE: "unsellable",
    Move.UNKNOWN: "unknown_product",
}


def op_key(key: str, what: str, product_id: str) -> str:
    """A stock movement's op (its marker's `_id`): order or refund, step, product."""
    return f"{key}:{what}:{product_id}"


async def reserve_stock(
    event: OrderPlaced,
    _meta: EventMeta,
    *,
    store: CatalogStore,
) -> None:
    """All lines or none, never oversold.

    Every stock movement is a ledger append keyed by (order, step, product),
    so it applies once whatever the redelivery, crash or second consumer. The
    outcome is one inserted record, so the first decision holds; whoever
    finds the order rejected gives back every hold the ledger shows for it."""
    lines = merge_lines((line.product_id, line.quantity) for line in event.lines)
    await _reserve(store, event.order_id, lines)


async def _reserve(store: CatalogStore, order_id: str, lines: Sequence[Line]) -> Outcome:
    ledger = store.ledger
    as_pairs = [(line.product_id, line.quantity) for line in lines]
    outcome = await ledger.outcome(order_id)
    if outcome is None:
        held_before = [
            line
            for line in lines
            if await ledger.applied(op_key(order_id, "hold", line.product_id))
        ]
        reasons: list[LineRejection] = []
        # as things stand it fails: reject without touching stock (one line:
        # its move checks the same, in fewer round trips)
        if not held_before and len(lines) > 1:
            reasons = check_lines(lines, await ledger.states([p for p, _ in as_pairs]))
        if not reasons:
            for index, line in enumerate(lines):
                result, balance = await ledger.move(
                    line.product_id,
                    op_key(order_id, "hold", line.product_id),
                    -line.quantity,
                    reason="reserve",
                    require_sellable=True,
                )
                if result in (Move.APPLIED, Move.ALREADY):
                    continue
                failed = LineRejection(line.product_id, line.quantity, balance, _REASONS[result])
                rest = lines[index + 1 :]
                others = check_lines(rest, await ledger.states([r.product_id for r in rest]))
                reasons = [failed, *others]
                break
        if reasons:
            outcome = await ledger.decide(
                order_id,
                "rejected",
                lines=as_pairs,
                reasons=reasons,
                event=StockRejected(order_id=order_id, reasons=[r.to_contract() for r in reasons]),
                event_id=f"{order_id}:stock.rejected",
            )
        else:
            outcome = await ledger.decide(
                order_id,
                "reserved",
                lines=as_pairs,
                event=StockReserved(
                    order_id=order_id,
                    lines=[StockLine(product_id=p, quantity=q) for p, q in as_pairs],
                ),
                event_id=f"{order_id}:stock.reserved",
            )
    if outcome.status in ("rejected", "cancelled"):
        await _give_back_holds(store, order_id, lines, "undo")
    return outcome


async def _give_back_holds(
    store: CatalogStore, order_id: str, lines: Sequence[Line], what: str
) -> list[Line]:
    """Give back every line the ledger shows held for the order; once each."""
    given: list[Line] = []
    for line in lines:
        if await store.ledger.applied(op_key(order_id, "hold", line.product_id)):
            await store.ledger.move(
                line.product_id, op_key(order_id, what, line.product_id), line.quantity, reason=what
            )
            given.append(line)
    return given


async def release_stock(
    event: OrderCancelled,
    _meta: EventMeta,
    *,
    store: CatalogStore,
) -> None:
    """Give back every line of a reserved order, once."""
    order_id = event.order_id
    lines = merge_lines((line.product_id, line.quantity) for line in event.lines)
    outcome = await store.ledger.decide(
        order_id, "cancelled", lines=[(x.product_id, x.quantity) for x in lines]
    )
    if outcome.status == "cancelled":
        # cancelled before any reservation: nothing will be reserved later; a
        # placement that raced us finds this and gives its holds back
        await _give_back_holds(store, order_id, lines, "undo")
    elif outcome.status == "reserved":
        given = await _give_back_holds(store, order_id, lines, "release")
        await store.ledger.note_once(
            f"{order_id}#released",
            StockReleased(
                order_id=order_id,
                lines=[StockLine(product_id=x.product_id, quantity=x.quantity) for x in given],
                reason="order_cancelled",
                released_at=event.cancelled_at,
            ),
            event_id=f"{order_id}:stock.released",
        )


async def restock_refund(
    event: OrderRefunded,
    _meta: EventMeta,
    *,
    store: CatalogStore,
) -> None:
    """Refunded goods that came back go on the shelf again, once per refund,
    only for products this order reserved and not after a release."""
    if not event.restock:
        return
    ledger = store.ledger
    outcome = await ledger.outcome(event.order_id)
    if outcome is None or outcome.status != "reserved":
        return
    if await ledger.has_note(f"{event.order_id}#released"):
        return
    restocked: list[Line] = []
    for line in merge_lines((r.product_id, r.quantity) for r in event.lines):
        if not await ledger.applied(op_key(event.order_id, "hold", line.product_id)):
            continue
        await ledger.move(
            line.product_id,
            op_key(event.refund_id, "restock", line.product_id),
            line.quantity,
            reason="restock",
        )
        restocked.append(line)
    if restocked:
        await ledger.note_once(
            f"{event.refund_id}#restocked",
            StockReleased(
                order_id=event.order_id,
                lines=[StockLine(product_id=x.product_id, quantity=x.quantity) for x in restocked],
                reason="refund_restocked",
                released_at=event.refunded_at,
            ),
            event_id=f"{event.refund_id}:stock.released",
        )
