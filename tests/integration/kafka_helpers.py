"""Test-only Kafka helpers: per-test topics and contracts, reading topics back."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import ClassVar

from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]

from contracts import Event, dlq_topic


class ProbeEvent(Event):
    """Base of per-test contracts: each test gets its own type and topic."""

    KEY_FIELD: ClassVar[str] = "aggregate"
    aggregate: str
    seq: int


def probe_contract(topic: str) -> type[ProbeEvent]:
    name = f"Probe{uuid.uuid4().hex[:8]}"
    return type(name, (ProbeEvent,), {"TYPE": f"rebirth.test.{name}.v1", "TOPIC": topic})


PARTITIONS = 3  # of every per-test topic


async def create_topics(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(t, num_partitions=PARTITIONS, replication_factor=1)
                for t in (topic, dlq_topic(topic))
            ]
        )
    finally:
        await admin.close()


async def end_offsets_total(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    # let aiokafka's group-less coordinator task start; stopping it before its
    # first step raises CancelledError from consumer.stop()
    await asyncio.sleep(0.05)
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        return sum(ends.values())
    finally:
        await consumer.stop()


async def read_all(bootstrap: str, topic: str, expected: int, timeout: float = 30) -> list:
    """Read a topic from the start until `expected` records came (bounded)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list = []
    deadline = time.monotonic() + timeout
    try:
        while len(records) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for partition_records in batch.values():
                records.extend(partition_records)
        return records
    finally:
        await consumer.stop()
