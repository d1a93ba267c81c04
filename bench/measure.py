"""Shared measuring tools: percentiles, a closed-loop and an open-loop driver."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

__all__ = ["closed_loop", "open_loop", "percentiles"]


def percentiles(values_ms: list[float]) -> dict[str, Any]:
    """n, p50, p95, p99 and max in ms (None when there are too few values)."""
    if len(values_ms) < 2:
        only = values_ms[0] if values_ms else None
        return {"n": len(values_ms), "p50": only, "p95": only, "p99": only, "max": only}
    cuts = statistics.quantiles(values_ms, n=100, method="inclusive")
    return {
        "n": len(values_ms),
        "p50": round(cuts[49], 1),
        "p95": round(cuts[94], 1),
        "p99": round(cuts[98], 1),
        "max": round(max(values_ms), 1),
    }


async def closed_loop(
    url: str,
    paths: list[str],
    *,
    concurrency: int,
    seconds: float,
    seed: int = 1,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """`concurrency` clients, each sending its next GET when the last answered:
    req/s and latency (each request timed from when it was sent)."""
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url, limits=limits, timeout=60, headers=headers
    ) as client:
        await client.get(paths[0])  # warm the connection pool and the route
        stop_at = time.monotonic() + seconds

        async def worker(n: int) -> None:
            nonlocal errors
            rng = random.Random(seed * 1000 + n)
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                try:
                    ok = (await client.get(rng.choice(paths))).status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append((time.perf_counter() - started) * 1000)
                errors += not ok

        began = time.monotonic()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        elapsed = time.monotonic() - began
    return {
        "concurrency": concurrency,
        "seconds": round(elapsed, 1),
        "rps": round(len(latencies) / elapsed, 1),
        "errors": errors,
        **percentiles(latencies),
    }


async def open_loop(
    rate: float, seconds: float, send: Callable[[int, float], Awaitable[None]]
) -> float:
    """Start `send(i, scheduled_wall_time)` on a fixed schedule, whether or not
    the earlier ones finished (so slowness shows as latency, not as a lower
    rate); returns when all have finished. Latency belongs to the caller,
    measured from the scheduled time it is handed."""
    total = int(rate * seconds)
    wall0, mono0 = time.time(), time.monotonic()
    tasks = []
    for i in range(total):
        offset = i / rate
        await asyncio.sleep(max(0.0, mono0 + offset - time.monotonic()))
        tasks.append(asyncio.create_task(send(i, wall0 + offset)))
    await asyncio.gather(*tasks)
    return time.monotonic() - mono0
