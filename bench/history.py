"""Load a year of past orders into the stores, in bulk, so the platform can be
measured (and demonstrated) on grown stores instead of fresh ones.

    .venv/bin/python bench/history.py --orders 100000 [--mongodb-url URL]

Run it after the catalog, licences and holders exist (`make seed`, or the
bench's own data) and while the four services are STOPPED: it writes behind
their backs. Every past order is placed, confirmed and paid (one in fifty is
partly refunded) on a day of the past year, by one of a few thousand
tourists, buying sellable products that have stock to spare. It synthesises
the orders' events, then hands them to each service's own
`<service>.history.load_history`, which folds them with that service's
domain and store code into its documents and bulk-writes them: orders first,
then catalog (reservations and stock), ip (ledger) and analytics
(projections), each also given what the earlier ones would have published.
Nothing goes through Kafka: the past is already delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from analytics.history import load_history as analytics_history
from catalog.history import load_history as catalog_history
from contracts import Event
from contracts.orders import (
    OrderConfirmed,
    OrderLine,
    OrderPaid,
    OrderPlaced,
    OrderRefunded,
    RefundLine,
)
from ip.cert_keys import keys_from_settings
from ip.config import Settings as IpSettings
from ip.history import load_history as ip_history
from orders.history import load_history as orders_history
from servicekit.envelope import Envelope

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy" / "local"))
from localstack import LocalStack  # noqa: E402

__all__ = ["Product", "load", "past_orders", "products_for_history"]

CHUNK = 2000  # orders per round: every service folds and bulk-writes a round at once
NAMESPACE = uuid.UUID("5b0e4f0e-7c1e-4d55-9a57-6c7b1d1e0a11")


@dataclass(frozen=True)
class Product:
    product_id: str
    sku: str
    price_fen: int
    license_id: str | None
    licensee_id: str | None
    relic_ids: tuple[str, ...]
    museum_id: str | None
    budget: int  # units the history may sell without emptying its stock


def _envelope(event: Event, source: str, at: datetime) -> Envelope:
    return Envelope(
        id=str(uuid.uuid5(NAMESPACE, f"{event.TYPE}:{event.aggregate_id}")),
        type=event.TYPE,
        source=source,
        subject=event.aggregate_id,
        time=at,
        data=event.model_dump(mode="json"),
    )


def past_orders(
    products: Sequence[Product], *, count: int, now: datetime, seed: int = 7, tourists: int = 5000
) -> list[list[Envelope]]:
    """Each past order's events (placed, confirmed, paid, sometimes refunded),
    oldest order first, spread over the 365 days before `now`. Pure: the same
    arguments give the same history."""
    rng = random.Random(seed)
    left = {p.product_id: p.budget for p in products}
    stamps = sorted(now - timedelta(seconds=rng.uniform(3600, 365 * 86400)) for _ in range(count))
    history: list[list[Envelope]] = []
    for n, placed_at in enumerate(stamps):
        sellable = [
            p for p in rng.sample(list(products), min(3, len(products))) if left[p.product_id]
        ]
        if not sellable:
            break  # every product's budget is spent
        order_id = f"hist-{seed}-{n:07d}"
        lines = []
        for i, product in enumerate(sellable[: rng.choice((1, 1, 1, 2, 2, 3))]):
            quantity = min(rng.choice((1, 1, 1, 2, 3)), left[product.product_id])
            left[product.product_id] -= quantity
            lines.append(
                OrderLine(
                    line_id=f"{order_id}-{i}",
                    product_id=product.product_id,
                    sku=product.sku,
                    quantity=quantity,
                    unit_price_fen=product.price_fen,
                    line_total_fen=product.price_fen * quantity,
                    license_id=product.license_id,
                    licensee_id=product.licensee_id,
                    relic_ids=list(product.relic_ids),
                    museum_id=product.museum_id,
                )
            )
        customer = f"history-tourist-{rng.randrange(tourists):05d}"
        total = sum(line.line_total_fen for line in lines)
        confirmed_at = placed_at + timedelta(milliseconds=rng.randint(80, 400))
        paid_at = confirmed_at + timedelta(seconds=rng.randint(20, 600))
        events: list[tuple[Event, datetime]] = [
            (
                OrderPlaced(
                    order_id=order_id,
                    customer_id=customer,
                    lines=lines,
                    total_fen=total,
                    placed_at=placed_at,
                ),
                placed_at,
            ),
            (
                OrderConfirmed(order_id=order_id, confirmed_at=confirmed_at, lines=lines),
                confirmed_at,
            ),
            (
                OrderPaid(
                    order_id=order_id,
                    payment_id=f"{order_id}-pay",
                    customer_id=customer,
                    lines=lines,
                    total_fen=total,
                    paid_at=paid_at,
                ),
                paid_at,
            ),
        ]
        if n % 50 == 49:  # a partial refund of the first line's first unit
            line = lines[0]
            refunded_at = paid_at + timedelta(days=rng.randint(1, 14))
            if refunded_at < now:
                refund = RefundLine(
                    line_id=line.line_id,
                    product_id=line.product_id,
                    sku=line.sku,
                    quantity=1,
                    amount_fen=line.unit_price_fen,
                    license_id=line.license_id,
                    licensee_id=line.licensee_id,
                    relic_ids=line.relic_ids,
                    museum_id=line.museum_id,
                )
                event = OrderRefunded(
                    order_id=order_id,
                    refund_id=f"{order_id}-refund",
                    lines=[refund],
                    amount_fen=refund.amount_fen,
                    restock=False,
                    refunded_at=refunded_at,
                )
                events.append((event, refunded_at))
        history.append([_envelope(event, "orders", at) for event, at in events])
    return history


async def products_for_history(
    mongodb_url: str, stock: dict[str, int], *, orders_db: str = "orders"
) -> list[Product]:
    """The products of `stock` that orders' replica sells (a whole-collection
    read: the loader is not a hot path), each with half its stock as the
    budget."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url, tz_aware=True)
    found = []
    async for doc in client[orders_db]["products"].find({"sellable": True}):
        if doc["_id"] not in stock:
            continue
        budget = stock.get(doc["_id"], 0) // 2
        if budget > 0:
            found.append(
                Product(
                    product_id=doc["_id"],
                    sku=doc["sku"],
                    price_fen=doc["price_fen"],
                    license_id=doc.get("license_id"),
                    licensee_id=doc.get("licensee_id"),
                    relic_ids=tuple(doc["relic_ids"]),
                    museum_id=(doc["museum_ids"] or [None])[0],
                    budget=budget,
                )
            )
    await client.close()
    return sorted(found, key=lambda p: p.product_id)


