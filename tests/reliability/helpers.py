"""Shared bits of the reliability suite: readiness waits and order counting."""

from __future__ import annotations

import time
from typing import Any

import httpx

from servicekit.auth import Role
from tests.conftest import Infra
from tests.ip.conftest import license_body, token
from tests.orders.conftest import orders_env
from tests.orders.helpers import museum_with_relic
from tests.support import ServiceProcess, eventually, unique


def orders_overrides(infra: Infra, **extra: str) -> dict[str, str]:
    """orders' test settings, minus the database (run_service gives each its own).
    The payment provider gets its production timeout: the sandbox's charges
    are store writes, and under these scenarios' load one can take longer
    than the 1 s the orders tests use (a timed-out payment then waits for
    the tourist to pay again, which these scenarios' tourists do not)."""
    return {
        k: v
        for k, v in orders_env(infra, **extra).items()
        if k.startswith("ORDERS_") and k != "ORDERS_MONGODB_DATABASE"
    } | {"OUTBOX_SWEEP_INTERVAL_MS": "1000", "ORDERS_PAYMENT_PROVIDER_TIMEOUT_SECONDS": "10"}


async def wait_ready(process: ServiceProcess, timeout: float = 60) -> float:
    """Wait (bounded) until /readyz is 200; returns the seconds it took."""
    started = time.monotonic()
    async with process.client() as client:

        async def ready() -> bool:
            try:
                return (await client.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(ready, timeout=timeout, what=f"{process.name} ready")
    return time.monotonic() - started


async def orders_by_status(operator: httpx.AsyncClient) -> dict[str, int]:
    """How many orders the (fresh, per-test) orders database holds, per status."""
    counts: dict[str, int] = {}
    offset = 0
    while True:
        page = await operator.get("/orders", params={"limit": 200, "offset": offset})
        assert page.status_code == 200, page.text
        items: list[dict[str, Any]] = page.json()["items"]
        for item in items:
            counts[item["status"]] = counts.get(item["status"], 0) + 1
        if len(items) < 200:
            return counts
        offset += 200


MEASURED: list[str] = []  # shown at the end of the run (see conftest.py)


def measured(scenario: str, line: str) -> None:
    """Record an observed result (counts, recovery times): reported, never asserted."""
    MEASURED.append(f"[{scenario}] {line}")


async def licensed_product(
    catalog: httpx.AsyncClient,
    ip: httpx.AsyncClient,
    orders: httpx.AsyncClient,
    *,
    stock: int,
    price_fen: int,
    rate_bps: int = 1_000,
) -> dict[str, Any]:
    """A product on sale through the real chain, every step a public API call:
    catalog registers the museum and relic, ip learns them from catalog's
    events, a licensee applies to ip and the museum approves, catalog learns
    the grant from ip's events and sells the product, orders replicates it.
    The clients carry an operator token."""
    museum_id, relic_id = await museum_with_relic(catalog)

    async def ip_knows_the_relic() -> bool:
        return (await ip.get(f"/assets/relic-{relic_id}")).status_code == 200

    await eventually(ip_knows_the_relic, what="ip opened the relic's asset")
    licensee_id = unique("licensee")
    applied = await ip.post(
        "/licenses",
        json=license_body(relic_id, terms={"rate_bps": rate_bps}),
        headers={"Authorization": f"Bearer {token(Role.LICENSEE, licensee_id=licensee_id)}"},
    )
    assert applied.status_code == 201, applied.text
    license_id = applied.json()["license_id"]
    approved = await ip.post(
        f"/licenses/{license_id}/approve",
        headers={"Authorization": f"Bearer {token(Role.MUSEUM, museum_id=museum_id)}"},
    )
    assert approved.status_code == 200, approved.text
    created: dict[str, Any] = {}

    async def catalog_knows_the_license() -> bool:
        response = await catalog.post(
            "/products",
            json={
                "sku": unique("WYQ"),
                "title_zh": "乌杨阙书签",
                "title_en": "Wuyang Que bookmark",
                "category": "stationery",
                "price_fen": price_fen,
                "relic_ids": [relic_id],
                "license_id": license_id,
                "stock": stock,
            },
        )
        created.update(response.json())
        return response.status_code == 201

    await eventually(catalog_knows_the_license, what="catalog learned the license grant")
    activated = await catalog.post(f"/products/{created['id']}/activate")
    assert activated.status_code == 200, activated.text
    product = activated.json()

    async def orders_sells_it() -> bool:
        response = await orders.get(f"/products/{product['id']}")
        return response.status_code == 200 and response.json()["version"] >= product["version"]

    await eventually(orders_sells_it, what="orders replicated the product")
    return {**product, "museum_id": museum_id, "relic_id": relic_id, "license_id": license_id}
