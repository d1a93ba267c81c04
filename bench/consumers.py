"""Consumer throughput of each service's main consumer, from a backlog the
services themselves made through the public APIs, next to a bare aiokafka
read of the same records (drain.py says how both are timed):

1. catalog, ip and analytics stopped; N orders placed through orders' API;
   orders stopped;
2. catalog started: its consumer works off the N `order.placed` (reserving
   stock, publishing `stock.reserved`);
3. orders started: its consumer works off the N `stock.reserved` (confirming);
4. the N orders paid through orders' API (sandbox webhooks);
5. ip started: its consumer works off `orders.orders` since it stopped
   (placed, confirmed and paid events; it posts royalties for `order.paid`);
6. analytics (scaling.py): a fresh projection over every projected topic.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]
from drain import (
    bare_read,
    committed,
    end_offsets,
    measure_drain,
    outbox_flushed,
    partitions,
    store_profile,
)
from processes import Platform

__all__ = ["run"]

CLIENTS = 32  # concurrent API clients making the backlog


async def _each(items: list[Any], one: Any) -> None:
    limit = asyncio.Semaphore(CLIENTS)

    async def bounded(item: Any) -> None:
        async with limit:
            await one(item)

    await asyncio.gather(*(bounded(i) for i in items))


async def _place(orders_url: str, tokens: list[str], hot_ids: list[str], n: int) -> dict[str, str]:
    """order id -> its customer's token"""
    placed: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=orders_url, timeout=120) as client:

        async def one(i: int) -> None:
            token = tokens[i % len(tokens)]
            response = await client.post(
                "/orders",
                json={"lines": [{"product_id": hot_ids[i % len(hot_ids)], "quantity": 1}]},
                headers={
                    "Authorization": f"Bearer {token}",
                    "Idempotency-Key": f"bench-backlog-{uuid.uuid4().hex}",
                },
            )
            if response.status_code == 201:
                placed[response.json()["order_id"]] = token

        await _each(list(range(n)), one)
    return placed


async def _pay(orders_url: str, placed: dict[str, str]) -> int:
    """Pay each order as its customer; how many the API accepted."""
    accepted = 0
    async with httpx.AsyncClient(base_url=orders_url, timeout=120) as client:

        async def one(order_id: str) -> None:
            nonlocal accepted
            response = await client.post(
                f"/orders/{order_id}/payments",
                json={"card_token": "tok_sandbox_approve"},
                headers={"Authorization": f"Bearer {placed[order_id]}"},
            )
            accepted += response.status_code == 201

        await _each(list(placed), one)
    return accepted


async def _count_paid(bootstrap: str, start: dict[Any, int], ids: set[str], timeout: float) -> int:
    """`order.paid` events of `ids` published after `start` (waits for all, bounded)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    paid: set[str] = set()
    try:
        consumer.assign(list(start))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        deadline = asyncio.get_running_loop().time() + timeout
        while len(paid) < len(ids) and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    if dict(r.headers)["ce_type"].decode().endswith(".order.paid.v1"):
                        order_id = json.loads(r.value)["order_id"]
                        if order_id in ids:
                            paid.add(order_id)
    finally:
        await consumer.stop()
    return len(paid)


async def _drain(platform: Platform, service: str, topics: list[str]) -> dict[str, Any]:
    """`service` (stopped) started again; its group works off `topics` to their ends."""
    bootstrap = platform.stack.kafka_bootstrap
    tps = partitions(topics)
    start = await committed(bootstrap, f"bench-{service}", tps)
    end = await end_offsets(bootstrap, tps)
    bare = await bare_read(bootstrap, start, end)
    measured = await measure_drain(
        bootstrap,
        f"bench-{service}",
        start,
        end,
        lambda: asyncio.to_thread(platform.start, service),
        [platform.url_for(service)],
    )
    ratio = measured["per_s"] / bare["per_s"] if measured["per_s"] and bare["per_s"] else None
    row = {"service": service, "topics": topics, "consumer": measured, "bare_read": bare}
    row["vs_bare"] = round(ratio, 5) if ratio else None
    row["store"] = await store_profile(platform.url(service), measured["events"])
    print(f"  {service}: {measured} vs bare {bare}", flush=True)
    print(f"    store: {row['store']}", flush=True)
    return row


async def run(
    platform: Platform, *, tokens: list[str], hot_ids: list[str], n: int
) -> dict[str, Any]:
    bootstrap = platform.stack.kafka_bootstrap
    for service in ("catalog", "ip", "analytics"):
        platform.stop(service)
    orders_url = platform.url("orders")
    mongodb_url = platform.stack.mongodb_url
    placed = await _place(orders_url, tokens, hot_ids, n)
    await outbox_flushed(mongodb_url, "orders")  # every order.placed on Kafka
    platform.stop("orders")
    rows = [await _drain(platform, "catalog", ["orders.orders"])]
    await outbox_flushed(mongodb_url, "catalog")  # every stock.reserved on Kafka
    rows.append(await _drain(platform, "orders", ["catalog.stock"]))
    before_pay = await end_offsets(bootstrap, partitions(["orders.orders"]))
    accepted = await _pay(platform.url("orders"), placed)
    paid = await _count_paid(bootstrap, before_pay, set(placed), timeout=300)
    rows.append(await _drain(platform, "ip", ["orders.orders"]))
    rows[-1]["order_paid_events"] = paid
    return {"orders": len(placed), "payments_accepted": accepted, "paid": paid, "rows": rows}
