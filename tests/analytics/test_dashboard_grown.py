"""The museum dashboard on a store grown by a year of orders: loaded through
the history loader (the bench's bulk path), then read through the real app
(a uvicorn process) with the default range. Prints p50/p99 of 50 requests
one at a time and of 104 at concurrency 4 (the bench's closed loop); never
asserts a timing. It does assert the figures: the default range shows the
script's own totals and top products to the fen.

For comparison, the same figures in the layout before the blocks (each
museum-day document carrying its day's breakdown, which the dashboard still
reads) are served by a second process, its requests interleaved with the
first's so both meet the same load on the machine.

ANALYTICS_GROWN_ORDERS sets the size (default 3,000 orders, so the suite stays short; the bench's
target is 100,000).
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from analytics.changes import LICENSES, MUSEUM_BLOCKS, MUSEUM_DAYS, MUSEUMS, PRODUCTS, RELICS
from analytics.history import load_history
from analytics.reports import today
from analytics.store import collection_name
from tests.analytics.helpers import museum_token
from tests.analytics.museum_year import Truth, year_events, year_of_orders
from tests.conftest import Infra
from tests.support import unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]

ORDERS = int(os.environ.get("ANALYTICS_GROWN_ORDERS", "3000"))
ROUND = 10_000  # events per load_history call (the bench hands over ~2,000 orders a round)


def _quantiles(ms: list[float]) -> str:
    ms = sorted(ms)
    p50 = ms[len(ms) // 2]
    p99 = ms[min(len(ms) - 1, round(len(ms) * 0.99) - 1)]
    return f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms"


async def _timed(client: httpx.AsyncClient, path: str) -> tuple[float, httpx.Response]:
    began = time.perf_counter()
    response = await client.get(path)
    took = (time.perf_counter() - began) * 1000
    assert response.status_code == 200, response.text
    return took, response


async def _older_layout(source: Any, target: Any) -> None:
    """What the dashboard reads, in the layout before the blocks: each day's
    breakdown (its 1-day block) nested in its museum-day document. A test
    may read whole collections."""
    for logical in (MUSEUMS, LICENSES, PRODUCTS, RELICS):
        name = collection_name(logical, 1)
        await target[name].insert_many(await source[name].find({}).to_list())
    await target["projection_state"].insert_one({"_id": "active", "version": 1})
    days = {d["_id"]: d async for d in source[collection_name(MUSEUM_DAYS, 1)].find({})}
    async for block in source[collection_name(MUSEUM_BLOCKS, 1)].find({"days": 1}):
        day = days[f"{block['museum_id']}|{block['first']}"]
        for mapping in ("products", "relics", "licensees"):
            day[mapping] = block.get(mapping, {})
    await target[collection_name(MUSEUM_DAYS, 1)].insert_many(list(days.values()))


async def test_the_default_dashboard_of_a_grown_store(infra: Infra, run_service: Any) -> None:
    last = today(datetime.now(UTC))
    scenario = year_of_orders(orders=ORDERS, last=last)
    events = year_events(scenario)
    names = [unique(f"analytics_{kind}").replace("-", "_") for kind in ("grown", "older")]
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongodb_url, tz_aware=True)
    try:
        began = time.monotonic()
        for i in range(0, len(events), ROUND):
            await load_history(mongo[names[0]], events[i : i + ROUND])
        loaded = time.monotonic() - began
        await _older_layout(mongo[names[0]], mongo[names[1]])
        services = [run_service("analytics", ANALYTICS_MONGODB_DATABASE=n) for n in names]
        path = f"/museums/{scenario.museum_id}/dashboard"
        csv_path = f"/museums/{scenario.museum_id}/export/top-products.csv"
        headers = {"Authorization": f"Bearer {museum_token(scenario.museum_id)}"}
        clients = [httpx.AsyncClient(base_url=s.url, headers=headers, timeout=30) for s in services]
        alone: list[list[float]] = [[], []]
        four: list[list[float]] = [[], []]
        csv: list[list[float]] = [[], []]
        payloads = []
        try:
            for client in clients:
                for _ in range(5):  # warm up: connections, the first imports
                    await _timed(client, path)
            for _ in range(50):
                for n, client in enumerate(clients):
                    alone[n].append((await _timed(client, path))[0])

            async def worker(client: httpx.AsyncClient) -> list[float]:
                return [(await _timed(client, path))[0] for _ in range(13)]

            for _ in range(2):  # halves, alternately
                for n, client in enumerate(clients):
                    runs = await asyncio.gather(*(worker(client) for _ in range(4)))
                    four[n] += [t for ts in runs for t in ts]
            for _ in range(10):
                for n, client in enumerate(clients):
                    csv[n].append((await _timed(client, csv_path))[0])
            for client in clients:
                payloads.append((await _timed(client, path))[1].json())
        finally:
            for client in clients:
                await client.aclose()
        payload = payloads[0]
        print(  # noqa: T201
            f"\n{len(scenario.sales):,} orders ({len(events):,} events) loaded in {loaded:.0f} s;"
            f" default dashboard ({payload['start']}..{payload['end']}), blocks | days before:"
            f"\n  50 one at a time: {_quantiles(alone[0])} | {_quantiles(alone[1])}"
            f"\n  104 at concurrency 4: {_quantiles(four[0])} | {_quantiles(four[1])}"
            f"\n  10 CSV exports: {_quantiles(csv[0])} | {_quantiles(csv[1])}"
        )
    finally:
        for name in names:
            await mongo.drop_database(name)
        await mongo.close()
    assert {k: v for k, v in payloads[1].items() if k != "projection_version"} == {
        k: v for k, v in payload.items() if k != "projection_version"
    }

    truth = Truth(scenario)
    start, end = last - timedelta(days=29), last
    assert payload["start"] == start.isoformat()
    days = truth.days(start, end)
    for counter in ("gross_fen", "refunds_fen", "units", "orders", "royalty_accrued_fen"):
        assert payload["totals"][counter] == sum(f.get(counter, 0) for f in days.values())
    want = truth.by("product", start, end)
    for row in payload["top_products"]:
        assert row["gross_fen"] == want[row["id"]]["gross_fen"]
        assert row["refunds_fen"] == want[row["id"]].get("refunds_fen", 0)
        assert row["royalty_accrued_fen"] == want[row["id"]]["royalty_accrued_fen"]
    best = max(want.values(), key=lambda f: f["gross_fen"] - f.get("refunds_fen", 0))
    assert payload["top_products"][0]["net_fen"] == best["gross_fen"] - best.get("refunds_fen", 0)
