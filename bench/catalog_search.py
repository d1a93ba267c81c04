"""Catalog reads: product search and product detail at concurrency 32.

Starts the catalog (uvicorn, one worker) and the baseline trivial FastAPI app
served the same way, seeds ~550 active products whose titles come from the
real museum exports in ../shared/data (Met English titles, Palace Museum
Chinese names), then drives each route for a fixed time with 32 concurrent
clients and reports req/s and p50/p99 latency next to the baseline.

Uses KAFKA_BOOTSTRAP_SERVERS / MONGODB_URL when set, else the `bench` stack.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from pymongo import AsyncMongoClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy" / "local"))

from catalog.domain import Product  # noqa: E402
from catalog.store import CatalogStore, ensure_indexes  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CONCURRENCY = 32
SECONDS = float(os.environ.get("CATALOG_BENCH_SECONDS", "10"))
QUERIES = ["青铜", "bronze", "bronze mirror", "瓷", "scroll", "宋", "lacquer box", "玉"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(target: str, env: dict[str, str], factory: bool) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "uvicorn", target, "--port", str(port), "--no-access-log"]
    cmd += ["--workers", "1", "--log-level", "warning"]
    if factory:
        cmd.insert(3, "--factory")
    process = subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                return process, url
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{target} did not start")


def _titles() -> list[tuple[str, str, str]]:
    """(title_zh, title_en, category) from the real exports."""
    titles: list[tuple[str, str, str]] = []
    with open(DATA / "real_chinese_relics.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            aliases = json.loads(row["aliases"] or "[]")
            english = aliases[0] if aliases else row["name"]
            titles.append((f"{row['name']}{row['category']}文创", english, row["category"]))
    with open(DATA / "real_western_collection.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            titles.append((f"{row['objectName']}复刻", row["title"], row["classification"]))
    return titles


async def _seed(mongodb_url: str, database: str) -> list[str]:
    client: AsyncMongoClient = AsyncMongoClient(mongodb_url, tz_aware=True)
    try:
        db = client[database]
        await ensure_indexes(db)
        store = CatalogStore(db)
        now = datetime.now(UTC)
        ids = []
        for i, (zh, en, category) in enumerate(_titles()):
            product = Product(
                id=f"prd_bench_{i:04d}",
                sku=f"BENCH-{i:04d}",
                title_zh=zh[:200],
                title_en=en[:200] or zh[:200],
                description_zh=None,
                description_en=None,
                category=category or "other",
                price_fen=1000 + (i * 37) % 20000,
                images=[],
                relic_ids=["rel_bench"],
                museum_ids=["mus_bench"],
                license_id="lic_bench",
                licensee_id="licensee_bench",
                created_at=now + timedelta(milliseconds=i),
                updated_at=now,
                status="active",
                sellable=True,
                stock=5 + i % 7,
            )
            product.events.clear()
            await store.add_product(product)
            ids.append(product.id)
        return ids
    finally:
        await client.close()


async def _drive(url: str, paths: list[str]) -> tuple[float, float, float, int]:
    latencies: list[float] = []
    errors = 0
    stop_at = time.monotonic() + SECONDS
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:

        async def worker(seed: int) -> None:
            nonlocal errors
            rng = random.Random(seed)
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                try:
                    response = await client.get(rng.choice(paths))
                    ok = response.status_code == 200
                except httpx.TimeoutException:
                    ok = False
                latencies.append(time.perf_counter() - started)
                if not ok:
                    errors += 1

        began = time.monotonic()
        await asyncio.gather(*(worker(i) for i in range(CONCURRENCY)))
        elapsed = time.monotonic() - began
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    return len(latencies) / elapsed, p50, p99, errors


def main() -> list[str]:
    stack = None
    kafka, mongo = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("MONGODB_URL")
    if not (kafka and mongo):
        from localstack import LocalStack

        stack = LocalStack("bench")
        stack.wipe()
        stack.up()
        kafka, mongo = stack.kafka_bootstrap, stack.mongodb_url
    database = f"catalog_bench_{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "MONGODB_URL": mongo,
        "CATALOG_MONGODB_DATABASE": database,
        "KAFKA_CONSUMER_GROUP": database,
        "PYTHONPATH": str(ROOT / "bench"),
        "LOG_LEVEL": "WARNING",
    }
    processes: list[subprocess.Popen[bytes]] = []
    try:
        ids = asyncio.run(_seed(mongo, database))
        baseline, baseline_url = _serve("baseline_app:app", env, False)
        catalog, catalog_url = _serve("catalog.app:create_app", env, True)
        processes += [baseline, catalog]
        searches = [f"/products?q={q}&limit=20" for q in QUERIES]
        searches += ["/products?sort=price_asc&limit=20", "/products?in_stock=true&limit=20"]
        rows = {
            "baseline GET /healthz (trivial FastAPI)": asyncio.run(
                _drive(baseline_url, ["/healthz"])
            ),
            "catalog GET /products?q=... (search)": asyncio.run(_drive(catalog_url, searches)),
            "catalog GET /products/{id} (detail)": asyncio.run(
                _drive(catalog_url, [f"/products/{i}" for i in ids])
            ),
        }
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=20)
        if stack is not None:
            stack.down()
    base_rps = rows["baseline GET /healthz (trivial FastAPI)"][0]
    lines = [
        f"{len(ids)} products, concurrency {CONCURRENCY}, {SECONDS:.0f} s per route, "
        "one uvicorn worker each, load generator on the same machine.",
        "",
        "| route | req/s | p50 ms | p99 ms | errors | req/s vs baseline |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, (rps, p50, p99, errors) in rows.items():
        lines.append(
            f"| {name} | {rps:.0f} | {p50:.1f} | {p99:.1f} | {errors} | {rps / base_rps:.3f}x |"
        )
    return lines


if __name__ == "__main__":
    print("\n".join(main()))
