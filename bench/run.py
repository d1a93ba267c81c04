"""`make bench`: the platform measured, each figure next to its baseline.

    .venv/bin/python bench/run.py            # full size (about 30 minutes)
    BENCH_QUICK=1 .venv/bin/python bench/run.py   # reduced sizes: proves it works

Starts the `bench` local stack (Kafka + FerretDB, wiped first) and the four
services plus the baseline app as uvicorn processes, loads data through the
public APIs (data.py), then measures, in this order: idle memory, the
store's own round trips (store_ops.py), storefront reads (storefront.py),
the same figures on fresh stores and on stores grown by 10,000 and 100,000
past orders (grown.py, history.py; issue 22), and then, on the grown
stores (issue 23): the store's bulk-write ceiling, checkout at 10, 50 and
100 orders/s (checkout.py), consumer throughput (consumers.py), analytics
scaling (scaling.py); memory under load (memory.py) is sampled throughout.
Writes bench/results/bench-<time>.json and .png and updates
docs/benchmarks.md and docs/bench/benchmarks.png (report.py).

Environment: BENCH_QUICK=1 reduced sizes; BENCH_USE_RUNNING=1 keeps the
`bench` stack's Kafka and FerretDB (and data) from an earlier run instead of
wiping them, and leaves them running (the services are always the harness's
own processes: it stops, starts and weighs them); BENCH_KEEP=1 leaves the
stack running; BENCH_HISTORY=0,10000 sets the grown stores' sizes.
Nothing here is asserted by the test suite.

A full-size run takes about an hour on a 2-core machine: loading 100,000
past orders, and how fast the platform works off its backlogs (each drain
gives up after 15 minutes), set its length.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import checkout  # noqa: E402
import consumers  # noqa: E402
import cpu  # noqa: E402
import grown  # noqa: E402
import scaling  # noqa: E402
import store_ops  # noqa: E402
import storefront  # noqa: E402
from data import load  # noqa: E402
from memory import Sampler, summary  # noqa: E402
from processes import SERVICES, Platform  # noqa: E402
from report import machine, write  # noqa: E402
from seed import Urls  # noqa: E402

QUICK = os.environ.get("BENCH_QUICK") == "1"
REUSE = os.environ.get("BENCH_USE_RUNNING") == "1"
KEEP = os.environ.get("BENCH_KEEP") == "1"
# BENCH_PHASES=grown (comma-separated) runs only those phases (after the data)
PHASES = set(filter(None, os.environ.get("BENCH_PHASES", "").split(",")))


def wanted(phase: str) -> bool:
    return not PHASES or phase in PHASES or phase.split("_")[0] in PHASES


SIZES: dict[str, Any] = (
    {
        "relics": 12,
        "products": 24,
        "hot": 4,
        "probes": 16,  # 10 for checkout, 6 for the grown stores
        "read_seconds": 3.0,
        "rate": 5.0,
        "rate_mid": 3.0,
        "rate_below": 2.0,
        "checkout_seconds": 8.0,
        "backlog_orders": 40,
        "settle_seconds": 5.0,
        "store_documents": 500,
        "history_products": 6,
        "history_sizes": [0, 500, 2000],
        "history_rate": 5.0,
        "history_checkout_seconds": 8.0,
        "rest_seconds": 10.0,
        "history_read_seconds": 3.0,
    }
    if QUICK
    else {
        "relics": 40,
        "products": 100,
        "hot": 8,
        "probes": 160,  # 100 for checkout, 60 for the grown stores
        "read_seconds": 15.0,
        "rate": 100.0,
        "rate_mid": 50.0,
        "rate_below": 10.0,  # a tenth of the target
        "checkout_seconds": 30.0,
        "backlog_orders": 1000,
        "settle_seconds": 15.0,
        "store_documents": 2000,
        "history_products": 24,
        "history_sizes": [0, 10_000, 100_000],
        "history_rate": 10.0,
        "history_checkout_seconds": 30.0,
        "rest_seconds": 60.0,
        "history_read_seconds": 10.0,
    }
)

if os.environ.get("BENCH_HISTORY"):  # e.g. "0,10000": a shorter run while tuning
    SIZES["history_sizes"] = [int(n) for n in os.environ["BENCH_HISTORY"].split(",")]


async def _phase(
    results: dict[str, Any], name: str, measure: Callable[[], Awaitable[dict[str, Any]]]
) -> None:
    if not wanted(name):
        return
    print(f"== {name}", flush=True)
    began = time.monotonic()
    try:
        results[name] = await measure()
    except Exception as exc:  # one broken benchmark must not hide the others' figures
        traceback.print_exc()
        results.setdefault("errors", {})[name] = repr(exc)[:500]
    print(f"   ({time.monotonic() - began:.0f} s)", flush=True)


async def _checkout_with_cpu(platform: Platform, **kwargs: Any) -> dict[str, Any]:
    return await cpu.during(platform, checkout.run(**kwargs))


async def bench(platform: Platform, results: dict[str, Any]) -> None:
    s = SIZES
    platform.start("baseline")
    for service in SERVICES:
        platform.start(service)
    await asyncio.sleep(s["settle_seconds"])  # idle: consumers joined, relays polling
    idle = platform.rss()
    urls = Urls(*(platform.url(name) for name in SERVICES))
    print("== data (through the public APIs)", flush=True)
    data = await load(
        urls,
        relics=s["relics"],
        products=s["products"],
        hot=s["hot"],
        probes=s["probes"],
        history=s["history_products"],
    )
    results["data"] = (
        f"{len(data.result.product_ids)} products ({s['relics']} relics' demo slice, "
        f"{s['hot']} with ample stock for checkout, {s['probes']} probes), loaded through "
        "the public APIs"
    )
    tourists = [data.tokens.tourist(f"bench-tourist-{n:02d}") for n in range(20)]
    await _phase(
        results,
        "store",
        lambda: store_ops.run(platform.stack.mongodb_url, s["store_documents"]),
    )
    with Sampler(platform) as sampler:
        await _phase(
            results,
            "storefront",
            lambda: storefront.run(
                baseline_url=platform.url("baseline"),
                catalog_url=platform.url("catalog"),
                product_ids=data.product_ids,
                seconds=s["read_seconds"],
            ),
        )
        # fresh stores, then grown ones (issue 22); what follows runs on the
        # grown stores (issue 23: a year of history)
        await _phase(results, "grown", lambda: grown.run(platform, data, s))
        await _phase(
            results, "store_bulk", lambda: store_ops.bulk_ceiling(platform.stack.mongodb_url)
        )
        # each phase its own probe products: a probe shows on the dashboard once
        probes = data.probe_ids[: len(data.probe_ids) * 5 // 8]
        phases = [
            ("checkout_below", s["rate_below"]),
            ("checkout_mid", s["rate_mid"]),
            ("checkout", s["rate"]),
        ]
        for n, (phase, rate) in enumerate(phases):
            measure = partial(
                _checkout_with_cpu,
                platform,
                bootstrap=platform.stack.kafka_bootstrap,
                orders_url=platform.url("orders"),
                analytics_url=platform.url("analytics"),
                baseline_url=platform.url("baseline"),
                museum_id=data.museum_id,
                museum_token=data.tokens.museum(data.museum_id),
                tourist_tokens=tourists,
                hot_ids=data.hot_ids,
                probe_ids=probes[n :: len(phases)],
                rate=rate,
                seconds=s["checkout_seconds"],
            )
            await _phase(results, phase, measure)
        await _phase(
            results,
            "consumers",
            lambda: consumers.run(
                platform, tokens=tourists, hot_ids=data.hot_ids, n=s["backlog_orders"]
            ),
        )
    results["memory"] = summary(idle, sampler)
    await _phase(results, "scaling", lambda: scaling.run(platform))


def main() -> None:
    results: dict[str, Any] = {
        "started": f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S}",
        "quick": QUICK,
        "sizes": SIZES,
        "machine": machine(),
    }
    platform = Platform.up(reuse=REUSE)
    try:
        asyncio.run(bench(platform, results))
    finally:
        platform.down(keep_stack=KEEP or REUSE)
    data, chart = write(results)
    print(f"wrote {data}, {chart}, docs/benchmarks.md and docs/bench/benchmarks.png")
    if results.get("errors"):
        print(f"errors: {results['errors']}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
