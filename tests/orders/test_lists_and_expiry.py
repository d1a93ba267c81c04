"""Lists and the expiry sweep read `_id`-keyed documents, never history: the
order list pages by cursor across its buckets, and the sweep finds due orders
only through the expiry queue. Real Kafka and the real store; past orders
are written with the service's own history loader and store code."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from contracts.catalog import ProductPublished, StockLine, StockReserved
from contracts.orders import OrderConfirmed, OrderLine, OrderPaid, OrderPlaced
from orders.domain import Customer, Line, Order, OrderStatus
from orders.expiry_queue import INDEX_ID, QUEUE, SHAPE, ExpiryQueue, minute_of
from orders.history import load_history
from orders.order_lists import OrderLists
from orders.store import order_doc
from servicekit.auth import Role
from servicekit.envelope import Envelope
from tests.conftest import Infra
from tests.orders.conftest import orders_env
from tests.orders.helpers import (
    envelope,
    order_in,
    product_on_sale,
    publish,
    read_order_events,
    snapshot,
    token,
)
from tests.support import ServiceProcess, eventually

pytestmark = [pytest.mark.infra, pytest.mark.asyncio(loop_scope="module")]

SUFFIX = uuid.uuid4().hex[:8]
DATABASE = f"orders_lists_{SUFFIX}"
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def orders(infra: Infra) -> Iterator[ServiceProcess]:
    env = orders_env(
        infra,
        ORDERS_PAYMENT_WINDOW_SECONDS="2",
        ORDERS_EXPIRY_SWEEP_SECONDS="0.3",
        ORDERS_MONGODB_DATABASE=DATABASE,
        KAFKA_CONSUMER_GROUP=f"orders-lists-{SUFFIX}",
    )
    service = ServiceProcess("orders", env)
    yield service
    service.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def db(infra: Infra) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongodb_url, tz_aware=True)
    yield client[DATABASE]
    await client.close()


def _line(order_id: str, licensee: str) -> OrderLine:
    return OrderLine(
        line_id=f"{order_id}-0",
        product_id="prd-history",
        sku="SKU-HIST",
        quantity=2,
        unit_price_fen=1_250,
        line_total_fen=2_500,
        license_id="lic-history",
        licensee_id=licensee,
        relic_ids=["rel-history"],
        museum_id="mus-history",
    )


def past_order(
    order_id: str, tourist: str, licensee: str, at: datetime, *, paid: bool
) -> list[Envelope]:
    line = _line(order_id, licensee)
    events: list[Any] = [
        OrderPlaced(
            order_id=order_id, customer_id=tourist, lines=[line], total_fen=2_500, placed_at=at
        ),
        OrderConfirmed(order_id=order_id, confirmed_at=at + timedelta(seconds=1), lines=[line]),
    ]
    if paid:
        events.append(
            OrderPaid(
                order_id=order_id,
                payment_id=f"{order_id}-pay",
                customer_id=tourist,
                lines=[line],
                total_fen=2_500,
                paid_at=at + timedelta(seconds=30),
            )
        )
    return [envelope(event, source="orders") for event in events]


async def pages(client: httpx.AsyncClient, **params: Any) -> list[list[dict[str, Any]]]:
    """Every page of GET /orders, following next_cursor."""
    found: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/orders", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        found.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return found
        assert len(found) < 50, "the pages never end"


def scans(metrics: str) -> list[str]:
    collections = ('collection="orders"', 'collection="order_lists"', 'collection="expiry_queue"')
    return [
        line
        for line in metrics.splitlines()
        if line.startswith("store_scans_total") and any(c in line for c in collections)
    ]


async def test_the_order_list_pages_by_cursor_in_placed_order_across_buckets(
    infra: Infra, orders: ServiceProcess, db: AsyncDatabase[dict[str, Any]]
) -> None:
    tourist, licensee = f"tourist-{SUFFIX}", f"lee-{SUFFIX}"
    # a year of this tourist's orders, months and days apart; two at one instant
    stamps = [400, 70, 40, 39, 10, 10, 1]
    history: list[Envelope] = []
    placed: list[tuple[datetime, str]] = []
    for n, days in enumerate(stamps):
        order_id, at = f"hist-{SUFFIX}-{n}", NOW - timedelta(days=days, hours=n)
        if n == 5:
            at = placed[-1][0]  # the same placed_at as the one before: ordered by id
        history += past_order(order_id, tourist, licensee, at, paid=n % 2 == 0)
        placed.append((at, order_id))
    assert await load_history(db, history) == []
    # an entry whose order never landed (a crash between the two writes) is skipped
    ghost = Order(
        order_id=f"ghost-{SUFFIX}",
        customer=Customer("tourist", tourist),
        lines=[Line("g-0", "p", "s", "t", 1, 100, None, licensee, (), None)],
        status=OrderStatus.PENDING,
        placed_at=NOW - timedelta(days=20),
        order_token="t",
        idempotency_key="k",
        fingerprint="f",
    )
    await OrderLists(db).add([ghost])

    product = snapshot(licensee_id=licensee)
    await publish(
        infra.kafka_bootstrap, ProductPublished(product_id=product.product_id, product=product)
    )
    async with (
        orders.client(token(Role.TOURIST, tourist)) as as_tourist,
        orders.client(token(Role.LICENSEE, licensee_id=licensee)) as as_licensee,
        orders.client(token(Role.OPERATOR)) as as_operator,
    ):
        await product_on_sale(as_tourist, product.product_id)
        fresh = await as_tourist.post(
            "/orders",
            json={"lines": [{"product_id": product.product_id, "quantity": 1}]},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert fresh.status_code == 201, fresh.text
        newest_first = [fresh.json()["order_id"]] + [oid for _, oid in sorted(placed, reverse=True)]

        listed = await pages(as_tourist, limit=3)
        assert [o["order_id"] for page in listed for o in page] == newest_first
        assert [len(page) for page in listed] == [3, 3, 2]

        # the licensee's list (its lines only) and the operator's, filtered by status
        mine = await pages(as_licensee, limit=2)
        assert [o["order_id"] for page in mine for o in page] == newest_first
        assert {o["view"] for page in mine for o in page} == {"lines"}
        paid = await pages(as_operator, status="PAID", limit=2)
        assert [o["order_id"] for page in paid for o in page] == [
            oid for oid in newest_first[1:] if int(oid.rsplit("-", 1)[1]) % 2 == 0
        ]

        # older clients: an offset still works (it walks past that many)
        old = await as_tourist.get("/orders", params={"limit": 2, "offset": 2})
        assert [o["order_id"] for o in old.json()["items"]] == newest_first[2:4]
        bad = await as_tourist.get("/orders", params={"cursor": "not-a-cursor"})
        assert bad.status_code == 422

        metrics = (await as_operator.get("/metrics")).text
        assert scans(metrics) == []


async def test_the_sweep_expires_what_its_queue_names_and_nothing_else(
    infra: Infra, orders: ServiceProcess, db: AsyncDatabase[dict[str, Any]]
) -> None:
    due_at = NOW - timedelta(minutes=30)

    def confirmed(order_id: str) -> Order:
        order = Order(
            order_id=order_id,
            customer=Customer("tourist", f"t-{SUFFIX}"),
            lines=[Line(f"{order_id}-1", "p", "s", "t", 1, 100, None, None, (), None)],
            status=OrderStatus.PENDING,
            placed_at=due_at - timedelta(minutes=16),
            order_token="t",
            idempotency_key=f"tourist:t-{SUFFIX}:{order_id}",
            fingerprint="f",
        )
        order.confirm(at=due_at - timedelta(minutes=15), payment_window=timedelta(minutes=15))
        return order

    queued, unqueued = confirmed(f"queued-{SUFFIX}"), confirmed(f"unqueued-{SUFFIX}")
    # written straight into the store (already confirmed, long due); the entry
    # after the orders, or a sweep in between would drop it as naming nothing
    await db["orders"].insert_many([order_doc(queued), order_doc(unqueued)])
    await ExpiryQueue(db).enqueue([(queued.order_id, due_at)])

    async with orders.client(token(Role.OPERATOR)) as as_operator:
        cancelled = await order_in(as_operator, queued.order_id, "CANCELLED")
        assert cancelled["cancel_reason"] == "payment_expired"
        events = await read_order_events(infra.kafka_bootstrap, queued.order_id, ["cancelled"])
        assert [ce_id for ce_id, short, _ in events if short == "cancelled"] == [
            f"{queued.order_id}:cancelled"
        ]

        async def retired() -> bool:
            index = await db[QUEUE].find_one({"_id": INDEX_ID})
            bucket = SHAPE.bucket_of(minute_of(due_at), queued.order_id)
            gone = await db[QUEUE].find_one({"_id": bucket}) is None
            return gone and minute_of(due_at) not in (index or {}).get("minutes", [])

        await eventually(retired, timeout=10, what="the handled bucket retired")
        # the order no queue entry names is never found: the sweep reads no history
        never = (await as_operator.get(f"/orders/{unqueued.order_id}")).json()
        assert never["status"] == "CONFIRMED"
        assert scans((await as_operator.get("/metrics")).text) == []


async def test_an_entry_whose_confirmation_never_landed_loses_nothing(
    infra: Infra, orders: ServiceProcess, db: AsyncDatabase[dict[str, Any]]
) -> None:
    """The crash between the expiry entry and the confirm: the entry is there,
    the order still PENDING. The sweep drops the entry and cancels nothing;
    the confirm that lands later (the redelivered stock.reserved) writes its
    own entry, and that one expires the order."""
    product = snapshot()
    await publish(
        infra.kafka_bootstrap, ProductPublished(product_id=product.product_id, product=product)
    )
    async with orders.client(token(Role.TOURIST)) as client:
        await product_on_sale(client, product.product_id)
        placed = await client.post(
            "/orders",
            json={"lines": [{"product_id": product.product_id, "quantity": 1}]},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["order_id"]
        crashed_at = NOW - timedelta(minutes=10)  # a closed minute by now
        await ExpiryQueue(db).enqueue([(order_id, crashed_at)])

        async def dropped() -> bool:
            bucket_id = SHAPE.bucket_of(minute_of(crashed_at), order_id)
            bucket = await db[QUEUE].find_one({"_id": bucket_id})
            return bucket is None or order_id not in bucket["order_ids"]

        await eventually(dropped, timeout=10, what="the sweep handled the crashed entry")
        assert (await client.get(f"/orders/{order_id}")).json()["status"] == "PENDING"

        line = StockLine(product_id=product.product_id, quantity=1)
        await publish(infra.kafka_bootstrap, StockReserved(order_id=order_id, lines=[line]))
        cancelled = await order_in(client, order_id, "CANCELLED")
        assert cancelled["cancel_reason"] == "payment_expired"
        assert cancelled["confirmed_at"] is not None
    events = await read_order_events(
        infra.kafka_bootstrap, order_id, ["placed", "confirmed", "cancelled"]
    )
    assert sorted(short for _, short, _ in events) == ["cancelled", "confirmed", "placed"]
