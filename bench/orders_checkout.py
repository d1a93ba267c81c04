"""Checkout throughput and placed → confirmed latency, with catalog reserving stock.

    .venv/bin/python bench/orders_checkout.py [--rate 10] [--seconds 20] [--stack bench]
                                              [--reuse] [--keep]

Starts a private local stack (Kafka + FerretDB; `--reuse` takes one already
running), runs catalog and orders as real uvicorn processes (one worker each),
makes one sellable product with ample stock, then offers `POST /orders` at a
steady rate, open loop (each request starts on schedule whether or not the
earlier ones finished). Reports the achieved checkout rate, the POST latency,
and the placed → confirmed latency of every order (its `confirmed_at` minus
its `placed_at`: orders' outbox relay, Kafka, catalog's all-or-nothing
reservation, its relay, Kafka, orders' consumer). Baseline from the same run:
a trivial FastAPI app's `GET /healthz` offered at the same rate. Never
asserted in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "deploy" / "local"), str(ROOT)]

from localstack import LocalStack  # noqa: E402


def _percentiles(values: list[float]) -> str:
    if len(values) < 2:
        return "n/a"
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return f"p50 {cuts[49]:.1f} ms, p95 {cuts[94]:.1f} ms, p99 {cuts[98]:.1f} ms"


async def _offer(
    rate: float, seconds: float, send: Callable[[], Awaitable[bool]]
) -> tuple[list[float], int, float]:
    """Start `send` on a fixed schedule; (latencies ms of successes, failures, window s)."""

    async def timed() -> float | None:
        started = time.perf_counter()
        try:
            ok = await send()
        except httpx.HTTPError:  # a timeout counts as a failure, not a crash
            ok = False
        return (time.perf_counter() - started) * 1000 if ok else None

    interval, total = 1 / rate, int(rate * seconds)
    start = time.monotonic()
    tasks = []
    for i in range(total):
        await asyncio.sleep(max(0.0, start + i * interval - time.monotonic()))
        tasks.append(asyncio.create_task(timed()))
    results = await asyncio.gather(*tasks)
    window = time.monotonic() - start
    latencies = [r for r in results if r is not None]
    return latencies, total - len(latencies), window


async def _stages(bootstrap: str, order_ids: set[str]) -> dict[str, list[float]]:
    """Where placed → confirmed went, from Kafka record timestamps (ms)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]

    records: dict[str, list[Any]] = {}
    for topic in ("orders.orders", "catalog.stock"):
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, p) for p in range(6)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            got: list[Any] = []
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    got += [r for r in batch if r.key and r.key.decode() in order_ids]
            records[topic] = got
        finally:
            await consumer.stop()
    placed: dict[str, tuple[float, float]] = {}
    confirmed: dict[str, float] = {}
    for r in records["orders.orders"]:
        kind = dict(r.headers)["ce_type"].decode().split(".")[-2]
        body = json.loads(r.value)
        if kind == "placed":
            at = datetime.fromisoformat(body["placed_at"]).timestamp() * 1000
            placed[body["order_id"]] = (at, r.timestamp)
        elif kind == "confirmed":
            confirmed[body["order_id"]] = (
                datetime.fromisoformat(body["confirmed_at"]).timestamp() * 1000
            )
    reserved = {json.loads(r.value)["order_id"]: r.timestamp for r in records["catalog.stock"]}
    both = [o for o in placed if o in reserved and o in confirmed]
    return {
        "orders: placed → order.placed on Kafka (outbox relay)": [
            placed[o][1] - placed[o][0] for o in both
        ],
        "catalog: order.placed → stock.reserved on Kafka": [
            reserved[o] - placed[o][1] for o in both
        ],
        "orders: stock.reserved → confirmed (consumer)": [confirmed[o] - reserved[o] for o in both],
    }


