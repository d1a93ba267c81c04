"""The history loader's hook (bench/history.py): fold past orders' own events
(placed, confirmed, paid, refunded) into the documents the orders service
would hold, through its domain (the order's transitions) and its store's doc
builders, and bulk-write them with their list entries and, for an order left
confirmed but unpaid, its expiry entry.

Not a hot path: it runs before the services start, reads what it needs by
`_id` (`$in` batches) and writes in bulk. Nothing goes into an outbox: the
past is already delivered, and orders publishes nothing in response to its
own events, so it returns [].
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from pymongo import ReplaceOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from contracts.orders import OrderConfirmed, OrderLine, OrderPaid, OrderPlaced, OrderRefunded
from orders.config import Settings
from orders.domain import Customer, Line, Order, OrderStatus
from orders.expiry_queue import QUEUE, enqueue_updates
from orders.filters import by_id, ids_in, rev_guard
from orders.order_docs import order_doc, order_from_doc
from orders.order_lists import LISTS, group_entries
from servicekit.envelope import Envelope

__all__ = ["load_history"]

Doc = dict[str, Any]
_WRITES = 1_000  # documents or updates per bulk command
_READS = 1_000  # ids per `$in`, all asked for in its first reply (see orders.filters)
_DUPLICATE_KEY = 11000
_PROVIDER = "sandbox"


async def load_history(
    db: AsyncDatabase[Doc],
    events: Sequence[Envelope],
    *,
    payment_window: timedelta | None = None,
) -> list[Envelope]:
    """Apply the orders' events (in order) and bulk-write the result; [] back."""
    window = payment_window or timedelta(seconds=Settings().payment_window_seconds)
    placed = [OrderPlaced.model_validate(e.data) for e in events if e.type == OrderPlaced.TYPE]
    titles = await _titles(db, {line.product_id for p in placed for line in p.lines})
    new: dict[str, Order] = {p.order_id: _placed(p, titles) for p in placed}
    known = [e.subject for e in events if e.type != OrderPlaced.TYPE and e.subject not in new]
    earlier = await _orders(db, known)  # placed in an earlier call
    revs = {order_id: order.rev for order_id, order in earlier.items()}
    orders = {**earlier, **new}
    for envelope in events:
        order = orders.get(envelope.subject)
        if order is not None:
            _apply(order, envelope, window)

    # lists first, as at checkout (order_lists): never an order missing from them
    await _lists(db, new.values())
    unpaid = [
        (o.order_id, o.payment_due_at)
        for o in orders.values()
        if o.status is OrderStatus.CONFIRMED and o.payment_due_at is not None
    ]
    await _bulk(db, QUEUE, enqueue_updates(unpaid))
    await _insert(db, [order_doc(o) for o in new.values()])
    await _bulk(
        db,
        "orders",
        [
            ReplaceOne(rev_guard(oid, rev), order_doc(orders[oid], rev=rev + 1))
            for oid, rev in revs.items()
        ],
    )
    return []


def _placed(event: OrderPlaced, titles: dict[str, str]) -> Order:
    customer = (
        Customer("guest", event.customer_id, event.customer_id)
        if "@" in event.customer_id
        else Customer("tourist", event.customer_id)
    )
    order = Order(
        order_id=event.order_id,
        customer=customer,
        lines=[_line(line, titles) for line in event.lines],
        status=OrderStatus.PENDING,
        placed_at=event.placed_at,
        order_token=secrets.token_urlsafe(24),
        idempotency_key=f"{customer.kind}:{customer.id}:history:{event.order_id}",
        fingerprint="history",
    )
    if order.total_fen != event.total_fen:
        raise ValueError(f"{event.order_id}: lines sum to {order.total_fen}, not {event.total_fen}")
    return order


def _line(line: OrderLine, titles: dict[str, str]) -> Line:
    return Line(
        line_id=line.line_id,
        product_id=line.product_id,
        sku=line.sku,
        title_en=titles.get(line.product_id, line.sku),
        quantity=line.quantity,
        unit_price_fen=line.unit_price_fen,
        license_id=line.license_id,
        licensee_id=line.licensee_id,
        relic_ids=tuple(line.relic_ids),
        museum_id=line.museum_id,
    )


