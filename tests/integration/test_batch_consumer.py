"""Batch consumers (servicekit.consumer.BatchSubscription), proven against
real Kafka and a real MongoDB-wire store: a handler that folds a poll's
events in memory and writes once per batch (a bulk write keyed on event ids,
and a counter guarded by its high-water marks) applies every event exactly
once, whole-batch redelivery included, with a poison event dead-lettered on
its own."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient, UpdateOne
from pymongo.errors import BulkWriteError

from contracts import dlq_topic
from servicekit.bus import KafkaPublisher
from servicekit.consumer import BatchSubscription, ConsumerRunner, EventMeta
from servicekit.envelope import Envelope, encode
from servicekit.outbox import outbox_entry
from tests.conftest import Infra
from tests.integration.kafka_helpers import ProbeEvent, create_topics, probe_contract, read_all
from tests.support import eventually, unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]


@pytest_asyncio.fixture
async def db(infra: Infra):
    client: AsyncMongoClient = AsyncMongoClient(infra.mongodb_url, tz_aware=True)
    yield client[unique("batch").replace("-", "_")]
    await client.close()


@pytest_asyncio.fixture
async def topic(infra: Infra) -> str:
    name = unique("test.batch")
    await create_topics(infra.kafka_bootstrap, name)
    return name


def _envelope(contract: type[ProbeEvent], aggregate: str, seq: int) -> Envelope:
    event = contract(aggregate=aggregate, seq=seq)
    entry = outbox_entry(event, source="proof")
    return Envelope(
        id=entry["id"],
        type=entry["type"],
        source="proof",
        subject=aggregate,
        time=entry["time"],
        data=json.loads(entry["data"]),
    )


async def _publish(bootstrap: str, topic: str, envelopes: list[Envelope]) -> None:
    publisher = KafkaPublisher(bootstrap, "batch-setup")
    try:
        await publisher.publish(topic, [encode(e) for e in envelopes])
    finally:
        await publisher.stop()


class Fold:
    """A batch handler as a service writes one: per aggregate, the events of
    the batch in order fold into one guarded update (its `seqs` grow only
    past the offset it last applied per partition), and one bulk write of
    `seen` records keyed by event id; both survive redelivery."""

    def __init__(self, db, *, poison: int | None = None) -> None:  # noqa: ANN001
        self.aggregates, self.seen = db["aggregates"], db["seen"]
        self.poison = poison
        self.batches: list[int] = []
        self.crash_after_write = False
        self.written = asyncio.Event()

    async def __call__(self, items: Sequence[tuple[ProbeEvent, EventMeta]]) -> None:
        if any(event.seq == self.poison for event, _ in items):
            raise ValueError(f"seq {self.poison} cannot be handled")
        self.batches.append(len(items))
        by_aggregate: dict[str, list[tuple[ProbeEvent, EventMeta]]] = {}
        for event, meta in items:
            by_aggregate.setdefault(event.aggregate, []).append((event, meta))
        updates = []
        for aggregate, events in by_aggregate.items():
            partition = events[0][1].partition
            field = f"hwm_{partition}"
            last = events[-1][1].offset
            # a redelivered batch finds the mark at its last offset: no-op
            updates.append(
                UpdateOne(
                    {
                        "_id": aggregate,
                        "$or": [{field: {"$exists": False}}, {field: {"$lt": last}}],
                    },
                    {
                        "$push": {"seqs": {"$each": [e.seq for e, _ in events]}},
                        "$set": {field: last},
                    },
                    upsert=True,
                )
            )
        try:
            await self.aggregates.bulk_write(updates, ordered=False)
        except BulkWriteError as exc:  # the upsert of a guarded-out existing document
            if any(e["code"] != 11000 for e in exc.details["writeErrors"]):
                raise
        try:
            await self.seen.insert_many([{"_id": m.id} for _, m in items], ordered=False)
        except BulkWriteError as exc:
            if any(e["code"] != 11000 for e in exc.details["writeErrors"]):
                raise
        if self.crash_after_write:
            self.written.set()
            await asyncio.Event().wait()  # the process dies before its commit


def _runner(
    infra: Infra, topic: str, contract: type[ProbeEvent], fold: Fold, dlq, *, linger_ms: int = 0
) -> ConsumerRunner:  # noqa: ANN001
    return ConsumerRunner(
        bootstrap_servers=infra.kafka_bootstrap,
        group_id=f"group-{topic}",
        topics=[topic],
        batch=BatchSubscription([contract], fold, linger_ms=linger_ms),
        dead_letters=dlq,
        backoff=0.01,
    )


async def test_a_batch_redelivered_whole_after_a_crash_before_commit_changes_nothing(
    infra: Infra, db, topic: str
) -> None:
    Probe = probe_contract(topic)
    await _publish(
        infra.kafka_bootstrap,
        topic,
        [_envelope(Probe, f"agg-{a}", s) for s in range(5) for a in range(4)],
    )
    dlq = KafkaPublisher(infra.kafka_bootstrap, "batch-dlq")
    crashing = Fold(db)
    crashing.crash_after_write = True
    first = asyncio.create_task(_runner(infra, topic, Probe, crashing, dlq).run())
    await asyncio.wait_for(crashing.written.wait(), 30)
    first.cancel()  # written, not committed
    with pytest.raises(asyncio.CancelledError):
        await first

    fold = Fold(db)
    runner = _runner(infra, topic, Probe, fold, dlq)
    second = asyncio.create_task(runner.run())

    async def all_seen() -> bool:
        return await db["seen"].count_documents({}) == 20 and sum(fold.batches) >= 1

    try:
        await eventually(all_seen, timeout=60, what="the redelivered batch handled")
    finally:
        await runner.stop()
        await second
        await dlq.stop()
    docs = {d["_id"]: d["seqs"] async for d in db["aggregates"].find({})}
    assert docs == {f"agg-{a}": [0, 1, 2, 3, 4] for a in range(4)}  # once each, in order


async def test_a_poison_event_mid_batch_goes_to_the_dlq_and_its_neighbours_apply_once(
    infra: Infra, db, topic: str
) -> None:
    Probe = probe_contract(topic)
    await _publish(infra.kafka_bootstrap, topic, [_envelope(Probe, "agg", s) for s in range(7)])
    dlq = KafkaPublisher(infra.kafka_bootstrap, "batch-dlq")
    fold = Fold(db, poison=3)
    runner = _runner(infra, topic, Probe, fold, dlq)
    task = asyncio.create_task(runner.run())

    async def done() -> bool:
        return await db["seen"].count_documents({}) == 6

    try:
        await eventually(done, timeout=60, what="the six good events applied")
    finally:
        await runner.stop()
        await task
        await dlq.stop()
    assert (await db["aggregates"].find_one({"_id": "agg"}))["seqs"] == [0, 1, 2, 4, 5, 6]
    dead = await read_all(infra.kafka_bootstrap, dlq_topic(topic), expected=1)
    assert [json.loads(r.value)["seq"] for r in dead] == [3]
    assert dict(dead[0].headers)["dlq_error_type"] == b"ValueError"


async def test_events_of_one_aggregate_in_one_batch_end_as_if_applied_one_by_one(
    infra: Infra, db, topic: str
) -> None:
    Probe = probe_contract(topic)
    envelopes = [_envelope(Probe, "agg", s) for s in range(30)]
    await _publish(infra.kafka_bootstrap, topic, envelopes)
    dlq = KafkaPublisher(infra.kafka_bootstrap, "batch-dlq")
    fold = Fold(db)
    runner = _runner(infra, topic, Probe, fold, dlq)
    task = asyncio.create_task(runner.run())

    async def done() -> bool:
        return await db["seen"].count_documents({}) == 30

    try:
        await eventually(done, timeout=60, what="all thirty applied")
    finally:
        await runner.stop()
        await task
        await dlq.stop()
    assert max(fold.batches) > 1  # they really came as batches
    assert (await db["aggregates"].find_one({"_id": "agg"}))["seqs"] == list(range(30))


async def test_a_lingering_consumer_takes_events_arriving_apart_as_one_batch(
    infra: Infra, db, topic: str
) -> None:
    Probe = probe_contract(topic)
    dlq = KafkaPublisher(infra.kafka_bootstrap, "batch-dlq")
    publisher = KafkaPublisher(infra.kafka_bootstrap, "batch-linger")
    fold = Fold(db)
    # generous: the events below arrive well within it on any machine
    runner = _runner(infra, topic, Probe, fold, dlq, linger_ms=3000)
    task = asyncio.create_task(runner.run())

    async def seen(n: int) -> bool:
        return await db["seen"].count_documents({}) == n

    try:
        # a first event alone: the consumer is then polling, not joining
        await publisher.publish(topic, [encode(_envelope(Probe, "agg", 0))])
        await eventually(lambda: seen(1), timeout=60, what="the first event")
        await publisher.publish(topic, [encode(_envelope(Probe, "agg", 1))])
        await asyncio.sleep(0.5)  # apart: without a linger, a poll of its own
        for seq in (2, 3, 4):
            await publisher.publish(topic, [encode(_envelope(Probe, "agg", seq))])
        await eventually(lambda: seen(5), timeout=60, what="all five applied")
    finally:
        await runner.stop()
        await task
        await publisher.stop()
        await dlq.stop()
    assert fold.batches == [1, 4]
    assert (await db["aggregates"].find_one({"_id": "agg"}))["seqs"] == [0, 1, 2, 3, 4]
