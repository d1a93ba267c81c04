"""Consumer throughput from a backlog: how fast a consumer group works a
topic's records off (events/s), next to a bare aiokafka read of the same
records (same partitions, same offset range, read_committed, no decoding).

Polled every 100 ms from before the service starts: the service's own
`events_consumed_total` (/metrics) and the group's committed offsets. The
clock runs from the last poll at which no instance had handled an event (so
process start and the group join are left out; at most one poll interval of
idle is counted) to the first poll at which the committed offsets reached the
end (servicekit's consumers commit after each batch, so this can only be
late, not early). `with_startup_s` is the time from launching the processes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]
from pymongo import AsyncMongoClient

from servicekit.outbox import PENDING

__all__ = [
    "bare_read",
    "committed",
    "end_offsets",
    "measure_drain",
    "outbox_flushed",
    "partitions",
    "store_profile",
]

Offsets = dict[TopicPartition, int]
POLL_SECONDS = 0.1


def partitions(topics: list[str], count: int = 6) -> list[TopicPartition]:
    return [TopicPartition(t, p) for t in topics for p in range(count)]


async def end_offsets(
    bootstrap: str, tps: list[TopicPartition], *, beginning: bool = False
) -> Offsets:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed")
    await consumer.start()
    try:
        found = await (consumer.beginning_offsets(tps) if beginning else consumer.end_offsets(tps))
        return {tp: int(o) for tp, o in found.items()}
    finally:
        await consumer.stop()


async def committed(bootstrap: str, group: str, tps: list[TopicPartition]) -> Offsets:
    """The group's committed offsets; a partition it never committed: its beginning."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        found = await admin.list_consumer_group_offsets(group, partitions=tps)
    finally:
        await admin.close()
    begin = await end_offsets(bootstrap, tps, beginning=True)
    return {
        tp: (found[tp].offset if tp in found and found[tp].offset >= 0 else begin[tp]) for tp in tps
    }


async def bare_read(bootstrap: str, start: Offsets, end: Offsets) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    try:
        remaining = [tp for tp in start if end[tp] > start[tp]]
        consumer.assign(list(start))
        for tp in start:
            consumer.seek(tp, start[tp])
        count = 0
        began = time.perf_counter()
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=500, max_records=5_000)
            for tp, records in fetched.items():
                count += sum(1 for r in records if r.offset < end[tp])
            remaining = [tp for tp in remaining if await consumer.position(tp) < end[tp]]
        seconds = time.perf_counter() - began
    finally:
        await consumer.stop()
    return {"events": count, "seconds": round(seconds, 2), "per_s": _rate(count, seconds)}


async def measure_drain(
    bootstrap: str,
    group: str,
    start: Offsets,
    end: Offsets,
    launch: Callable[[], Awaitable[Any]],
    metrics_urls: list[str],
    *,
    timeout: float = 900,
) -> dict[str, Any]:
    """Run `launch` (start the consumers) and time `group` working off
    `start`..`end`: from the last poll at which no instance had handled an
    event yet (`events_consumed_total` on its /metrics) to the first poll at
    which the group's committed offsets reached `end`."""
    tps = list(start)
    total = sum(end[tp] - start[tp] for tp in tps)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    launching = asyncio.create_task(launch())
    began = time.perf_counter()
    idle_at = began
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            deadline = time.monotonic() + timeout
            while True:
                now = time.perf_counter()
                if not await _any_handled(http, metrics_urls):
                    idle_at = now
                found = await admin.list_consumer_group_offsets(group, partitions=tps)
                done = sum(
                    min(end[tp], found[tp].offset) - start[tp]
                    for tp in tps
                    if tp in found and found[tp].offset >= start[tp]
                )
                if done >= total:
                    break
                if launching.done() and launching.exception() is not None:
                    break  # raised below, by `await launching`
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{group}: {done}/{total} events after {timeout}s")
                await asyncio.sleep(POLL_SECONDS)
    finally:
        await launching
        await admin.close()
    seconds = now - idle_at
    return {
        "events": total,
        "seconds": round(seconds, 2),
        "per_s": _rate(total, seconds),
        "with_startup_s": round(now - began, 2),
    }


async def _any_handled(http: httpx.AsyncClient, urls: list[str]) -> bool:
    for url in urls:
        try:
            text = (await http.get(f"{url}/metrics")).text
        except httpx.HTTPError:
            continue  # not up yet
        for line in text.splitlines():
            if line.startswith("events_consumed_total{") and float(line.rsplit(" ", 1)[1]) > 0:
                return True
    return False


async def outbox_flushed(mongodb_url: str, database: str, timeout: float = 900) -> None:
    """Wait until no document of `database` holds an unpublished event: a
    backlog measured from Kafka's end offsets must be all there."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url)
    db = client[database]
    deadline = time.monotonic() + timeout
    try:
        while True:
            pending = 0
            for name in await db.list_collection_names():
                pending += await db[name].count_documents(PENDING)
            if pending == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{database}: {pending} documents still to publish")
            await asyncio.sleep(1)
    finally:
        await client.close()


async def store_profile(url: str, events: int, top: int = 8) -> dict[str, Any]:
    """Where a service's time went, from its /metrics since it started:
    store round trips (`store_command_duration_seconds`) per handled event,
    by command and collection, busiest first. Includes its start-up and its
    outbox relay's polling, so it is an upper bound per event."""
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(f"{url}/metrics")).text
    rows: dict[tuple[str, str], dict[str, float]] = {}
    for line in text.splitlines():
        for suffix, field in (("_count{", "count"), ("_sum{", "seconds")):
            prefix = f"store_command_duration_seconds{suffix}"
            if line.startswith(prefix):
                labels = dict(
                    pair.split("=", 1) for pair in line[len(prefix) : line.index("}")].split(",")
                )
                key = (labels["command"].strip('"'), labels["collection"].strip('"'))
                rows.setdefault(key, {})[field] = float(line.rsplit(" ", 1)[1])
    total_count = sum(r.get("count", 0) for r in rows.values())
    total_seconds = sum(r.get("seconds", 0) for r in rows.values())
    busiest = sorted(rows.items(), key=lambda kv: -kv[1].get("seconds", 0))[:top]
    per = max(events, 1)
    return {
        "round_trips_per_event": round(total_count / per, 1),
        "store_ms_per_event": round(1000 * total_seconds / per, 1),
        "busiest": [
            {
                "command": command,
                "collection": collection,
                "per_event": round(r.get("count", 0) / per, 2),
                "mean_ms": round(1000 * r.get("seconds", 0) / max(r.get("count", 0), 1), 1),
            }
            for (command, collection), r in busiest
        ],
    }


def _rate(events: int, seconds: float) -> float | None:
    return round(events / seconds, 1) if seconds > 0 else None
