"""Store commands per event and per request, counted on the real store with
a pymongo CommandListener (a structural bound, not a timing): the consumer's
batch of 100 stock.reserved, its redelivery, a batch that loses a race to an
HTTP write, the replica's product events, and the HTTP write paths."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from contracts.catalog import ProductPublished, ProductSnapshot, StockReserved
from orders import handlers
from orders.domain import Order, OrderStatus, Viewer
from orders.expiry_queue import QUEUE
from orders.payments import sign
from orders.store import OrderStore
from servicekit.consumer import EventMeta
from servicekit.outbox import MARKERS, MARKS, OUTBOX
from tests.conftest import Infra
from tests.orders.batch_support import (
    SECRET,
    Commands,
    context,
    insert_pending,
    replica_product,
)
from tests.support import unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]

Doc = dict[str, Any]
TOURIST = Viewer(role="tourist", subject="tourist-batch")


@pytest_asyncio.fixture
async def counted(infra: Infra) -> AsyncIterator[tuple[AsyncDatabase[Doc], Commands]]:
    commands = Commands()
    client: AsyncMongoClient[Doc] = AsyncMongoClient(
        infra.mongodb_url, tz_aware=True, event_listeners=[commands]
    )
    yield client[unique("orders_batch").replace("-", "_")], commands
    await client.close()


def _meta(n: int, event_type: str = StockReserved.TYPE) -> EventMeta:
    return EventMeta(
        id=f"evt-{n}",
        type=event_type,
        source="catalog",
        subject="s",
        time=datetime.now(UTC),
        topic="catalog.stock",
        partition=n % 6,
        offset=n,
    )


def _reserved(order_ids: list[str]) -> list[tuple[StockReserved, EventMeta]]:
    return [(StockReserved(order_id=oid, lines=[]), _meta(n)) for n, oid in enumerate(order_ids)]


async def _stored(db: AsyncDatabase[Doc], order_ids: list[str]) -> dict[str, Doc]:
    query = db["orders"].find({"_id": {"$in": order_ids}}, batch_size=len(order_ids) + 1)
    return {doc["_id"]: doc async for doc in query}


async def test_a_batch_of_100_stock_reserved_costs_a_few_commands_and_its_redelivery_one(
    counted: tuple[AsyncDatabase[Doc], Commands],
) -> None:
    db, commands = counted
    order_ids = await insert_pending(db, 100)
    ctx = context(db)
    batch = _reserved(order_ids)
    commands.take()

    await handlers.handle_batch(batch, ctx=ctx)
    sent = commands.take()
    # one `$in` read, then the expiry entries, the outbox markers and the
    # orders' guarded updates: one bulk write each
    assert Counter(sent) == Counter(
        [("find", "orders"), ("update", QUEUE), ("update", MARKERS), ("update", "orders")]
    ), sent
    assert len(sent) / len(batch) <= 2  # the bound, by far

    stored = await _stored(db, order_ids)
    assert all(doc["status"] == OrderStatus.CONFIRMED for doc in stored.values())
    assert all(doc["rev"] == 2 for doc in stored.values())
    assert all(
        [e["id"] for e in doc[OUTBOX]] == [f"{oid}:confirmed"] for oid, doc in stored.items()
    )
    queued = {oid async for bucket in db[QUEUE].find({}) for oid in bucket.get("order_ids", [])}
    assert queued == set(order_ids)  # every confirmation entered the expiry queue
    markers = {m["doc_id"]: m["marks"] async for m in db[MARKERS].find({})}
    assert markers == dict.fromkeys(order_ids, 1)

    commands.take()
    await handlers.handle_batch(batch, ctx=ctx)  # redelivered whole
    assert commands.take() == [("find", "orders")]  # read, found nothing to do
    assert await _stored(db, order_ids) == stored


async def test_an_order_an_http_write_changed_meanwhile_is_read_again_and_confirmed_once(
    counted: tuple[AsyncDatabase[Doc], Commands],
) -> None:
    db, commands = counted
    order_ids = await insert_pending(db, 20)
    raced = order_ids[7]

    class RacedStore(OrderStore):
        """Another writer (an HTTP request) bumps one order between the
        batch's read and its write, once."""

        raced_once = False

        async def get_many(self, ids: Any) -> dict[str, Order]:
            found = await super().get_many(ids)
            if not self.raced_once:
                self.raced_once = True
                await db["orders"].update_one({"_id": raced}, {"$inc": {"rev": 1}})
            return found

    ctx = context(db, orders=RacedStore(db))
    commands.take()
    await handlers.handle_batch(_reserved(order_ids), ctx=ctx)
    sent = commands.take()
    assert sent.count(("find", "orders")) == 2  # the first round, then the lost ones again
    assert len(sent) <= 9

    stored = await _stored(db, order_ids)
    assert all(doc["status"] == OrderStatus.CONFIRMED for doc in stored.values())
    assert stored[raced]["rev"] == 3  # the other write, then the confirmation
    assert all(doc["rev"] == 2 for oid, doc in stored.items() if oid != raced)
    assert all(
        [e["id"] for e in doc[OUTBOX]] == [f"{oid}:confirmed"] for oid, doc in stored.items()
    )
    assert all(doc[MARKS] == 1 for doc in stored.values())