def _apply(order: Order, envelope: Envelope, window: timedelta) -> None:
    """One event through the aggregate's own transitions (they refuse what
    the state machine forbids)."""
    if envelope.type == OrderConfirmed.TYPE:
        confirmed = OrderConfirmed.model_validate(envelope.data)
        order.confirm(at=confirmed.confirmed_at, payment_window=window)
    elif envelope.type == OrderPaid.TYPE:
        paid = OrderPaid.model_validate(envelope.data)
        payment = order.start_payment(
            payment_id=paid.payment_id, provider=_PROVIDER, at=paid.paid_at, idempotency_key=None
        )
        outcome = order.settle_payment(
            payment.payment_id,
            succeeded=True,
            amount_fen=paid.total_fen,
            provider_ref=f"hist_{paid.payment_id}",
            at=paid.paid_at,
        )
        if outcome != "captured":
            raise ValueError(f"{order.order_id}: payment {paid.payment_id} {outcome}")
    elif envelope.type == OrderRefunded.TYPE:
        refunded = OrderRefunded.model_validate(envelope.data)
        refund = order.refund(
            refund_id=refunded.refund_id,
            key=f"history:{refunded.refund_id}",
            fingerprint="history",
            requested=[(x.line_id, x.quantity) for x in refunded.lines],
            restock=refunded.restock,
            reason=None,
            at=refunded.refunded_at,
        )
        if refund.amount_fen != refunded.amount_fen:
            raise ValueError(
                f"{order.order_id}: refund {refund.amount_fen}, not {refunded.amount_fen}"
            )
    order.events = []  # already published


async def _titles(db: AsyncDatabase[Doc], product_ids: set[str]) -> dict[str, str]:
    """Product titles from the replica (lines carry none); the SKU where it lacks one."""
    ids = sorted(product_ids)
    titles: dict[str, str] = {}
    for start in range(0, len(ids), _READS):
        async for doc in db["products"].find(
            ids_in(ids[start : start + _READS]), batch_size=_READS + 1
        ):
            titles[doc["_id"]] = doc["title_en"]
    return titles


async def _orders(db: AsyncDatabase[Doc], order_ids: Sequence[str]) -> dict[str, Order]:
    ids = list(dict.fromkeys(order_ids))
    found: dict[str, Order] = {}
    for start in range(0, len(ids), _READS):
        async for doc in db["orders"].find(
            ids_in(ids[start : start + _READS]), batch_size=_READS + 1
        ):
            found[doc["_id"]] = order_from_doc(doc)
    return found


async def _lists(db: AsyncDatabase[Doc], orders: Iterable[Order]) -> None:
    """The list entries: buckets new to this call inserted whole (one
    insert_many per thousand, far faster than upserts); the few that an
    earlier call began (its last day, a tourist's month) get `$addToSet`."""
    entries, periods = group_entries(orders)
    fresh: list[Doc] = []
    updates: list[UpdateOne] = []
    existing = await _existing(db, [*entries, *periods])
    for bucket, items in entries.items():
        if bucket in existing:
            updates.append(UpdateOne(by_id(bucket), {"$addToSet": {"entries": {"$each": items}}}))
        else:
            fresh.append({"_id": bucket, "entries": items})
    for doc_id, found in periods.items():
        if doc_id in existing:
            change = {"$addToSet": {"periods": {"$each": sorted(found)}}}
            updates.append(UpdateOne(by_id(doc_id), change))
        else:
            fresh.append({"_id": doc_id, "periods": sorted(found)})
    for start in range(0, len(fresh), _WRITES):
        await db[LISTS].insert_many(fresh[start : start + _WRITES], ordered=False)
    await _bulk(db, LISTS, updates)


async def _existing(db: AsyncDatabase[Doc], ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), _READS):
        query = db[LISTS].find(
            ids_in(ids[start : start + _READS]), {"_id": 1}, batch_size=_READS + 1
        )
        found.update([doc["_id"] async for doc in query])
    return found


async def _bulk(db: AsyncDatabase[Doc], collection: str, writes: Sequence[Any]) -> None:
    for start in range(0, len(writes), _WRITES):
        await db[collection].bulk_write(list(writes[start : start + _WRITES]), ordered=False)


async def _insert(db: AsyncDatabase[Doc], docs: Sequence[Doc]) -> None:
    """Insert the new orders; one already there (a rerun) is left as it is."""
    for start in range(0, len(docs), _WRITES):
        try:
            await db["orders"].insert_many(list(docs[start : start + _WRITES]), ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(error.get("code") != _DUPLICATE_KEY for error in errors):
                raise
