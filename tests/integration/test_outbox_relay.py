"""The outbox relay, proven against real Kafka and a real MongoDB-wire store:
events survive a broker outage and a crash, go out once and in order from
several replicas, and the relay's reads cost what is pending, not what is
stored (servicekit.outbox's pending markers)."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient, monitoring

from servicekit.bus import KafkaPublisher
from servicekit.outbox import (
    MARKERS,
    OUTBOX,
    attach_events,
    mark_pending,
    outbox_entry,
    push_events,
)
from servicekit.outbox_hints import OutboxHints
from servicekit.queries import filters_of, served_by_id
from servicekit.relay import LEASE, OutboxRelay
from tests.conftest import Infra
from tests.integration.kafka_helpers import (
    create_topics,
    end_offsets_total,
    probe_contract,
    read_all,
)
from tests.support import eventually, unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]


@pytest_asyncio.fixture
async def db(infra: Infra):
    client: AsyncMongoClient = AsyncMongoClient(infra.mongodb_url, tz_aware=True)
    yield client[unique("relay").replace("-", "_")]
    await client.close()


@pytest_asyncio.fixture
async def topic(infra: Infra) -> str:
    name = unique("test.relay")
    await create_topics(infra.kafka_bootstrap, name)
    return name


@pytest.mark.stack_control
async def test_outbox_writes_during_a_broker_outage_arrive_exactly_once_in_order(
    infra: Infra, stack, db, topic: str
) -> None:
    Probe = probe_contract(topic)
    aggregates = db["aggregates"]
    await asyncio.to_thread(stack.stop_kafka)

    for i in range(100):  # 10 aggregates x 10 changes, each change + its event in one write
        aggregate, seq = f"agg-{i % 10}", i // 10
        update = push_events(
            {"$set": {"seq": seq}},
            [outbox_entry(Probe(aggregate=aggregate, seq=seq), source="proof")],
        )
        await mark_pending(aggregates, aggregate)
        result = await aggregates.update_one({"_id": aggregate}, update, upsert=True)
        assert result.acknowledged

    async def pending() -> int:
        return sum([len(d.get(OUTBOX, [])) async for d in aggregates.find({})])

    publisher = KafkaPublisher(infra.kafka_bootstrap, "proof-relay")
    relay = OutboxRelay(
        collections=[aggregates],
        publisher=publisher,
        sweep_interval=0.1,
        max_backoff=1.0,
    )
    with pytest.raises(Exception):  # noqa: B017,PT011  (the broker really is down)
        await relay.drain()
    assert await pending() == 100
    relay_task = asyncio.create_task(relay.run())
    try:
        await asyncio.to_thread(stack.start_kafka)
        await asyncio.to_thread(stack.wait_kafka)

        async def drained() -> bool:
            return await pending() == 0

        await eventually(drained, timeout=60, what="outbox drained")
    finally:
        relay.stop()
        await relay_task
        await publisher.stop()

    assert await end_offsets_total(infra.kafka_bootstrap, topic) == 100  # exactly 100, no dupes
    records = await read_all(infra.kafka_bootstrap, topic, expected=100)
    seqs: dict[str, list[int]] = defaultdict(list)
    for record in records:
        body = json.loads(record.value)
        assert record.key.decode() == body["aggregate"]
        seqs[body["aggregate"]].append(body["seq"])
    assert len({dict(r.headers)["ce_id"] for r in records}) == 100
    assert seqs == {f"agg-{a}": list(range(10)) for a in range(10)}


async def test_two_relays_publish_each_event_once_in_order_and_respect_leases(
    infra: Infra, db, topic: str
) -> None:
    """Two replicas sweep the same collection: each event goes out once, in
    its aggregate's order; a lease a live replica holds is left alone, one
    its crashed holder let lapse is taken over."""
    Probe = probe_contract(topic)
    aggregates = db["aggregates"]
    now = datetime.now(UTC)

    def entry(aggregate: str, seq: int) -> dict:
        return outbox_entry(Probe(aggregate=aggregate, seq=seq), source="proof")

    await mark_pending(aggregates, "held", "lapsed")
    await aggregates.insert_one(
        attach_events({"_id": "held", LEASE: now + timedelta(hours=1)}, [entry("held", 0)])
    )
    await aggregates.insert_one(
        attach_events({"_id": "lapsed", LEASE: now - timedelta(minutes=1)}, [entry("lapsed", 0)])
    )
    publishers = [KafkaPublisher(infra.kafka_bootstrap, f"proof-relay-{n}") for n in range(2)]
    relays = [
        OutboxRelay(collections=[aggregates], publisher=p, sweep_interval=0.05) for p in publishers
    ]
    tasks = [asyncio.create_task(relay.run()) for relay in relays]
    try:
        for seq in range(5):
            for a in range(10):
                await mark_pending(aggregates, f"agg-{a}")
                await aggregates.update_one(
                    {"_id": f"agg-{a}"}, push_events({}, [entry(f"agg-{a}", seq)]), upsert=True
                )
        records = await read_all(infra.kafka_bootstrap, topic, expected=51, timeout=60)
        await asyncio.sleep(1)  # time for any duplicate to show
        records = await read_all(infra.kafka_bootstrap, topic, expected=52, timeout=2)
    finally:
        for relay in relays:
            relay.stop()
        await asyncio.gather(*tasks)
        for p in publishers:
            await p.stop()
    seqs: dict[str, list[int]] = defaultdict(list)
    for record in records:
        body = json.loads(record.value)
        seqs[body["aggregate"]].append(body["seq"])
    assert seqs == {"lapsed": [0], **{f"agg-{a}": list(range(5)) for a in range(10)}}
    assert (await aggregates.find_one({"_id": "held"}))[OUTBOX]  # still waiting for its holder


async def test_the_relay_publishes_what_its_own_client_writes_without_waiting_for_a_sweep(
    infra: Infra, topic: str
) -> None:
    """The sweep is an hour away: events still go out, found from the writes
    themselves (by _id, or by a scan when a write names no single _id)."""
    Probe = probe_contract(topic)
    hints = OutboxHints()
    client: AsyncMongoClient = AsyncMongoClient(
        infra.mongodb_url, tz_aware=True, event_listeners=[hints]
    )
    aggregates = client[unique("hints").replace("-", "_")]["aggregates"]
    publisher = KafkaPublisher(infra.kafka_bootstrap, "proof-relay")
    relay = OutboxRelay(
        collections=[aggregates], publisher=publisher, hints=hints, sweep_interval=3600
    )
    relay_task = asyncio.create_task(relay.run())
    try:
        await mark_pending(aggregates, "agg-0")
        await aggregates.insert_one(
            attach_events(
                {"_id": "agg-0", "group": "g"},
                [outbox_entry(Probe(aggregate="agg-0", seq=0), source="proof")],
            )
        )
        for seq in (1, 2):
            await mark_pending(aggregates, "agg-0")
            await aggregates.update_one(
                {"_id": "agg-0", "group": "g"},
                push_events(
                    {"$set": {"seq": seq}},
                    [outbox_entry(Probe(aggregate="agg-0", seq=seq), source="proof")],
                ),
            )
        await mark_pending(aggregates, "agg-0")
        await aggregates.update_many(  # names no single _id: the hints ask for a sweep
            {"group": "g"},
            push_events(
                {"$set": {"seq": 3}},
                [outbox_entry(Probe(aggregate="agg-0", seq=3), source="proof")],
            ),
        )
        records = await read_all(infra.kafka_bootstrap, topic, expected=4, timeout=30)
    finally:
        relay.stop()
        await relay_task
        await publisher.stop()
        await client.close()
    assert [json.loads(r.value)["seq"] for r in records] == [0, 1, 2, 3]


class FilterRecorder(monitoring.CommandListener):
    """Every filter the client sent, with its command and collection."""

    def __init__(self) -> None:
        self.filters: list[tuple[str, str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        collection = str(event.command.get(event.command_name))
        for query in filters_of(event.command_name, event.command):
            self.filters.append((event.command_name, collection, query))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_a_sweep_reads_the_pending_markers_not_the_history(infra: Infra, topic: str) -> None:
    """5,000 relayed documents and one pending: the sweep publishes the pending
    one, and every filter it sends names documents by `_id` (or reads the
    markers, which hold only what is pending)."""
    Probe = probe_contract(topic)
    recorder = FilterRecorder()
    client: AsyncMongoClient = AsyncMongoClient(
        infra.mongodb_url, tz_aware=True, event_listeners=[recorder]
    )
    aggregates = client[unique("relay").replace("-", "_")]["aggregates"]
    await aggregates.insert_many([{"_id": f"old-{n}", "seq": 0} for n in range(5000)])
    await mark_pending(aggregates, "new")
    await aggregates.insert_one(
        attach_events({"_id": "new"}, [outbox_entry(Probe(aggregate="new", seq=0), source="proof")])
    )
    publisher = KafkaPublisher(infra.kafka_bootstrap, "proof-relay")
    recorder.filters.clear()
    try:
        sent = await OutboxRelay(collections=[aggregates], publisher=publisher).drain()
        assert sent == 1
        assert await aggregates.database[MARKERS].count_documents({}) == 0  # relayed: dropped
    finally:
        await publisher.stop()
        await client.close()
    sweep = recorder.filters[:-1]  # the last one is the count above
    assert sweep, "the sweep sent no command"
    scans = [(c, coll, q) for c, coll, q in sweep if coll != MARKERS and not served_by_id(q)]
    assert scans == []
    assert [
        json.loads(r.value)["seq"] for r in await read_all(infra.kafka_bootstrap, topic, expected=1)
    ] == [0]


async def test_a_crash_between_the_marker_and_its_write_loses_nothing_and_publishes_nothing_twice(
    infra: Infra, db, topic: str
) -> None:
    """The writer dies twice: once after marking and before writing (the
    write never lands), once after writing and before relaying. A fresh
    replica's sweep publishes the written events exactly once, leaves the
    document clean, and drops the unwritten write's marker after the grace."""
    Probe = probe_contract(topic)
    aggregates = db["aggregates"]
    await mark_pending(aggregates, "never-written")  # crash: no write follows

    await mark_pending(aggregates, "written")
    await aggregates.insert_one(
        attach_events(
            {"_id": "written"},
            [outbox_entry(Probe(aggregate="written", seq=n), source="proof") for n in range(3)],
        )
    )  # crash: no relay followed

    publisher = KafkaPublisher(infra.kafka_bootstrap, "proof-relay")
    try:
        fresh = OutboxRelay(collections=[aggregates], publisher=publisher, marker_grace_seconds=0.5)
        assert await fresh.drain() == 3
        assert await fresh.drain() == 0  # nothing twice
        markers = aggregates.database[MARKERS]
        assert [m["_id"] async for m in markers.find({})] == ["aggregates:never-written"]

        await asyncio.sleep(0.6)  # past the grace: its write will never land
        assert await fresh.drain() == 0
        assert await markers.count_documents({}) == 0
    finally:
        await publisher.stop()
    assert (await aggregates.find_one({"_id": "written"}))[OUTBOX] == []
    assert await end_offsets_total(infra.kafka_bootstrap, topic) == 3
    records = await read_all(infra.kafka_bootstrap, topic, expected=3)
    assert [json.loads(r.value)["seq"] for r in records] == [0, 1, 2]


