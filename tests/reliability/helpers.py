"""Shared bits of the reliability suite: readiness waits and order counting."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.conftest import Infra
from tests.orders.conftest import orders_env
from tests.support import ServiceProcess, eventually


def orders_overrides(infra: Infra, **extra: str) -> dict[str, str]:
    """orders' test settings, minus the database (run_service gives each its own)."""
    return {
        k: v
        for k, v in orders_env(infra, **extra).items()
        if k.startswith("ORDERS_") and k != "ORDERS_MONGODB_DATABASE"
    } | {"OUTBOX_POLL_INTERVAL_MS": "100"}


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