def _serve_baseline(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    from tests.support import free_port

    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "baseline_app:app",
            "--app-dir",
            str(ROOT / "bench"),
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    return process, url


async def run(stack: LocalStack, rate: float, seconds: float) -> list[str]:
    os.environ["RELIC_TEST_STACK"] = stack.name  # service logs go under this stack
    from servicekit.auth import Role
    from tests.orders.helpers import catalog_product, product_on_sale, token
    from tests.support import ServiceProcess

    env = {
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
        "MONGODB_URL": stack.mongodb_url,
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "WARNING",
        "OUTBOX_POLL_INTERVAL_MS": "250",
        "ORDERS_PAYMENT_WINDOW_SECONDS": "3600",
    }
    catalog = ServiceProcess("catalog", env)
    orders = ServiceProcess("orders", env)
    baseline, baseline_url = _serve_baseline({**os.environ, **env})
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    try:
        async with (
            catalog.client(token(Role.OPERATOR)) as as_operator,
            httpx.AsyncClient(base_url=orders.url, timeout=30, limits=limits) as shop,
            httpx.AsyncClient(
                base_url=orders.url,
                timeout=30,
                headers={"Authorization": f"Bearer {token(Role.OPERATOR)}"},
            ) as as_ops,
            httpx.AsyncClient(base_url=baseline_url, timeout=30, limits=limits) as plain,
        ):
            product = await catalog_product(stack.kafka_bootstrap, as_operator, stock=10_000_000)
            await product_on_sale(shop, product["id"], version=product["version"])
            tourists = [f"Bearer {token(Role.TOURIST)}" for _ in range(20)]
            order_ids: list[str] = []

            async def checkout() -> bool:
                response = await shop.post(
                    "/orders",
                    json={"lines": [{"product_id": product["id"], "quantity": 1}]},
                    headers={
                        "Idempotency-Key": uuid.uuid4().hex,
                        "Authorization": tourists[len(order_ids) % len(tourists)],
                    },
                )
                if response.status_code == 201:
                    order_ids.append(response.json()["order_id"])
                    return True
                return False

            async def healthz() -> bool:
                return (await plain.get("/healthz")).status_code == 200

            base_latency, base_failed, base_window = await _offer(rate, seconds, healthz)
            post_latency, failed, window = await _offer(rate, seconds, checkout)

            settled: dict[str, dict[str, object]] = {}
            deadline = time.monotonic() + 120
            while len(settled) < len(order_ids) and time.monotonic() < deadline:
                for order_id in order_ids:
                    if order_id in settled:
                        continue
                    view = (await as_ops.get(f"/orders/{order_id}")).json()
                    if view["status"] != "PENDING":
                        settled[order_id] = view
                await asyncio.sleep(0.2)
    finally:
        baseline.terminate()
        baseline.wait(timeout=15)
        orders.stop()
        catalog.stop()

    confirmed = [v for v in settled.values() if v["status"] == "CONFIRMED"]
    stages = await _stages(stack.kafka_bootstrap, set(order_ids))

    def at(view: dict[str, object], field: str) -> datetime:
        return datetime.fromisoformat(str(view[field]))

    saga_ms = [
        (at(v, "confirmed_at") - at(v, "placed_at")).total_seconds() * 1000 for v in confirmed
    ]
    span = (
        (
            max(at(v, "confirmed_at") for v in confirmed)
            - min(at(v, "placed_at") for v in confirmed)
        ).total_seconds()
        if confirmed
        else 0.0
    )
    return [
        f"- offered: {rate:g} requests/s for {seconds:g} s, open loop, one uvicorn worker each",
        f"- baseline `GET /healthz` (trivial FastAPI): {len(base_latency) / base_window:.1f}/s "
        f"achieved, {base_failed} failed; {_percentiles(base_latency)}",
        f"- `POST /orders`: {len(post_latency) / window:.1f} orders/s achieved, {failed} failed; "
        f"{_percentiles(post_latency)}",
        f"- placed → confirmed (catalog reserving): {len(confirmed)}/{len(order_ids)} confirmed, "
        f"{len(confirmed) / span if span else 0:.1f} confirmations/s; {_percentiles(saga_ms)}",
        f"- not settled within 120 s: {len(order_ids) - len(settled)}; "
        f"rejected: {sum(1 for v in settled.values() if v['status'] == 'REJECTED')}",
        *(f"  - {stage}: {_percentiles(values)}" for stage, values in stages.items()),
    ]


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=10.0, help="offered orders per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--stack", default="bench")
    parser.add_argument("--reuse", action="store_true", help="use an already running stack")
    parser.add_argument("--keep", action="store_true", help="leave the stack running")
    args = parser.parse_args(argv if argv is not None else [])
    stack = LocalStack(args.stack)
    if not args.reuse:
        stack.wipe()
        stack.up()
    try:
        return asyncio.run(run(stack, args.rate, args.seconds))
    finally:
        if not (args.keep or args.reuse):
            stack.down()


if __name__ == "__main__":
    print("\n".join(main(sys.argv[1:])))
