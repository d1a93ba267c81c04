"""The foundation's promises, proven against real Kafka and a real MongoDB-wire
store: no lost events, no double effects, poison isolated, honest readiness."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from cloudevents.core.bindings.kafka import KafkaMessage
from pymongo import AsyncMongoClient

from contracts import dlq_topic
from servicekit.bus import KafkaPublisher
from servicekit.consumer import ConsumerRunner, EventMeta
from servicekit.envelope import Envelope, encode
from servicekit.idempotency import apply_once
from servicekit.outbox import outbox_entry
from tests.conftest import Infra
from tests.integration.kafka_helpers import (
    PARTITIONS,
    ProbeEvent,
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
    yield client[unique("proof").replace("-", "_")]
    await client.close()


@pytest_asyncio.fixture
async def topic(infra: Infra) -> str:
    name = unique("test.proof")
    await create_topics(infra.kafka_bootstrap, name)
    return name


async def _publish_raw(bootstrap: str, topic: str, envelopes: list[Envelope]) -> None:
    publisher = KafkaPublisher(bootstrap, "proof-setup")
    try:
        await publisher.publish(topic, [encode(e) for e in envelopes])
    finally:
        await publisher.stop()


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


async def test_a_redelivered_event_after_a_crash_before_commit_applies_once(
    infra: Infra, db, topic: str
) -> None:
    Probe = probe_contract(topic)
    counters = db["counters"]
    await _publish_raw(infra.kafka_bootstrap, topic, [_envelope(Probe, "agg-1", 1)])

    deliveries: list[int] = []
    effect_done = asyncio.Event()

    async def count(event: ProbeEvent, meta: EventMeta) -> None:
        await apply_once(counters, "total", meta, {"$inc": {"seq_sum": event.seq}})
        deliveries.append(meta.offset)
        if len(deliveries) == 1:
            effect_done.set()
            await asyncio.Event().wait()  # the process dies here, before its commit

    dead_letters = KafkaPublisher(infra.kafka_bootstrap, "proof-dlq")

    def runner() -> ConsumerRunner:
        return ConsumerRunner(
            bootstrap_servers=infra.kafka_bootstrap,
            group_id=f"group-{topic}",
            topics=[topic],
            handlers={Probe: [count]},
            dead_letters=dead_letters,
        )

    first = asyncio.create_task(runner().run())
    await asyncio.wait_for(effect_done.wait(), 30)
    first.cancel()  # a crash: no graceful stop, no commit
    with pytest.raises(asyncio.CancelledError):
        await first

    second_runner = runner()
    second = asyncio.create_task(second_runner.run())

    async def redelivered() -> bool:
        return len(deliveries) == 2

    await eventually(redelivered, timeout=60, what="redelivery after the crash")
    await second_runner.stop()
    await second
    await dead_letters.stop()

    assert deliveries[0] == deliveries[1]  # the same record came twice
    assert (await counters.find_one({"_id": "total"}))["seq_sum"] == 1  # applied once


async def test_a_replica_joining_mid_batch_leaves_every_partition_committed(
    infra: Infra, topic: str
) -> None:
    """The first runner is still handling a batch when a second joins the
    group: partitions it loses mid-batch must not stop it committing the ones
    it keeps (Kafka refuses a commit naming a partition no longer assigned)."""
    Probe = probe_contract(topic)
    aggregates = [f"agg-{a}" for a in range(12)]  # keys spread over every partition
    await _publish_raw(
        infra.kafka_bootstrap,
        topic,
        [_envelope(Probe, a, seq) for seq in range(8) for a in aggregates],
    )
    handled: set[tuple[str, int]] = set()
    first_handled = asyncio.Event()

    async def slow(event: ProbeEvent, _meta: EventMeta) -> None:
        first_handled.set()
        await asyncio.sleep(0.15)  # a batch outlasts the rebalance (heartbeats every 3 s)
        handled.add((event.aggregate, event.seq))

    dead_letters = KafkaPublisher(infra.kafka_bootstrap, "proof-dlq")
    group = f"group-{topic}"
    runners = [
        ConsumerRunner(
            bootstrap_servers=infra.kafka_bootstrap,
            group_id=group,
            topics=[topic],
            handlers={Probe: [slow]},
            dead_letters=dead_letters,
        )
        for _ in range(2)
    ]
    tasks = [asyncio.create_task(runners[0].run())]
    await asyncio.wait_for(first_handled.wait(), 30)
    tasks.append(asyncio.create_task(runners[1].run()))  # joins while the first is mid-batch

    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    probe = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap, group_id=group)
    await probe.start()
    ends = await probe.end_offsets(partitions)

    async def all_committed() -> bool:
        return all([await probe.committed(tp) == ends[tp] for tp in partitions])

    try:
        await eventually(all_committed, timeout=90, what="every partition committed to its end")
    finally:
        await probe.stop()
        for runner in runners:
            await runner.stop()
        await asyncio.gather(*tasks)
        await dead_letters.stop()
    assert handled == {(a, seq) for seq in range(8) for a in aggregates}


async def test_poison_messages_go_to_the_dlq_with_their_error_and_the_rest_flow(
    infra: Infra, topic: str
) -> None:
    Probe = probe_contract(topic)
    handled: list[int] = []
    attempts_on_failing = 0

    async def record(event: ProbeEvent, _meta: EventMeta) -> None:
        nonlocal attempts_on_failing
        if event.seq == 3:
            attempts_on_failing += 1
            raise ValueError("seq 3 cannot be handled")
        handled.append(event.seq)

    good_first = encode(_envelope(Probe, "agg", 1))
    not_json = encode(_envelope(Probe, "agg", 2))
    bad_payload = encode(_envelope(Probe, "agg", 2))
    failing = encode(_envelope(Probe, "agg", 3))
    good_last = encode(_envelope(Probe, "agg", 4))
    not_json = KafkaMessage(headers=not_json.headers, key=not_json.key, value=b"{not json")
    bad_payload = KafkaMessage(
        headers=bad_payload.headers, key=bad_payload.key, value=b'{"aggregate": "agg"}'
    )
    publisher = KafkaPublisher(infra.kafka_bootstrap, "proof-setup")
    await publisher.publish(topic, [good_first, not_json, bad_payload, failing, good_last])
    await publisher.stop()

    dead_letters = KafkaPublisher(infra.kafka_bootstrap, "proof-dlq")
    runner = ConsumerRunner(
        bootstrap_servers=infra.kafka_bootstrap,
        group_id=f"group-{topic}",
        topics=[topic],
        handlers={Probe: [record]},
        dead_letters=dead_letters,
        max_attempts=3,
        backoff=0.01,
    )
    task = asyncio.create_task(runner.run())

    async def flowed() -> bool:
        return handled == [1, 4]

    await eventually(flowed, timeout=60, what="good messages handled around the poison")
    await runner.stop()
    await task
    await dead_letters.stop()

    dlq = await read_all(infra.kafka_bootstrap, dlq_topic(topic), expected=3)
    errors = sorted(dict(r.headers)["dlq_error_type"].decode() for r in dlq)
    assert errors == ["MalformedEvent", "ValidationError", "ValueError"]
    for r in dlq:
        headers = dict(r.headers)
        assert headers["dlq_topic"].decode() == topic
        assert headers["dlq_error"]
    assert attempts_on_failing == 3

    # and the group's committed offset moved past all five
    originals = await read_all(infra.kafka_bootstrap, topic, expected=5)
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap, group_id=f"group-{topic}")
    await consumer.start()
    try:
        committed = await consumer.committed(TopicPartition(topic, originals[0].partition))
    finally:
        await consumer.stop()
    assert committed == 5


@pytest.mark.stack_control
async def test_readyz_is_503_while_the_store_is_down_and_200_when_it_returns(
    stack, run_service
) -> None:
    catalog = run_service("catalog")

    async def status() -> int:
        async with httpx.AsyncClient(timeout=5) as client:
            return (await client.get(f"{catalog.url}/readyz")).status_code

    async def is_ready() -> bool:
        return await status() == 200

    async def is_unready() -> bool:
        return await status() == 503

    await eventually(is_ready, timeout=30, what="ready at start")
    await asyncio.to_thread(stack.stop_mongo)
    await eventually(is_unready, timeout=30, what="503 while FerretDB is down")
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(f"{catalog.url}/readyz")
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["checks"]["mongodb"] == "down"

    await asyncio.to_thread(stack.start_mongo)
    await asyncio.to_thread(stack.wait_mongo)
    await eventually(is_ready, timeout=30, what="ready again without a restart")


async def test_redrive_reprocesses_dead_letters_once_after_the_cause_is_fixed(
    infra: Infra, db, topic: str
) -> None:
    from servicekit.redrive import redrive

    Probe = probe_contract(topic)
    totals = db["totals"]
    broken = True

    async def add(event: ProbeEvent, meta: EventMeta) -> None:
        if broken:
            raise RuntimeError("downstream rule missing")
        await apply_once(totals, event.aggregate, meta, {"$inc": {"sum": event.seq}})

    await _publish_raw(
        infra.kafka_bootstrap, topic, [_envelope(Probe, f"agg-{i}", i) for i in range(1, 4)]
    )
    dead_letters = KafkaPublisher(infra.kafka_bootstrap, "proof-dlq")

    async def consume_until(condition, what: str) -> None:
        runner = ConsumerRunner(
            bootstrap_servers=infra.kafka_bootstrap,
            group_id=f"group-{topic}",
            topics=[topic],
            handlers={Probe: [add]},
            dead_letters=dead_letters,
            max_attempts=2,
            backoff=0.01,
        )
        task = asyncio.create_task(runner.run())
        try:
            await eventually(condition, timeout=60, what=what)
        finally:
            await runner.stop()
            await task

    async def three_dead() -> bool:
        return await end_offsets_total(infra.kafka_bootstrap, dlq_topic(topic)) == 3

    await consume_until(three_dead, "three dead letters")
    assert await totals.count_documents({}) == 0

    broken = False  # the cause is fixed
    listed = await redrive(infra.kafka_bootstrap, dlq_topic(topic), dry_run=True)
    assert sorted(letter.error_type for letter in listed) == ["RuntimeError"] * 3
    redriven = await redrive(infra.kafka_bootstrap, dlq_topic(topic))
    assert len(redriven) == 3
    assert await redrive(infra.kafka_bootstrap, dlq_topic(topic)) == []  # nothing twice

    async def applied() -> bool:
        return await totals.count_documents({}) == 3

    await consume_until(applied, "re-driven events applied")
    await dead_letters.stop()
    sums = {doc["_id"]: doc["sum"] async for doc in totals.find({})}
    assert sums == {"agg-1": 1, "agg-2": 2, "agg-3": 3}
