"""Analytics replay throughput over 200k order events, next to a bare aiokafka read.

    .venv/bin/python bench/analytics_replay.py [--events N] [--stack NAME] [--keep]

Starts a private local stack (Kafka + FerretDB), publishes N `order.paid`
events (2 lines each, 12 museums, 240 products, 30 days), then in the same
run: (1) a bare aiokafka read of the projected topics from the beginning to
their end offsets (no decoding: the ceiling), and (2) `analytics replay`
(decode, validate, fold, bulk-write into a fresh projection version, commit,
activate). Reports events/s of both and their ratio. Never asserted in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy" / "local"))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402
from localstack import LocalStack  # noqa: E402

from analytics.config import Settings  # noqa: E402
from analytics.kafka import partitions_of  # noqa: E402
from analytics.projector import PROJECTED_TOPICS  # noqa: E402
from analytics.replay import replay  # noqa: E402
from contracts.orders import OrderLine, OrderPaid  # noqa: E402
from servicekit.envelope import Envelope, encode  # noqa: E402
from servicekit.mongo import connect  # noqa: E402

EVENTS = 200_000


def _paid(rng: random.Random, start: datetime) -> OrderPaid:
    order_id = uuid.uuid4().hex
    lines = []
    for i in range(2):
        product = rng.randrange(240)
        museum = product % 12
        quantity = rng.randint(1, 3)
        price = 1_000 + product * 37
        lines.append(
            OrderLine(
                line_id=f"{order_id}-{i}",
                product_id=f"p{product}",
                sku=f"SKU-{product}",
                quantity=quantity,
                unit_price_fen=price,
                line_total_fen=price * quantity,
                license_id=f"lic{product % 60}",
                licensee_id=f"lee{product % 20}",
                relic_ids=[f"r{product % 100}"],
                museum_id=f"m{museum}",
            )
        )
    return OrderPaid(
        order_id=order_id,
        payment_id=uuid.uuid4().hex,
        customer_id="bench",
        lines=lines,
        total_fen=sum(line.line_total_fen for line in lines),
        paid_at=start + timedelta(seconds=rng.randrange(30 * 86_400)),
    )


async def publish(bootstrap: str, n: int) -> float:
    rng = random.Random(42)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=512 * 1024
    )
    await producer.start()
    began = time.perf_counter()
    try:
        pending = []
        for _ in range(n):
            event = _paid(rng, start)
            message = encode(
                Envelope(
                    id=str(uuid.uuid4()),
                    type=event.TYPE,
                    source="bench",
                    subject=event.order_id,
                    time=event.paid_at,
                    data=json.loads(event.model_dump_json()),
                )
            )
            pending.append(
                await producer.send(
                    OrderPaid.TOPIC,
                    value=message.value,
                    key=message.key,
                    headers=list(message.headers.items()),
                )
            )
            if len(pending) >= 5_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - began


async def bare_read(bootstrap: str) -> tuple[int, float]:
    partitions = await partitions_of(bootstrap, PROJECTED_TOPICS)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        begin = await consumer.beginning_offsets(partitions)
        end = await consumer.end_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, begin[tp])
        remaining = {tp for tp in partitions if end[tp] > begin[tp]}
        count = 0
        began = time.perf_counter()
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=500, max_records=5_000)
            for tp, records in fetched.items():
                count += sum(1 for r in records if r.offset < end[tp])
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        return count, time.perf_counter() - began
    finally:
        await consumer.stop()


async def run(stack: LocalStack, n: int) -> list[str]:
    os.environ.update(
        KAFKA_BOOTSTRAP_SERVERS=stack.kafka_bootstrap,
        MONGODB_URL=stack.mongodb_url,
        ANALYTICS_MONGODB_DATABASE=f"bench_{uuid.uuid4().hex[:8]}",
        KAFKA_CONSUMER_GROUP=f"analytics-bench-{uuid.uuid4().hex[:8]}",
    )
    settings = Settings()
    publish_s = await publish(stack.kafka_bootstrap, n)
    print(f"published {n:,} events in {publish_s:.1f}s", flush=True)
    read, bare_s = await bare_read(stack.kafka_bootstrap)
    mongo = connect(settings)
    try:
        result = await replay(db=mongo[settings.mongodb_database], settings=settings)
        await mongo.drop_database(settings.mongodb_database)
    finally:
        await mongo.close()
    bare_rate = read / bare_s
    return [
        f"- events on the projected topics: {read:,} ({n:,} `order.paid`, 2 lines each)",
        f"- bare aiokafka read (no decoding): {bare_rate:,.0f} events/s ({bare_s:.1f}s)",
        f"- `analytics replay`: {result.events_per_second:,.0f} events/s ({result.seconds:.1f}s, "
        f"{result.events:,} events, version v{result.version} activated={result.activated})",
        f"- ratio replay / bare read: {result.events_per_second / bare_rate:.3f}",
    ]


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--stack", default="bench")
    parser.add_argument("--keep", action="store_true", help="leave the stack running")
    args = parser.parse_args(argv if argv is not None else [])
    stack = LocalStack(args.stack)
    stack.wipe()
    stack.up()
    try:
        return asyncio.run(run(stack, args.events))
    finally:
        if not args.keep:
            stack.down()


if __name__ == "__main__":
    print("\n".join(main(sys.argv[1:])))