async def test_a_marker_stays_while_a_marked_write_has_not_landed(
    infra: Infra, db, topic: str
) -> None:
    """Two writers mark one document; one write lands and is relayed. The
    marker outlives that relay (it counts a write the relay did not see), so
    when the second write lands after it, a sweep still finds it."""
    Probe = probe_contract(topic)
    aggregates = db["aggregates"]
    await mark_pending(aggregates, "agg")
    await mark_pending(aggregates, "agg")  # a second writer, slower
    await aggregates.update_one(
        {"_id": "agg"},
        push_events({}, [outbox_entry(Probe(aggregate="agg", seq=0), source="proof")]),
        upsert=True,
    )
    publisher = KafkaPublisher(infra.kafka_bootstrap, "proof-relay")
    try:
        relay = OutboxRelay(collections=[aggregates], publisher=publisher)
        assert await relay.drain() == 1
        assert await aggregates.database[MARKERS].count_documents({}) == 1
        await aggregates.update_one(  # the slow writer lands; its process dies
            {"_id": "agg"},
            push_events({}, [outbox_entry(Probe(aggregate="agg", seq=1), source="proof")]),
        )
        assert await relay.drain() == 1
        assert await aggregates.database[MARKERS].count_documents({}) == 0
    finally:
        await publisher.stop()
    records = await read_all(infra.kafka_bootstrap, topic, expected=2)
    assert [json.loads(r.value)["seq"] for r in records] == [0, 1]


