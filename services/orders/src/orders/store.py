"""The orders database: orders (with their payments, refunds and outbox),
carts (cart_store) and the replica of products (product_store). No Mongo
types escape these modules.

Every order write is one single-document update that checks and bumps `rev`
(optimistic concurrency) and pushes the change's events into `_outbox`, so the
state and its events are never apart; the consumer saves a batch of orders
as one unordered bulk write of those updates (`save_many`). Before it, the
write announces itself where a crash could otherwise hide it: its outbox
marker (servicekit.outbox), a new order's list entries (order_lists), a
confirmation's expiry entry (expiry_queue).

Every command names its documents by `_id` (an equality, or a bounded `$in`):
the local store scans the whole collection for any other filter. The filters
are built by the functions below, which hot_queries.py lists.

The outbox relay is servicekit's. Single-document atomicity holds on both
stores (on FerretDB through the local build's per-database write lock, see
deploy/local/ferretdb), so the rev check is exact everywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Collection, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts.orders import OrderConfirmed
from orders.cart_store import CartStore
from orders.domain import Order, OrderStatus
from orders.expiry_queue import DueBucket, ExpiryQueue
from orders.filters import by_id, ids_in, rev_guard
from orders.order_docs import order_doc, order_from_doc, order_state
from orders.order_lists import OrderLists, Position, Scope
from orders.payment_checks import PaymentChecks, entry
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
_BATCH = 100  # list entries a page walks at a time
_IN_LIMIT = 1_000  # ids per `$in` read (a consumer's batch is at most 200 orders)
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


def _outbox(order: Order, traceparent: str | None = None) -> list[Doc]:
    entries = [outbox_entry(p.event, source=SOURCE, event_id=p.event_id) for p in order.events]
    if traceparent is not None:  # a batch's order continues the trace of its cause
        for entry in entries:
            entry["traceparent"] = traceparent
    return entries


def _guarded_update(order: Order, entries: list[Doc]) -> tuple[Doc, Doc]:
    """The rev-checked write of an order's changes with its events: (filter, update)."""
    update = push_events({"$set": {**order_state(order), "rev": order.rev + 1}}, entries)
    return rev_guard(order.order_id, order.rev), update


def _saved(order: Order) -> None:
    order.rev, order.events, order.changed = order.rev + 1, [], False


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
        self._checks = PaymentChecks(db)

    async def get(self, order_id: str) -> Order | None:
        doc = await self._orders.find_one(by_id(order_id))
        return order_from_doc(doc) if doc else None

    async def get_many(self, order_ids: Sequence[str]) -> dict[str, Order]:
        """The orders that exist among these ids, by `_id` (`$in`, a bounded
        batch each, asked for whole in the first reply: no getMore)."""
        ids = list(dict.fromkeys(order_ids))
        found: dict[str, Order] = {}
        for start in range(0, len(ids), _IN_LIMIT):
            chunk = ids[start : start + _IN_LIMIT]
            async for doc in self._orders.find(ids_in(chunk), batch_size=len(chunk) + 1):
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
        await self._announce([order])
        result = await self._orders.update_one(*_guarded_update(order, entries))
        if result.matched_count != 1:
            return False
        _saved(order)
        return True

    async def save_many(
        self, orders: Sequence[Order], *, traceparents: Mapping[str, str] | None = None
    ) -> int:
        """`save` for a batch in three commands whatever its size: the
        confirmations' expiry entries and the outbox markers (each one bulk
        write, before), then every order's rev-checked update in one unordered
        bulk write. Returns how many landed; when fewer than all, the caller
        does not know which: it re-reads them and decides again (a change that
        landed is refused the second time by the state machine). Only when all
        landed are the orders marked saved."""
        if not orders:
            return 0
        traces = traceparents or {}
        writes = [
            UpdateOne(*_guarded_update(o, _outbox(o, traces.get(o.order_id)))) for o in orders
        ]
        await self._announce(orders)
        result = await self._orders.bulk_write(writes, ordered=False)
        if result.matched_count == len(orders):
            for order in orders:
                _saved(order)
        return result.matched_count

    async def _announce(self, orders: Sequence[Order]) -> None:
        """What must exist before the orders' writes: expiry entries of
        confirmations, outbox markers of orders with events."""
        due = [
            (o.order_id, o.payment_due_at)
            for o in orders
            if _confirms(o) and o.payment_due_at is not None
        ]
        with_events = [o.order_id for o in orders if o.events]
        before = []
        if due:
            before.append(self._expiry.enqueue(due))
        if with_events:
            before.append(mark_pending(self._orders, *with_events))
        await asyncio.gather(*before)

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

    async def watch_payment(self, order_id: str, payment_id: str, *, at: datetime) -> None:
        """Before a payment is recorded: filed under the minute it starts."""
        await self._checks.enqueue([(entry(order_id, payment_id), at)])

    async def due_for_check(self, started_by: datetime, *, limit: int) -> list[DueBucket]:
        """The payment checks of payments started by `started_by` (at most
        `limit` minutes); entries are payment_checks.entry strings."""
        return await self._checks.due(started_by, limit=limit)

    async def settle_check(self, bucket: DueBucket, handled: Collection[str]) -> None:
        await self._checks.settle(bucket, handled)


async def _take(walk: AsyncGenerator[Position, None], n: int) -> list[Position]:
    taken: list[Position] = []
    async for position in walk:
        taken.append(position)
        if len(taken) == n:
            break
    return taken
