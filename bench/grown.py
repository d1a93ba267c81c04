"""History must not slow the platform: the same measurements on fresh stores,
then on stores holding 10,000 and 100,000 past orders (bench/history.py).

At each size, with the four services running:
- checkout, open loop at 10 orders/s (checkout.py: placed -> confirmed,
  paid -> dashboard, confirmed/s), and the store scans the services counted
  meanwhile (`store_scans_total` on their /metrics, before and after);
- 60 s at rest: CPU of the store (FerretDB) and of each service, from
  /proc/<pid>/stat, as % of one core;
- p50/p99 of the reads whose cost must not grow with history: the museum
  dashboard, a tourist's order list (a tourist of the history), a holder's
  ledger page (the museum's, its first page again and again, then pages
  from random moments of the year) and product search; closed loop,
  concurrency 4.
Between sizes the services are stopped, the history grown, and they restart.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import checkout
import history
import httpx
from cpu import at_rest, during
from data import BenchData
from measure import closed_loop
from processes import SERVICES, Platform
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["run"]


async def scans(platform: Platform) -> dict[str, float]:
    """`store_scans_total` per service (all collections and commands)."""
    totals: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=10) as http:
        for service in SERVICES:
            text = (await http.get(f"{platform.url(service)}/metrics")).text
            totals[service] = sum(
                sample.value
                for family in text_string_to_metric_families(text)
                if family.name == "store_scans"
                for sample in family.samples
                if sample.name == "store_scans_total"
            )
    return totals


async def store_commands(platform: Platform, suffix: str = "_count") -> dict[str, dict[str, float]]:
    """Each service's `store_command_duration_seconds` by "command collection":
    the round trips it has made (`_count`) or the seconds they took (`_sum`)."""
    found: dict[str, dict[str, float]] = {}
    async with httpx.AsyncClient(timeout=10) as http:
        for service in SERVICES:
            text = (await http.get(f"{platform.url(service)}/metrics")).text
            found[service] = {
                f"{sample.labels['command']} {sample.labels['collection']}": sample.value
                for family in text_string_to_metric_families(text)
                if family.name == "store_command_duration_seconds"
                for sample in family.samples
                if sample.name.endswith(suffix)
            }
    return found


def per_order(
    before: dict[str, dict[str, float]],
    after: dict[str, dict[str, float]],
    placed: int,
    scale: float = 1.0,
) -> dict[str, dict[str, Any]]:
    """Each service's store commands (or, with `scale` 1000 on the sums, the
    store milliseconds they took) per placed order during a checkout run, in
    all and its eight busiest kinds."""
    out: dict[str, dict[str, Any]] = {}
    for service, counts in after.items():
        spent = {k: (v - before[service].get(k, 0.0)) * scale for k, v in counts.items()}
        busiest = sorted(spent.items(), key=lambda kv: -kv[1])[:8]
        out[service] = {
            "total": round(sum(spent.values()) / max(placed, 1), 2),
            "busiest": {k: round(v / max(placed, 1), 2) for k, v in busiest if v},
        }
    return out


def _pages_across_the_year(path: str, pages: int = 20_000) -> list[str]:
    rng = random.Random(7)
    now = datetime.now(UTC).replace(microsecond=0)
    moments = (now - timedelta(seconds=rng.randrange(365 * 86_400)) for _ in range(pages))
    return [f"{path}&from={m.isoformat().replace('+00:00', 'Z')}" for m in moments]


async def reads(
    platform: Platform, data: BenchData, tourist: str, holder_id: str, seconds: float
) -> dict[str, Any]:
    museum = data.museum_id
    routes = {
        "museum dashboard": (
            "analytics",
            f"/museums/{museum}/dashboard",
            data.tokens.museum(museum),
        ),
        "a tourist's orders": ("orders", "/orders?limit=20", data.tokens.tourist(tourist)),
        "a holder's ledger page": (
            "ip",
            f"/holders/{holder_id}/ledger?limit=50",
            data.tokens.museum(museum),
        ),
        # pages from random moments of the past year, each read about once: what
        # a page costs when ip has not kept its postings from an earlier read
        "a holder's ledger, pages across the year": (
            "ip",
            _pages_across_the_year(f"/holders/{holder_id}/ledger?limit=50"),
            data.tokens.museum(museum),
        ),
        "product search": ("catalog", "/products?q=museum&limit=20", None),
    }
    found: dict[str, Any] = {}
    for name, (service, paths, token) in routes.items():
        found[name] = await closed_loop(
            platform.url(service),
            [paths] if isinstance(paths, str) else paths,
            concurrency=4,
            seconds=seconds,
            headers={"Authorization": f"Bearer {token}"} if token else None,
        )
    return found


async def measure_size(
    platform: Platform,
    data: BenchData,
    *,
    probes: list[str],
    tourist: str,
    holder_id: str,
    sizes: dict[str, Any],
) -> dict[str, Any]:
    before, commands_before = await scans(platform), await store_commands(platform)
    seconds_before = await store_commands(platform, "_sum")
    result = await during(
        platform,
        checkout.run(
            bootstrap=platform.stack.kafka_bootstrap,
            orders_url=platform.url("orders"),
            analytics_url=platform.url("analytics"),
            baseline_url=platform.url("baseline"),
            museum_id=data.museum_id,
            museum_token=data.tokens.museum(data.museum_id),
            tourist_tokens=[data.tokens.tourist(f"bench-tourist-{n:02d}") for n in range(20)],
            hot_ids=data.hot_ids,
            probe_ids=probes,
            rate=sizes["history_rate"],
            seconds=sizes["history_checkout_seconds"],
        ),
    )
    after, commands_after = await scans(platform), await store_commands(platform)
    seconds_after = await store_commands(platform, "_sum")
    return {
        "checkout": result,
        "scans_during_checkout": {s: after[s] - before[s] for s in SERVICES},
        "store_commands_per_order": per_order(
            commands_before, commands_after, result.get("placed", 0)
        ),
        # where the store time went: what grows with history shows here
        "store_ms_per_order": per_order(
            seconds_before, seconds_after, result.get("placed", 0), scale=1000
        ),
        "at_rest_cpu_pct": await at_rest(platform, sizes["rest_seconds"]),
        "reads": await reads(platform, data, tourist, holder_id, sizes["history_read_seconds"]),
    }


async def run(platform: Platform, data: BenchData, sizes: dict[str, Any]) -> dict[str, Any]:
    steps: list[int] = sizes["history_sizes"]  # e.g. [0, 10_000, 100_000]
    stock = await history.catalog_stock(platform.url("catalog"), data.history_ids)
    holder_id = data.museum_id  # ip names a museum's holder after the museum
    probes = data.probe_ids[len(data.probe_ids) * 5 // 8 :]  # the checkout phases take the rest
    probe_slices = [probes[i :: len(steps)] for i in range(len(steps))]
    results: dict[str, Any] = {}
    loaded = 0
    for n, size in enumerate(steps):
        if size > loaded:
            for service in SERVICES:
                platform.stop(service)
            products = await history.products_for_history(platform.stack.mongodb_url, stock)
            began = time.monotonic()
            await history.load(platform.stack.mongodb_url, products, count=size - loaded, seed=n)
            took = time.monotonic() - began
            results.setdefault("loads", []).append({"orders": size - loaded, "seconds": took})
            print(f"   history +{size - loaded:,} orders in {took:.0f} s", flush=True)
            loaded = size
            for service in SERVICES:
                platform.start(service)
            await asyncio.sleep(sizes["settle_seconds"])
        tourist = "history-tourist-00001" if loaded else "bench-tourist-00"
        print(f"== grown stores: {loaded:,} past orders", flush=True)
        results[str(loaded)] = await measure_size(
            platform,
            data,
            probes=probe_slices[n],
            tourist=tourist,
            holder_id=holder_id,
            sizes=sizes,
        )
    return results
