"""(e) Poison events at service level: records no version of analytics can
handle (not JSON, no CloudEvents type, a payload that breaks its contract)
arrive in the middle of a museum's day. Each goes to `<topic>.dlq` once, with
the error in its headers; the stream behind them is not held up and the
dashboard totals are exact. Re-driving them (`rebirth-redrive`) while their
cause is still there sends each back to the DLQ exactly once more and applies
nothing: a re-drive can never half-apply a broken event.

Re-driving dead letters after their cause is fixed, each applied exactly
once, is proven with a real consumer on real Kafka and FerretDB in
tests/integration/test_foundation_proofs.py."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]
from cloudevents.core.bindings.kafka import KafkaMessage

from contracts import dlq_topic
from contracts.orders import OrderPaid
from servicekit.bus import KafkaPublisher
from servicekit.envelope import encode
from servicekit.redrive import redrive
from tests.analytics.helpers import live_group, wait_for_totals
from tests.analytics.scenario import Scenario, caught_up, publish
from tests.conftest import Infra
from tests.reliability.helpers import measured, wait_ready
from tests.support import eventually, topic_partitions

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]

TOPIC = OrderPaid.TOPIC
DLQ = dlq_topic(TOPIC)


async def _dead_letters(bootstrap: str) -> list[dict[str, str]]:
    """Every record on the DLQ now, as its headers."""
    partitions = await topic_partitions(bootstrap, [DLQ])
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[dict[str, str]] = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found += [{k: v.decode() for k, v in r.headers} for r in records]
        return found
    finally:
        await consumer.stop()


async def test_poison_goes_to_the_dlq_once_and_the_stream_behind_it_flows(
    infra: Infra, run_service: Any
) -> None:
    analytics = run_service("analytics")
    await wait_ready(analytics)
    bootstrap = infra.kafka_bootstrap
    scenario = Scenario.scripted_day()
    events = scenario.all_events()
    paid = next(e for e in events if e.type == OrderPaid.TYPE)
    good = encode(paid)
    poison = {
        "MalformedEvent": (good.headers, b"{not json"),
        "MalformedEvent ": ({k: v for k, v in good.headers.items() if k != "ce_type"}, good.value),
        "ValidationError": (
            {**good.headers, "ce_id": str(uuid.uuid4()).encode()},
            b'{"order_id": 42, "lines": "none"}',
        ),
    }
    half = len(events) // 2
    await publish(bootstrap, events[:half])
    publisher = KafkaPublisher(bootstrap, "reliability-poison")
    try:
        await publisher.publish(
            TOPIC,
            [KafkaMessage(headers=h, key=good.key, value=v) for h, v in poison.values()],
        )
    finally:
        await publisher.stop()
    await publish(bootstrap, events[half:])

    payload = await wait_for_totals(analytics, scenario, timeout=90)
    for name, value in scenario.expected_totals().items():
        assert payload["totals"][name] == value, name

    async def all_dead() -> bool:
        return len(await _dead_letters(bootstrap)) >= len(poison)

    await eventually(all_dead, what="every poison record dead-lettered")
    letters = await _dead_letters(bootstrap)
    assert sorted(h["dlq_error_type"] for h in letters) == sorted(k.strip() for k in poison)
    assert {h["dlq_topic"] for h in letters} == {TOPIC}
    assert {h["dlq_group"] for h in letters} == {live_group(analytics)}

    # the cause is still there: a re-drive sends each back once, applies nothing
    listed = await redrive(bootstrap, DLQ, dry_run=True)
    assert len(listed) == len(poison)
    redriven = await redrive(bootstrap, DLQ)
    assert {(d.partition, d.offset) for d in redriven} == {(d.partition, d.offset) for d in listed}

    async def back_in_the_dlq() -> bool:
        return len(await _dead_letters(bootstrap)) >= 2 * len(poison)

    await eventually(back_in_the_dlq, what="re-driven poison dead-lettered again")
    # only the new dead letters are pending: none of the first ones goes twice
    pending = await redrive(bootstrap, DLQ, dry_run=True)
    assert len(pending) == len(poison)
    assert not {(d.partition, d.offset) for d in pending} & {
        (d.partition, d.offset) for d in listed
    }
    await eventually(lambda: caught_up(bootstrap, live_group(analytics)), what="caught up")
    assert len(await _dead_letters(bootstrap)) == 2 * len(poison)
    again = await wait_for_totals(analytics, scenario)
    assert again["totals"] == payload["totals"]
    measured(
        "poison events",
        f"{len(poison)} poison records among {len(events)} events: each dead-lettered once "
        f"({', '.join(sorted(h['dlq_error_type'] for h in letters))}), totals exact; "
        f"re-driven while still broken: each back in the DLQ once, nothing applied",
    )
