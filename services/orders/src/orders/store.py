"""The orders database: orders (with their payments, refunds and outbox),
carts (cart_store) and the replica of products (product_store). No Mongo
types escape these modules.

Every order write is one single-document update that checks and bumps `rev`
(optimistic concurrency) and pushes the change's events into `_outbox`, so the
state and its events are never apart. Before it, the write announces itself
where a crash could otherwise hide it: its outbox marker (servicekit.outbox),
a new order's list entries (order_lists), a confirmation's expiry entry
(expiry_queue).

Every command names its documents by `_id` (an equality, or a bounded `$in`):
the local store scans the whole collection for any other filter. The filters
are built by the functions below, which hot_queries.py lists.

The outbox relay is servicekit's. Single-document atomicity holds on both
stores (on FerretDB through the local stack's write-serialising proxy, see
deploy/local/ferretdb), so the rev check is exact everywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Collection, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts.orders import OrderConfirmed, RejectionReason
from orders.cart_store import CartStore
from orders.domain import (
    Customer,
    Line,
    LineStatus,
    Order,
    OrderStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundedLine,
)
from orders.expiry_queue import DueBucket, ExpiryQueue
from orders.filters import by_id, ids_in, rev_guard
from orders.order_lists import OrderLists, Position, Scope
from orders.product_store import ProductStore
from servicekit.outbox import attach_events, mark_pending, outbox_entry, push_events

__all__ = [
    "CartStore",
    "IdempotencyKeyTaken",
    "OrderSlice",
    "OrderStore",
    "ProductStore",
    "ensure_indexes",
    "order_doc",
    "order_from_doc",
]

SOURCE = "orders"
_BATCH = 100  # ids per `$in`: one batch, never a getMore (see orders.filters)
_EXAMINE_AT_LEAST = 1_000  # list entries one page may look at (with a status filter)

Doc = dict[str, Any]


class IdempotencyKeyTaken(Exception):
    """Another order already holds this (scoped) idempotency key."""


async def ensure_indexes(db: AsyncDatabase[Doc]) -> None:
    # the only secondary index: an insert checks it (a point check on SQLite);
    # no query filters by another field than `_id`
    orders = db["orders"]
    await orders.create_index([("idempotency_key", ASCENDING)], unique=True, name="idempotency")


# --- orders ----------------------------------------------------------------------


def _line_to_doc(line: Line) -> Doc:
    return {
        "line_id": line.line_id,
        "product_id": line.product_id,
        "sku": line.sku,
        "title_en": line.title_en,
        "quantity": line.quantity,
        "unit_price_fen": line.unit_price_fen,
        "license_id": line.license_id,
        "licensee_id": line.licensee_id,
        "relic_ids": list(line.relic_ids),
        "museum_id": line.museum_id,
        "refunded_quantity": line.refunded_quantity,
        "status": line.status.value,
        "shipped_at": line.shipped_at,
        "fulfilled_at": line.fulfilled_at,
    }


def _line_from_doc(doc: Doc) -> Line:
    return Line(
        line_id=doc["line_id"],
        product_id=doc["product_id"],
        sku=doc["sku"],
        title_en=doc["title_en"],
        quantity=doc["quantity"],
        unit_price_fen=doc["unit_price_fen"],
        license_id=doc["license_id"],
        licensee_id=doc["licensee_id"],
        relic_ids=tuple(doc["relic_ids"]),
        museum_id=doc["museum_id"],
        refunded_quantity=doc["refunded_quantity"],
        status=LineStatus(doc["status"]),
        shipped_at=doc.get("shipped_at"),
        fulfilled_at=doc.get("fulfilled_at"),
    )


def _payment_to_doc(p: Payment) -> Doc:
    return {
        "payment_id": p.payment_id,
        "amount_fen": p.amount_fen,
        "status": p.status.value,
        "provider": p.provider,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
        "provider_ref": p.provider_ref,
        "idempotency_key": p.idempotency_key,
        "failure_reason": p.failure_reason,
    }


def _payment_from_doc(doc: Doc) -> Payment:
    return Payment(
        payment_id=doc["payment_id"],
        amount_fen=doc["amount_fen"],
        status=PaymentStatus(doc["status"]),
        provider=doc["provider"],
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        provider_ref=doc.get("provider_ref"),
        idempotency_key=doc.get("idempotency_key"),
        failure_reason=doc.get("failure_reason"),
    )


def _refund_to_doc(r: Refund) -> Doc:
    return {
        "refund_id": r.refund_id,
        "key": r.key,
        "fingerprint": r.fingerprint,
        "lines": [
            {"line_id": x.line_id, "quantity": x.quantity, "amount_fen": x.amount_fen}
            for x in r.lines
        ],
        "amount_fen": r.amount_fen,
        "restock": r.restock,
        "reason": r.reason,
        "created_at": r.created_at,
    }


def _refund_from_doc(doc: Doc) -> Refund:
    return Refund(
        refund_id=doc["refund_id"],
        key=doc["key"],
        fingerprint=doc["fingerprint"],
        lines=tuple(
            RefundedLine(x["line_id"], x["quantity"], x["amount_fen"]) for x in doc["lines"]
        ),
        amount_fen=doc["amount_fen"],
        restock=doc["restock"],
        reason=doc.get("reason"),
        created_at=doc["created_at"],
    )


def _state(order: Order) -> Doc:
    """Every persisted field but `_id` and `rev`."""
    return {
        "customer": {
            "kind": order.customer.kind,
            "id": order.customer.id,
            "email": order.customer.email,
        },
        "lines": [_line_to_doc(line) for line in order.lines],
        "licensee_ids": order.licensee_ids,
        "total_fen": order.total_fen,
        "status": order.status.value,
        "placed_at": order.placed_at,
        "order_token": order.order_token,
        "idempotency_key": order.idempotency_key,
        "fingerprint": order.fingerprint,
        "confirmed_at": order.confirmed_at,
        "payment_due_at": order.payment_due_at,
        "paid_at": order.paid_at,
        "closed_at": order.closed_at,
        "fulfilled_at": order.fulfilled_at,
        "rejection_reasons": [r.model_dump() for r in order.rejection_reasons],
        "cancel_reason": order.cancel_reason,
        "payments": [_payment_to_doc(p) for p in order.payments],
        "refunds": [_refund_to_doc(r) for r in order.refunds],
    }


def order_doc(order: Order, *, rev: int = 1) -> Doc:
    """The document of an order as stored, without events (history.py's bulk load)."""
    return {"_id": order.order_id, **_state(order), "rev": rev}


def order_from_doc(doc: Doc) -> Order:
    customer = doc["customer"]
    return Order(
        order_id=doc["_id"],
        customer=Customer(kind=customer["kind"], id=customer["id"], email=customer.get("email")),
        lines=[_line_from_doc(line) for line in doc["lines"]],
        status=OrderStatus(doc["status"]),
        placed_at=doc["placed_at"],
        order_token=doc["order_token"],
        idempotency_key=doc["idempotency_key"],
        fingerprint=doc["fingerprint"],
        confirmed_at=doc.get("confirmed_at"),
        payment_due_at=doc.get("payment_due_at"),
        paid_at=doc.get("paid_at"),
        closed_at=doc.get("closed_at"),
        fulfilled_at=doc.get("fulfilled_at"),
        rejection_reasons=[RejectionReason(**r) for r in doc.get("rejection_reasons", [])],
        cancel_reason=doc.get("cancel_reason"),
        payments=[_payment_from_doc(p) for p in doc.get("payments", [])],
        refunds=[_refund_from_doc(r) for r in doc.get("refunds", [])],
        rev=doc["rev"],
    )


def _outbox(order: Order) -> list[Doc]:
    return [outbox_entry(p.event, source=SOURCE, event_id=p.event_id) for p in order.events]


@dataclass(frozen=True)
class OrderSlice:
    """One page of a list; `next` is where the following page starts (None: the end)."""

    orders: list[Order]
    next: Position | None


def _confirms(order: Order) -> bool:
    return any(isinstance(p.event, OrderConfirmed) for p in order.events)


class OrderStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._orders: AsyncCollection[Doc] = db["orders"]
        self._lists = OrderLists(db)
        self._expiry = ExpiryQueue(db)

    async def get(self, order_id: str) -> Order | None:
        doc = await self._orders.find_one(by_id(order_id))
        return order_from_doc(doc) if doc else None

    async def get_many(self, order_ids: Sequence[str]) -> dict[str, Order]:
        """The orders that exist among these ids, by `_id` (`$in`, a bounded batch each)."""
        ids = list(dict.fromkeys(order_ids))
        found: dict[str, Order] = {}
        for start in range(0, len(ids), _BATCH):
            async for doc in self._orders.find(
                ids_in(ids[start : start + _BATCH]), batch_size=_BATCH + 1
            ):
                found[doc["_id"]] = order_from_doc(doc)
        return found

    async def insert(self, order: Order) -> None:
        """Insert a new order with its events; IdempotencyKeyTaken when its id
        (derived from the idempotency key) or its key is taken. Its list
        entries and its outbox marker are written first (see order_lists)."""
        entries = _outbox(order)
        await asyncio.gather(self._lists.add([order]), mark_pending(self._orders, order.order_id))
        doc = attach_events(order_doc(order), entries)
        try:
            await self._orders.insert_one(doc)
        except DuplicateKeyError as exc:
            raise IdempotencyKeyTaken(order.idempotency_key) from exc
        order.rev, order.events, order.changed = 1, [], False

    async def save(self, order: Order) -> bool:
        """Write the order's changes and events if nobody changed it since it was
        read; False when someone did (reload and decide again). A confirmation
        enters the expiry queue first, events their outbox marker."""
        entries = _outbox(order)
        before = []
        if _confirms(order) and order.payment_due_at is not None:
            before.append(self._expiry.enqueue([(order.order_id, order.payment_due_at)]))
        if entries:
            before.append(mark_pending(self._orders, order.order_id))
        await asyncio.gather(*before)
        update = push_events({"$set": {**_state(order), "rev": order.rev + 1}}, entries)
        result = await self._orders.update_one(rev_guard(order.order_id, order.rev), update)
        if result.matched_count != 1:
            return False
        order.rev, order.events, order.changed = order.rev + 1, [], False
        return True

    async def page(
        self,
        scope: Scope,
        *,
        status: OrderStatus | None,
        limit: int,
        before: Position | None,
        skip: int = 0,
    ) -> OrderSlice:
        """Up to `limit` orders of the list, newest first, strictly before
        `before`. With a status filter a page may come back short (it looks at
        a bounded number of entries); `next` then says where to go on."""
        budget = skip + max(_EXAMINE_AT_LEAST, 4 * limit)
        found: list[Order] = []
        examined, last = 0, before
        walk = self._lists.walk(scope, before)
        async with aclosing(walk):
            while True:
                wanted = limit - len(found) + skip
                size = min(_BATCH, budget - examined, wanted if status is None else _BATCH)
                positions = await _take(walk, max(size, 1))
                if not positions:
                    return OrderSlice(found, None)
                orders = await self.get_many([p.order_id for p in positions])
                for position in positions:
                    if len(found) == limit:  # the rest of this chunk is the next page's
                        return OrderSlice(found, last)
                    examined, last = examined + 1, position
                    order = orders.get(position.order_id)
                    if order is None or order.placed_at != position.at:
                        continue  # its insert never landed, or a retry's stale entry
                    if status is not None and order.status is not status:
                        continue
                    if skip:
                        skip -= 1
                        continue
                    found.append(order)
                if len(found) == limit or examined >= budget:
                    more = await _take(walk, 1)
                    return OrderSlice(found, last if more else None)

    async def due_for_expiry(self, now: datetime, *, limit: int) -> list[DueBucket]:
        """The expiry queue's buckets due by `now` (at most `limit` minutes)."""
        return await self._expiry.due(now, limit=limit)

    async def settle_expiry(self, bucket: DueBucket, handled: Collection[str]) -> None:
        await self._expiry.settle(bucket, handled)


async def _take(walk: AsyncGenerator[Position, None], n: int) -> list[Position]:
    taken: list[Position] = []
    async for position in walk:
        taken.append(position)
        if len(taken) == n:
            break
    return taken
