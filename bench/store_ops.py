"""The store's own round trips, one at a time, in a scratch collection of N
documents shaped like orders: what every figure below is built from.

Each service's events cost a number of these (the consumer table's "round
trips / event"), and a filter that is not `{_id: ...}` costs a scan on
FerretDB 1.24: the scan row shows what that means at this size.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from pymongo import AsyncMongoClient

__all__ = ["bulk_ceiling", "run"]

REPEAT = 50


async def _timed(one: Callable[[int], Awaitable[Any]], repeat: int = REPEAT) -> float:
    began = time.perf_counter()
    for i in range(repeat):
        await one(i)
    return round((time.perf_counter() - began) / repeat * 1000, 2)


async def run(mongodb_url: str, documents: int) -> dict[str, Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url)
    db = client[f"bench_store_{uuid.uuid4().hex[:8]}"]
    docs = db["docs"]
    line = {"product_id": "p", "quantity": 1, "unit_price_fen": 1000, "title": "x" * 80}
    await docs.insert_many(
        [{"_id": f"o{i:06d}", "rev": 1, "lines": [line] * 3} for i in range(documents)]
    )

    def some(i: int) -> str:
        return f"o{(i * 7919) % documents:06d}"

    try:
        rows = {
            "ping": await _timed(lambda _: client.admin.command("ping")),
            "find_one by _id": await _timed(lambda i: docs.find_one({"_id": some(i)})),
            "insert_one": await _timed(lambda i: db["inserts"].insert_one({"_id": i})),
            "update_one by _id": await _timed(
                lambda i: docs.update_one({"_id": some(i)}, {"$set": {"n": i}})
            ),
            "update_one by _id and rev (conditional)": await _timed(
                lambda i: docs.update_one({"_id": some(i), "rev": 1}, {"$set": {"n": i}})
            ),
            "find by another field (a scan)": await _timed(
                lambda _: docs.find_one({"n": -1}), repeat=5
            ),
        }
    finally:
        await client.drop_database(db.name)
        await client.close()
    print(f"  store, {documents} documents: {rows} (ms)", flush=True)
    return {"documents": documents, "ms": rows}


async def bulk_ceiling(
    mongodb_url: str, *, writers: int = 4, batch: int = 256, seconds: float = 10.0
) -> dict[str, Any]:
    """The store's bulk-write ceiling, issue 23's baseline: `writers`
    concurrent `insert_many`s of `batch` event-sized documents each, back to
    back for `seconds`, through the same FerretDB and write lock the services
    use, into a collection that already holds 100,000 documents (the size of
    the stores the consumers are measured on)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url)
    db = client[f"bench_bulk_{uuid.uuid4().hex[:8]}"]
    events = db["events"]
    body = {"type": "rebirth.orders.order.paid.v1", "data": "x" * 700}
    for start in range(0, 100_000, 5_000):
        await events.insert_many(
            [{"_id": f"h{n:07d}", **body} for n in range(start, start + 5_000)]
        )
    written = 0

    async def writer(w: int) -> None:
        nonlocal written
        n = 0
        while time.monotonic() < stop_at:
            docs = [{"_id": f"w{w}-{n}-{i}", **body} for i in range(batch)]
            await events.insert_many(docs, ordered=False)
            written += batch
            n += 1

    try:
        began = time.monotonic()
        stop_at = began + seconds
        await asyncio.gather(*(writer(w) for w in range(writers)))
        elapsed = time.monotonic() - began
    finally:
        await client.drop_database(db.name)
        await client.close()
    per_s = round(written / elapsed, 1)
    print(f"  store bulk ceiling: {per_s:,} documents/s", flush=True)
    return {"writers": writers, "batch": batch, "documents": written, "per_s": per_s}