async def test_product_events_are_one_bulk_write_and_stale_versions_change_nothing(
    counted: tuple[AsyncDatabase[Doc], Commands],
) -> None:
    db, commands = counted
    ctx = context(db)
    products = [replica_product(version=2) for _ in range(30)]
    events = []
    for n, product in enumerate(products):
        for version in (2, 1, 3):  # versions out of order inside the batch
            snap = ProductSnapshot(
                **{**_snapshot_fields(product.product_id), "version": version, "price_fen": version}
            )
            events.append((ProductPublished(product_id=product.product_id, product=snap), _meta(n)))
    commands.take()
    await handlers.handle_batch(events, ctx=ctx)
    # the held versions, then one bulk write of the newest of each
    assert commands.take() == [("find", "products"), ("update", "products")]
    await handlers.handle_batch(events[:2], ctx=ctx)  # older versions, redelivered
    assert commands.take() == [("find", "products")]
    for product in products:
        held = await handlers.get_product(ctx=ctx, product_id=product.product_id)
        assert (held.version, held.price_fen) == (3, 3)


def _snapshot_fields(product_id: str) -> dict[str, Any]:
    return {
        "product_id": product_id,
        "sku": f"SKU-{product_id[-6:]}",
        "title_zh": "书签",
        "title_en": "Bookmark",
        "category": "souvenir",
        "relic_ids": ["rel-1"],
        "museum_ids": ["mus-1"],
        "license_id": "lic-1",
        "licensee_id": "lee-batch",
        "status": "active",
        "sellable": True,
    }


async def test_http_write_paths_send_no_read_the_write_could_do(
    counted: tuple[AsyncDatabase[Doc], Commands],
) -> None:
    """POST /orders: the products, the list entries, the marker, the insert
    (a retry: + one read of the earlier order). POST /orders/{id}/payments:
    its reconciliation entry, the order, the payment's save, the provider's
    reference saved without reading again. The webhook: the order, the marker, the save."""
    db, commands = counted
    ctx = context(db)
    product = replica_product()
    await ctx.products.apply(product)
    lines = [(product.product_id, 2)]
    command = handlers.PlaceOrder(
        "key-1", handlers.fingerprint({"lines": lines}), lines, None, None
    )
    commands.take()

    order, created = await handlers.place_order(ctx=ctx, viewer=TOURIST, command=command)
    assert created
    placing = commands.take()
    assert Counter(placing) == Counter(
        [
            ("find", "products"),
            ("update", "order_lists"),
            ("update", MARKERS),
            ("insert", "orders"),
        ]
    ), placing
    again, created = await handlers.place_order(ctx=ctx, viewer=TOURIST, command=command)
    assert (again.order_id, created) == (order.order_id, False)
    assert ("find", "orders") in commands.take()  # a retry reads the earlier order

    await handlers.handle_batch(_reserved([order.order_id]), ctx=ctx)
    commands.take()
    order, payment, _ = await handlers.start_payment(
        ctx=ctx,
        order_id=order.order_id,
        viewer=TOURIST,
        card_token="tok_sandbox_approve",
        idempotency_key="pay-1",
        webhook_url="http://unused",
    )
    paying = commands.take()
    # the payment's reconciliation entry first (payment_checks), then the order;
    # the sandbox provider's own store (its due set, its charge) sits where a
    # real provider's HTTP call would
    assert paying == [
        ("update", "payment_checks"),
        ("find", "orders"),
        ("update", "orders"),
        ("update", "sandbox_due"),
        ("insert", "sandbox_charges"),
        ("update", "orders"),
    ], paying
    assert order.payment(payment.payment_id).provider_ref is not None

    body = json.dumps(
        {
            "event_id": "evt-1",
            "kind": "payment.succeeded",
            "payment_id": payment.payment_id,
            "order_id": order.order_id,
            "provider_ref": order.payment(payment.payment_id).provider_ref,
            "amount_fen": order.total_fen,
        }
    ).encode()
    outcome = await handlers.settle_payment(
        ctx=ctx, body=body, signature=sign(SECRET, body, int(time.time()))
    )
    assert outcome == "captured"
    settling = commands.take()
    assert Counter(settling) == Counter(
        [("find", "orders"), ("update", MARKERS), ("update", "orders")]
    ), settling