async def test_a_document_relayed_after_each_of_its_writes_leaves_no_marker(
    infra: Infra, db, topic: str
) -> None:
    """An order's life: placed, confirmed, paid, each relayed before the
    next. The marker is dropped every time, so the sweep never re-reads a
    document whose events all went out."""
    Probe = probe_contract(topic)
    aggregates = db["aggregates"]
    markers = aggregates.database[MARKERS]
    publisher = KafkaPublisher(infra.kafka_bootstrap, "proof-relay")
    relay = OutboxRelay(collections=[aggregates], publisher=publisher)
    try:
        for seq in range(3):
            await mark_pending(aggregates, "order")
            await aggregates.update_one(
                {"_id": "order"},
                push_events({}, [outbox_entry(Probe(aggregate="order", seq=seq), source="proof")]),
                upsert=True,
            )
            assert await relay.drain() == 1
            assert await markers.count_documents({}) == 0
        assert await relay.drain() == 0
    finally:
        await publisher.stop()
    records = await read_all(infra.kafka_bootstrap, topic, expected=3)
    assert [json.loads(r.value)["seq"] for r in records] == [0, 1, 2]


async def test_a_hinted_document_with_nothing_pending_costs_no_error(
    infra: Infra, topic: str
) -> None:
    """A document the hints name again after its events went out (a write
    that added none, or a second hint): the round finds nothing to uncount
    and carries on."""
    Probe = probe_contract(topic)
    hints = OutboxHints()
    client: AsyncMongoClient = AsyncMongoClient(
        infra.mongodb_url, tz_aware=True, event_listeners=[hints]
    )
    aggregates = client[unique("relay").replace("-", "_")]["aggregates"]
    publisher = KafkaPublisher(infra.kafka_bootstrap, "proof-relay")
    relay = OutboxRelay(collections=[aggregates], publisher=publisher, hints=hints)
    try:
        await mark_pending(aggregates, "agg")
        await aggregates.insert_one(
            attach_events({"_id": "agg"}, [outbox_entry(Probe(aggregate="agg", seq=0), source="p")])
        )
        assert await relay.drain() == 1
        # counted down to zero: relaying it again has nothing to uncount
        assert await relay._relay_all([(aggregates, "agg")]) == 0
    finally:
        await publisher.stop()
        await client.close()
