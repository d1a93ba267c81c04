"""Storefront reads: product search and product detail at concurrency 16 and
64, closed loop, req/s and p50/p99, next to the baseline: a trivial FastAPI
route (bench/baseline_app.py) served by the same uvicorn setup, driven by the
same client in the same run. The load generator shares the machine."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from measure import closed_loop

__all__ = ["QUERIES", "run"]

QUERIES = ["青铜", "bronze", "瓷", "porcelain", "mask", "面具", "scroll", "jade", "冰箱贴", "silk"]


async def run(
    *, baseline_url: str, catalog_url: str, product_ids: list[str], seconds: float
) -> dict[str, Any]:
    routes = {
        "baseline GET /healthz": (baseline_url, ["/healthz"]),
        "search GET /products?q=": (
            catalog_url,
            [f"/products?q={quote(q)}&limit=20" for q in QUERIES],
        ),
        "detail GET /products/{id}": (catalog_url, [f"/products/{i}" for i in product_ids]),
    }
    rows = []
    for concurrency in (16, 64):
        for route, (url, paths) in routes.items():
            row = await closed_loop(url, paths, concurrency=concurrency, seconds=seconds)
            rows.append({"route": route, **row})
            print(f"  {route} c={concurrency}: {row['rps']} req/s p99 {row['p99']} ms", flush=True)
    for row in rows:
        base = next(
            r["rps"]
            for r in rows
            if r["route"].startswith("baseline") and r["concurrency"] == row["concurrency"]
        )
        row["vs_baseline"] = round(row["rps"] / base, 3) if base else None
    return {"seconds_per_route": seconds, "rows": rows}
