"""The reservation consumer a poll at a time (catalog.consumer.handle_batch),
against real Kafka and the real store, on a database of its own: a batch of
order events costs a constant number of store commands whatever its size
(well under 2 per `order.placed`), a batch redelivered whole after a crash
between its writes and its commit changes nothing, a poison event mid-batch
is dead-lettered while the events around it apply once, and the events of
one order in one batch end as if applied one by one."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient, monitoring

from catalog.consumer import CONSUMED, handle_batch
from catalog.store import CatalogStore, ensure_indexes
from contracts import Event, dlq_topic
from contracts.orders import OrderCancelled, OrderPlaced, OrderRefunded, RefundLine
from servicekit.bus import KafkaPublisher
from servicekit.consumer import BatchSubscription, ConsumerRunner, EventMeta
from servicekit.envelope import Envelope, encode
from servicekit.outbox import outbox_entry
from servicekit.queries import BOUNDED, filters_of, served_by_id
from tests.catalog.helpers import new_order_id, order_placed
from tests.conftest import Infra
from tests.integration.kafka_helpers import create_topics, read_all
from tests.support import eventually, unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]
QUIET = {"hello", "ismaster", "isMaster", "ping", "endSessions", "saslStart", "saslContinue"}
AT = datetime(2026, 11, 25, 12, tzinfo=UTC)
STATE = ["reservations", "stock_moves", "stock_ops", "stock", "outbox_pending"]


class _Commands(monitoring.CommandListener):
    """Every store command sent, and those the store would not serve by `_id`."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.scans: list[tuple[str, str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in QUIET:
            return
        self.sent.append(event.command_name)
        target = event.command.get(event.command_name)
        if isinstance(target, str) and target not in BOUNDED:
            for query in filters_of(event.command_name, event.command):
                if not served_by_id(query):
                    self.scans.append((event.command_name, target, query))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest_asyncio.fixture
async def engine(infra: Infra) -> AsyncIterator[tuple[CatalogStore, _Commands]]:
    commands = _Commands()
    client: AsyncMongoClient = AsyncMongoClient(
        infra.mongodb_url, tz_aware=True, event_listeners=[commands]
    )
    db = client[unique("catbatch").replace("-", "_")]
    await ensure_indexes(db)
    yield CatalogStore(db), commands
    await client.close()


