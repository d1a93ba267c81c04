"""The live projector's batches (analytics.handlers.project_batch) against
real Kafka and the real store: a batch redelivered whole after a crash
between its writes and its commit changes nothing, a poison event mid-batch
is dead-lettered while the events around it count once, two events of one
aggregate in one batch end as if applied one by one, and a batch costs at
most half a store command per event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]
from pymongo import AsyncMongoClient, monitoring

from analytics.changes import ROLLUPS
from analytics.domain import PROJECTED
from analytics.handlers import project_batch, subscription
from analytics.history import load_history
from analytics.store import ProjectionStore, collection_name
from contracts import Event, contract_for, dlq_topic
from contracts.catalog import ProductUpdated
from contracts.ip import LicenseSuspended
from contracts.orders import OrderPaid
from servicekit.bus import KafkaPublisher
from servicekit.consumer import BatchSubscription, ConsumerRunner, EventMeta
from servicekit.envelope import Envelope, encode
from servicekit.queries import filters_of, served_by_id
from tests.analytics.scenario import DAY, Refund, Sale, Scenario, at, envelope
from tests.conftest import Infra
from tests.integration.kafka_helpers import create_topics, end_offsets_total, read_all
from tests.support import eventually, unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]
QUIET = {"hello", "ismaster", "isMaster", "ping", "endSessions", "saslStart", "saslContinue"}


class Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, list[Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in QUIET:
            return
        target = event.command.get(event.command_name)
        filters = filters_of(event.command_name, event.command)
        self.sent.append((event.command_name, str(target), filters))

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass


@pytest_asyncio.fixture
async def mongo(infra: Infra) -> AsyncIterator[tuple[AsyncMongoClient, Commands]]:
    commands = Commands()
    client: AsyncMongoClient = AsyncMongoClient(
        infra.mongodb_url, tz_aware=True, event_listeners=[commands]
    )
    names: list[str] = []
    client.test_names = names  # type: ignore[attr-defined]
    yield client, commands
    for name in names:
        await client.drop_database(name)
    await client.close()


async def fresh(client: AsyncMongoClient, store_class: type[ProjectionStore] = ProjectionStore):
    name = unique("analytics_batch").replace("-", "_")
    client.test_names.append(name)  # type: ignore[attr-defined]
    store = store_class(client[name], 1)
    await store.prepare()
    return store


async def state(store: ProjectionStore, *, marks: bool = False) -> dict[str, list[dict]]:
    """Every projection document, whole (a test may scan); without the marks
    unless asked (the history loader's documents have none)."""
    out = {}
    for logical in ROLLUPS:
        docs = [d async for d in store.collection(logical).find({}).sort("_id", 1)]
        out[logical] = [{k: v for k, v in d.items() if marks or k != "_hwm"} for d in docs]
    return out


async def reference(client: AsyncMongoClient, events: list[Envelope]) -> dict[str, list[dict]]:
    """What the history loader folds from the same events (the replay's rules)."""
    store = await fresh(client)
    await load_history(store.db, events)
    return await state(store)


def many_sales(days: int = 6) -> Scenario:
    s = Scenario.scripted_day()
    p1, p2 = s.products
    s.sales = [
        Sale(unique("order"), at(DAY + timedelta(days=d % days), 9 + d % 12), [(p1, 1), (p2, 2)])
        for d in range(18)
    ]
    s.refunds = [Refund(s.sales[2].order_id, at(DAY + timedelta(days=3), 11), [(p1, 1)])]
    return s


async def publish(bootstrap: str, topic: str, envelopes: Sequence[Envelope]) -> None:
    publisher = KafkaPublisher(bootstrap, "analytics-batch-tests")
    try:
        await publisher.publish(topic, [encode(e) for e in envelopes])
    finally:
        await publisher.stop()


def runner(
    infra: Infra, topic: str, batch: BatchSubscription, dlq: KafkaPublisher
) -> ConsumerRunner:
    return ConsumerRunner(
        bootstrap_servers=infra.kafka_bootstrap,
        group_id=f"group-{topic}",
        topics=[topic],
        batch=batch,
        dead_letters=dlq,
        backoff=0.01,
    )


async def committed_all(bootstrap: str, topic: str) -> bool:
    """The test group committed the whole topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(f"group-{topic}")
    finally:
        await admin.close()
    done = sum(o.offset for tp, o in committed.items() if tp.topic == topic and o.offset > 0)
    return done == await end_offsets_total(bootstrap, topic)


async def drain(infra: Infra, topic: str, batch: BatchSubscription, dlq: KafkaPublisher) -> None:
    consumer = runner(infra, topic, batch, dlq)
    task = asyncio.create_task(consumer.run())
    try:
        await eventually(lambda: committed_all(infra.kafka_bootstrap, topic), timeout=90)
    finally:
        await consumer.stop()
        await task


class CrashBeforeSeen(ProjectionStore):
    """Dies after a batch's document writes, before its ids are recorded and
    its offsets committed: the redelivery meets only the marks."""

    written: asyncio.Event
    sizes: list[int]

    async def mark_seen_many(self, ids: Sequence[str]) -> None:
        self.sizes.append(len(ids))
        self.written.set()
        await asyncio.Event().wait()


async def test_a_batch_redelivered_whole_after_a_crash_before_its_commit_changes_nothing(
    infra: Infra, mongo: tuple[AsyncMongoClient, Commands]
) -> None:
    client, _ = mongo
    topic = unique("test.analytics.batch")
    await create_topics(infra.kafka_bootstrap, topic)
    events = many_sales().all_events()
    await publish(infra.kafka_bootstrap, topic, events)
    dlq = KafkaPublisher(infra.kafka_bootstrap, "analytics-batch-dlq")
    crashing = await fresh(client, CrashBeforeSeen)
    assert isinstance(crashing, CrashBeforeSeen)
    crashing.written, crashing.sizes = asyncio.Event(), []

    first = asyncio.create_task(runner(infra, topic, subscription(crashing), dlq).run())
    await asyncio.wait_for(crashing.written.wait(), 60)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    after_crash = await state(crashing, marks=True)

    store = ProjectionStore(crashing.db, 1)
    try:
        await drain(infra, topic, subscription(store), dlq)
        final = await state(store, marks=True)
        if crashing.sizes[0] == len(events):  # the first poll held the whole stream
            assert final == after_crash  # its redelivery moved nothing, marks included
        assert await state(store) == await reference(client, events)
        assert await store.seen_among([e.id for e in events]) == {e.id for e in events}

        # the same events republished at new offsets: skipped by their ids
        await publish(infra.kafka_bootstrap, topic, events[-10:])
        await drain(infra, topic, subscription(store), dlq)
        assert await state(store, marks=True) == final  # nothing moved
    finally:
        await dlq.stop()
    print(f"\nfirst batch: {crashing.sizes[0]} of {len(events)} events")  # noqa: T201


async def test_a_poison_event_mid_batch_is_dead_lettered_and_its_neighbours_count_once(
    infra: Infra, mongo: tuple[AsyncMongoClient, Commands]
) -> None:
    client, _ = mongo
    topic = unique("test.analytics.poison")
    await create_topics(infra.kafka_bootstrap, topic)
    scenario = many_sales()
    events = scenario.all_events()
    poison_order = scenario.sales[7].order_id
    poison = next(
        e for e in events if e.type == OrderPaid.TYPE and e.data["order_id"] == poison_order
    )
    await publish(infra.kafka_bootstrap, topic, events)
    dlq = KafkaPublisher(infra.kafka_bootstrap, "analytics-batch-dlq")
    store = await fresh(client)
    batches: list[int] = []

    async def poisoned(items: Sequence[tuple[Event, EventMeta]]) -> None:
        """The batch's other events land, then the poison fails it: the
        runner applies its events again one by one."""
        batches.append(len(items))
        good = [(e, m) for e, m in items if m.id != poison.id]
        await project_batch(good, store=store)
        if len(good) < len(items):
            raise ValueError(f"event {poison.id} cannot be projected")

    try:
        await drain(infra, topic, BatchSubscription(PROJECTED, poisoned), dlq)
    finally:
        await dlq.stop()
    assert max(batches) > 1  # the poison came inside a batch
    dead = await read_all(infra.kafka_bootstrap, dlq_topic(topic), expected=1)
    assert [dict(r.headers)["dlq_error_type"] for r in dead] == [b"ValueError"]
    assert [dict(r.headers)["ce_id"] for r in dead] == [poison.id.encode()]
    assert await state(store) == await reference(client, [e for e in events if e is not poison])


def _meta(env: Envelope, partition: int, offset: int) -> EventMeta:
    contract = contract_for(env.type)
    assert contract is not None
    return EventMeta(
        env.id, env.type, env.source, env.subject, env.time, contract.TOPIC, partition, offset
    )


async def test_events_of_one_aggregate_in_one_batch_end_as_applied_one_by_one(
    mongo: tuple[AsyncMongoClient, Commands],
) -> None:
    """A product published then repriced, a license granted then suspended,
    an order paid then refunded: `$set`s keep their order, `$inc`s add up,
    the marks end at the same offsets."""
    client, _ = mongo
    scenario = many_sales(days=2)
    events = scenario.all_events()
    product = next(e for e in events if e.type == "rebirth.catalog.product.published.v1")
    repriced = {**product.data["product"], "price_fen": 99_999, "version": 2}
    granted = next(e for e in events if e.type == "rebirth.ip.license.granted.v1")
    events += [
        envelope(ProductUpdated(product_id=repriced["product_id"], product=repriced)),
        envelope(
            LicenseSuspended(
                license_id=granted.data["license_id"],
                museum_id=granted.data["museum_id"],
                licensee_id=granted.data["licensee_id"],
                reason="audit",
            )
        ),
    ]
    offsets: dict[str, int] = {}
    items = []
    for env in events:
        partition = hash(env.subject) % 2
        key = f"{env.type.split('.')[1]}-{partition}"
        offsets[key] = offsets.get(key, -1) + 1
        contract = contract_for(env.type)
        assert contract is not None
        items.append((contract.model_validate(env.data), _meta(env, partition, offsets[key])))
    together, alone = await fresh(client), await fresh(client)
    await project_batch(items, store=together)
    for item in items:
        await project_batch([item], store=alone)
    assert await state(together, marks=True) == await state(alone, marks=True)
    products = await together.products([repriced["product_id"]])
    assert products[repriced["product_id"]]["price_fen"] == 99_999
    licenses = await together.licenses([granted.data["license_id"]])
    assert licenses[granted.data["license_id"]]["status"] == "suspended"


async def test_a_batch_costs_at_most_half_a_store_command_per_event(
    mongo: tuple[AsyncMongoClient, Commands],
) -> None:
    """Steady state: the documents exist; a poll of 100-odd events of one
    museum's orders sends one `$in` read of the seen set, one guarded update
    per collection and two writes recording the ids, each by `_id`."""
    client, commands = mongo
    store = await fresh(client)
    scenario = many_sales(days=1)
    events = scenario.all_events()
    warm = [e for e in events if not e.type.startswith("rebirth.orders.")]
    offsets = iter(range(1_000_000))

    def items(envs: list[Envelope]) -> list[tuple[Event, EventMeta]]:
        out = []
        for env in envs:
            contract = contract_for(env.type)
            assert contract is not None
            out.append((contract.model_validate(env.data), _meta(env, 0, next(offsets))))
        return out

    await project_batch(items(warm), store=store)
    # more sales of the same day: the same documents, new orders
    more = [s for _ in range(3) for s in many_sales(days=1).sales]
    for sale in more:
        sale.items = [(scenario.products[0], 1), (scenario.products[1], 2)]
    batch = [e for sale in more[:10] for e in scenario.sale_events(sale)]
    await project_batch(items(batch), store=store)
    batch = [e for sale in more[10:40] for e in scenario.sale_events(sale)]
    commands.sent.clear()
    await project_batch(items(batch), store=store)
    sent = [(name, collection) for name, collection, _ in commands.sent]
    print(f"\nanalytics: {len(sent)} store commands for {len(batch)} events: {sent}")  # noqa: T201
    assert len(sent) <= 0.5 * len(batch)
    assert all(served_by_id(f) for _, _, filters in commands.sent for f in filters)
    assert {c for n, c, _ in commands.sent if n == "update"} >= {
        collection_name("museum_days", 1),
        collection_name("platform_days", 1),
    }