async def load(
    mongodb_url: str,
    products: Sequence[Product],
    *,
    count: int,
    seed: int = 7,
    databases: dict[str, str] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Write `count` past orders and everything downstream of them."""
    names = {"orders": "orders", "catalog": "catalog", "ip": "ip", "analytics": "analytics"}
    cert_keys = keys_from_settings(IpSettings())  # the running ip's keys: past units verify
    names.update(databases or {})
    history = past_orders(products, count=count, now=datetime.now(UTC), seed=seed)
    began = time.monotonic()
    spent = dict.fromkeys(("orders", "catalog", "ip", "analytics"), 0.0)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url, tz_aware=True)

    async def timed(service: str, step: Any) -> list[Envelope]:
        at = time.monotonic()
        out: list[Envelope] = await step
        spent[service] += time.monotonic() - at
        return out

    try:
        for start in range(0, len(history), CHUNK):
            chunk = [e for order in history[start : start + CHUNK] for e in order]
            chunk.sort(key=lambda e: e.time)
            published = await timed("orders", orders_history(client[names["orders"]], chunk))
            so_far = sorted([*chunk, *published], key=lambda e: e.time)
            published += await timed("catalog", catalog_history(client[names["catalog"]], so_far))
            so_far = sorted([*chunk, *published], key=lambda e: e.time)
            published += await timed(
                "ip", ip_history(client[names["ip"]], so_far, cert_keys=cert_keys)
            )
            so_far = sorted([*chunk, *published], key=lambda e: e.time)
            await timed("analytics", analytics_history(client[names["analytics"]], so_far))
            if progress:
                done = min(start + CHUNK, len(history))
                rate = done / max(time.monotonic() - began, 1e-9)
                split = ", ".join(f"{k} {v:.0f} s" for k, v in spent.items())
                print(
                    f"  history: {done:,}/{len(history):,} orders ({rate:,.0f}/s; {split})",
                    flush=True,
                )
    finally:
        await client.close()
    return {
        "orders": len(history),
        "seconds": round(time.monotonic() - began, 1),
        "by_service_s": {k: round(v, 1) for k, v in spent.items()},
    }


def main() -> None:
    """Grow the `make up` platform's stores: reads each product's stock from
    catalog while the services run, stops them, loads, and starts them again."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--if-empty", action="store_true", help="skip if this seed's history is loaded already"
    )
    args = parser.parse_args()
    platform = [sys.executable, str(ROOT / "deploy" / "local" / "devplatform.py")]
    mongodb_url = LocalStack("dev").mongodb_url
    if args.if_empty and asyncio.run(_loaded(mongodb_url, args.seed)):
        print("a history is loaded already")
        return
    stock = asyncio.run(_stock(mongodb_url, "http://127.0.0.1:8001"))
    subprocess.run([*platform, "stop-services"], check=True)
    products = asyncio.run(products_for_history(mongodb_url, stock))
    print(f"loading {args.orders:,} past orders over {len(products)} products ...", flush=True)
    print(asyncio.run(load(mongodb_url, products, count=args.orders, seed=args.seed)))
    subprocess.run([*platform, "up"], check=True)


async def _loaded(mongodb_url: str, seed: int) -> bool:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url, tz_aware=True)
    found = await client["orders"]["orders"].find_one({"_id": f"hist-{seed}-{0:07d}"})
    await client.close()
    return found is not None


async def _stock(mongodb_url: str, catalog_url: str) -> dict[str, int]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url, tz_aware=True)
    ids = [doc["_id"] async for doc in client["orders"]["products"].find({}, {"_id": 1})]
    await client.close()
    return await catalog_stock(catalog_url, ids)


async def catalog_stock(catalog_url: str, product_ids: Sequence[str]) -> dict[str, int]:
    """Each product's stock, from catalog's public product page."""
    async with httpx.AsyncClient(base_url=catalog_url, timeout=10) as http:
        answers = await asyncio.gather(*(http.get(f"/products/{p}") for p in product_ids))
    return {p: a.json()["stock"] for p, a in zip(product_ids, answers, strict=True) if a.is_success}


if __name__ == "__main__":
    main()