async def _products(
    store: CatalogStore, *stock: int, ids: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Active products with stock (what the consumer reads of a product: its
    status; the rest is what an order line carries)."""
    products = []
    for n, units in enumerate(stock):
        product_id = ids[n] if ids else f"prd_{uuid.uuid4().hex}"
        await store.products.insert_one(
            {"_id": product_id, "status": "active", "sellable": True, "version": 1}
        )
        await store.ledger.set_to(product_id, units, op=f"{product_id}:initial")
        products.append(
            {
                "id": product_id,
                "sku": f"SKU-{n}",
                "price_fen": 3900,
                "license_id": "lic-1",
                "licensee_id": "licensee-1",
                "relic_ids": ["rel-1"],
                "museum_ids": ["mus-1"],
            }
        )
    return products


def _meta(event: Event, offset: int = 0) -> EventMeta:
    now = datetime.now(UTC)
    return EventMeta(str(uuid.uuid4()), event.TYPE, "tests", "s", now, "t", 0, offset)


def _items(events: Sequence[Event]) -> list[tuple[Event, EventMeta]]:
    return [(e, _meta(e, n)) for n, e in enumerate(events)]


def _cancel(placed: OrderPlaced) -> OrderCancelled:
    return OrderCancelled(
        order_id=placed.order_id,
        reason="payment_expired",
        lines=placed.lines,
        stock_was_reserved=True,
        cancelled_at=AT,
    )


def _refund(placed: OrderPlaced, refund_id: str, quantity: int) -> OrderRefunded:
    line = placed.lines[0]
    return OrderRefunded(
        order_id=placed.order_id,
        refund_id=refund_id,
        lines=[
            RefundLine(
                line_id=line.line_id,
                product_id=line.product_id,
                sku=line.sku,
                quantity=quantity,
                amount_fen=line.unit_price_fen * quantity,
                license_id=line.license_id,
                licensee_id=line.licensee_id,
                relic_ids=line.relic_ids,
                museum_id=line.museum_id,
            )
        ],
        amount_fen=line.unit_price_fen * quantity,
        restock=True,
        refunded_at=AT,
    )


async def _state(store: CatalogStore) -> dict[str, list[dict[str, Any]]]:
    """Everything the order consumer writes, whole (a test may scan), without
    the clock fields a write stamps."""
    db = store.products.database
    drop = {"at", "decided_at"}
    return {
        name: [
            {k: v for k, v in d.items() if k not in drop}
            async for d in db[name].find({}).sort("_id", 1)
        ]
        for name in STATE
    }


async def _balances(store: CatalogStore, products: Sequence[dict[str, Any]]) -> list[int]:
    return [await store.ledger.balance(p["id"]) for p in products]


# --- store commands per order -----------------------------------------------------


async def test_a_batch_of_orders_costs_the_same_commands_whatever_its_size(
    engine: tuple[CatalogStore, _Commands],
) -> None:
    store, commands = engine
    products = await _products(store, 10_000, 10_000, 10_000, 10_000, 10_000)

    def orders(size: int) -> list[OrderPlaced]:
        return [
            order_placed(
                new_order_id(),
                [(products[i % 5], 1 + i % 3), (products[(i + 2) % 5], 1)][: 1 + i % 2],
            )
            for i in range(size)
        ]

    async def batch(events: Sequence[Event]) -> int:
        commands.sent.clear()
        await handle_batch(_items(events), store=store)
        return len(commands.sent)

    await batch(orders(4))  # shown balances exist: steady state from here
    before = await _balances(store, products)
    commands.scans.clear()
    placed_10 = orders(10)
    placed_100 = orders(100)
    small, large = await batch(placed_10), await batch(placed_100)
    releases = [_cancel(o) for o in placed_100[:60]]
    releases += [_refund(o, f"{o.order_id}-r1", 1) for o in placed_100[60:]]
    released = await batch(releases)
    print(  # noqa: T201
        f"\ncatalog store commands: {small} for 10 order.placed, {large} for 100, "
        f"{released} for 60 cancels + 40 restocking refunds"
    )
    assert large == small  # structural: a constant per batch, not per order
    assert large / 100 <= 2
    assert released / 100 <= 2
    assert commands.scans == []  # every command served by `_id`
    moved = dict.fromkeys((p["id"] for p in products), 0)
    for order in placed_10 + placed_100:
        for line in order.lines:
            moved[line.product_id] -= line.quantity
    for order in placed_100[:60]:  # cancelled: every line back
        for line in order.lines:
            moved[line.product_id] += line.quantity
    for order in placed_100[60:]:  # refunded: one unit of the first line back
        moved[order.lines[0].product_id] += 1
    assert await _balances(store, products) == [
        before[i] + moved[p["id"]] for i, p in enumerate(products)
    ]
    statuses = {
        d["_id"]: d["status"]
        async for d in store.ledger.outcomes.find(
            {"_id": {"$in": [o.order_id for o in placed_100]}}
        )
    }
    assert set(statuses.values()) == {"reserved"}
    assert len(statuses) == 100


# --- through real Kafka -------------------------------------------------------------


def _envelope(event: Event) -> Envelope:
    entry = outbox_entry(event, source="tests")
    return Envelope(
        id=entry["id"],
        type=entry["type"],
        source="tests",
        subject=entry["subject"],
        time=entry["time"],
        data=json.loads(entry["data"]),
    )


async def _publish(bootstrap: str, topic: str, events: Sequence[Event]) -> None:
    publisher = KafkaPublisher(bootstrap, "catalog-batch-tests")
    try:
        await publisher.publish(topic, [encode(_envelope(e)) for e in events])
    finally:
        await publisher.stop()


def _runner(infra: Infra, topic: str, handle: Any, dlq: KafkaPublisher) -> ConsumerRunner:
    return ConsumerRunner(
        bootstrap_servers=infra.kafka_bootstrap,
        group_id=f"group-{topic}",
        topics=[topic],
        batch=BatchSubscription(CONSUMED, handle),
        dead_letters=dlq,
        backoff=0.01,
    )


async def _drain(runner: ConsumerRunner, done: Any, what: str) -> None:
    task = asyncio.create_task(runner.run())
    try:
        await eventually(done, timeout=90, what=what)
    finally:
        await runner.stop()
        await task


async def _decided(store: CatalogStore, order_ids: Sequence[str]) -> dict[str, str]:
    docs = store.ledger.outcomes.find({"_id": {"$in": list(order_ids)}})
    return {d["_id"]: d["status"] async for d in docs}


async def test_a_batch_redelivered_whole_after_a_crash_before_its_commit_changes_nothing(
    infra: Infra, engine: tuple[CatalogStore, _Commands]
) -> None:
    store, _ = engine
    products = await _products(store, 30, 30)
    topic = unique("test.catalog.batch")
    await create_topics(infra.kafka_bootstrap, topic)
    orders = [order_placed(new_order_id(), [(products[i % 2], 1 + i % 3)]) for i in range(40)]
    events: list[Event] = [*orders, _cancel(orders[0]), _refund(orders[1], "r-1", 1)]
    await _publish(infra.kafka_bootstrap, topic, events)
    dlq = KafkaPublisher(infra.kafka_bootstrap, "catalog-batch-dlq")
    written = asyncio.Event()
    first_batch: list[int] = []

    async def crashing(items: Sequence[tuple[Event, EventMeta]]) -> None:
        await handle_batch(items, store=store)
        first_batch.append(len(items))
        written.set()
        await asyncio.Event().wait()  # the process dies before its commit

    first = asyncio.create_task(_runner(infra, topic, crashing, dlq).run())
    await asyncio.wait_for(written.wait(), 60)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    after_crash = await _state(store)

    async def handle(items: Sequence[tuple[Event, EventMeta]]) -> None:
        await handle_batch(items, store=store)

    def expected_out(decided: dict[str, str]) -> int:
        # a decision per order, and a release for the cancel and the refund
        # when their order had been reserved (orders of one product land on
        # several partitions: orders[1] may come after its stock ran out)
        return len(orders) + sum(decided.get(o.order_id) == "reserved" for o in orders[:2])

    async def all_handled() -> bool:
        # every order decided and the cancel and refund (last in the stream,
        # maybe in a later poll) handled
        decided = await _decided(store, [o.order_id for o in orders])
        state = await _state(store)
        out = {e["id"] for d in state["reservations"] for e in d.get("_outbox", [])}
        return len(decided) == len(orders) and len(out) == expected_out(decided)

    try:
        await _drain(_runner(infra, topic, handle, dlq), all_handled, "every event handled")
    finally:
        await dlq.stop()
    final = await _state(store)
    for name in ("reservations", "stock_moves", "stock_ops"):
        ids = {d["_id"] for d in after_crash[name]}
        # what the first batch wrote was not touched by its redelivery
        assert [d for d in final[name] if d["_id"] in ids] == after_crash[name], name
    # exactly once: 30 units each, orders in turn until one does not fit
    moves = [m for m in final["stock_moves"] if m["reason"] == "reserve"]
    assert len({m["op"] for m in moves}) == len(moves)
    statuses = await _decided(store, [o.order_id for o in orders])
    reserved = [o for o in orders if statuses[o.order_id] == "reserved"]
    held = [
        sum(o.lines[0].quantity for o in reserved if o.lines[0].product_id == p["id"])
        for p in products
    ]
    given_back = [0, 0]
    if statuses[orders[0].order_id] == "reserved":
        given_back[0] += orders[0].lines[0].quantity  # orders[0] is on the first product
    if statuses[orders[1].order_id] == "reserved":
        given_back[1] += 1  # one unit of orders[1], on the second
    balances = await _balances(store, products)
    assert balances == [30 - held[i] + given_back[i] for i in range(2)]
    assert min(balances) >= 0  # never oversold
    events_out = [e["id"] for d in final["reservations"] for e in d.get("_outbox", [])]
    assert len(events_out) == len(set(events_out)) == expected_out(statuses)
    # and the whole stream once more, as one batch: nothing moves
    await handle_batch(_items(events), store=store)
    assert await _state(store) == final
    print(f"\nfirst batch: {first_batch[0]} events, redelivered whole: no change")  # noqa: T201


async def test_a_poison_event_mid_batch_is_dead_lettered_and_its_neighbours_apply_once(
    infra: Infra, engine: tuple[CatalogStore, _Commands]
) -> None:
    store, _ = engine
    [product] = await _products(store, 100)
    topic = unique("test.catalog.poison")
    await create_topics(infra.kafka_bootstrap, topic)
    orders = [order_placed(new_order_id(), [(product, 2)]) for _ in range(9)]
    poison = orders[4].order_id
    await _publish(infra.kafka_bootstrap, topic, orders)
    dlq = KafkaPublisher(infra.kafka_bootstrap, "catalog-batch-dlq")
    batches: list[int] = []

    async def poisoned(items: Sequence[tuple[Event, EventMeta]]) -> None:
        """The batch's writes land, then one of its events fails: the runner
        re-applies its events one by one."""
        batches.append(len(items))
        good = [(e, m) for e, m in items if getattr(e, "order_id", None) != poison]
        await handle_batch(good, store=store)
        if len(good) < len(items):
            raise ValueError(f"order {poison} cannot be handled")

    async def settled() -> bool:
        dead = await read_all(infra.kafka_bootstrap, dlq_topic(topic), expected=1, timeout=1)
        return len(dead) == 1 and len(await _decided(store, [o.order_id for o in orders])) == 8

    try:
        await _drain(_runner(infra, topic, poisoned, dlq), settled, "poison dead-lettered")
    finally:
        await dlq.stop()
    assert max(batches) > 1  # the poison came inside a batch
    dead = await read_all(infra.kafka_bootstrap, dlq_topic(topic), expected=1)
    assert [dict(r.headers)["dlq_error_type"] for r in dead] == [b"ValueError"]
    statuses = await _decided(store, [o.order_id for o in orders])
    assert poison not in statuses
    assert set(statuses.values()) == {"reserved"}
    assert await store.ledger.balance(product["id"]) == 100 - 8 * 2
    moves = [m async for m in store.ledger.moves.find({"product_id": product["id"]})]
    assert len(moves) == 1 + 8  # the initial stock, then each order once


async def test_the_events_of_one_order_in_one_batch_end_as_applied_one_by_one(
    infra: Infra,
) -> None:
    client: AsyncMongoClient = AsyncMongoClient(infra.mongodb_url, tz_aware=True)
    results = []
    try:
        for together in (True, False):
            db = client[unique("catfold").replace("-", "_")]
            await ensure_indexes(db)
            store = CatalogStore(db)
            # the same ids in both runs: only the batch shape differs
            product, other = await _products(store, 5, 5, ids=("prd_fold_a", "prd_fold_b"))
            kept = order_placed("ord-kept", [(product, 2), (other, 1)])
            dropped = order_placed("ord-dropped", [(product, 2)])
            late = order_placed("ord-late", [(product, 3)])
            events: list[Event] = [
                kept,
                dropped,
                late,  # too many until `dropped` is cancelled
                _cancel(dropped),
                _refund(kept, "ref-1", 1),
                _cancel(dropped),  # redelivered
                order_placed("ord-after", [(product, 3)]),
            ]
            if together:
                await handle_batch(_items(events), store=store)
            else:
                for item in _items(events):
                    await handle_batch([item], store=store)
            state = await _state(store)
            for doc in state["reservations"]:
                for entry in doc.get("_outbox", []):
                    entry.pop("time")
                    entry.pop("traceparent", None)
            state.pop("outbox_pending")
            results.append(state)
    finally:
        await client.close()
    assert results[0] == results[1]
    statuses = {d["_id"]: d["status"] for d in results[0]["reservations"]}
    assert statuses == {
        "ord-kept": "reserved",
        "ord-dropped": "reserved",
        "ord-dropped#released": "note",
        "ord-late": "rejected",
        "ref-1#restocked": "note",
        "ord-after": "reserved",
    }
