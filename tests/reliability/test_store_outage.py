"""(c) Store outage: FerretDB stops under running orders and catalog
services. Readiness says so, writes are refused with 503 problem+json (never a
500), and once the store is back the same processes serve again, with nothing
restarted."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from contracts.catalog import ProductPublished
from servicekit.auth import Role
from tests.conftest import Infra
from tests.orders.helpers import product_on_sale, publish, snapshot, token
from tests.reliability.helpers import measured, orders_overrides, wait_ready
from tests.support import eventually

pytestmark = [pytest.mark.infra, pytest.mark.stack_control, pytest.mark.asyncio]

PROBLEM_JSON = "application/problem+json"


def _is_503_problem(response: httpx.Response) -> None:
    assert response.status_code == 503, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body = response.json()
    assert body["status"] == 503
    assert "Retry-After" in response.headers


async def test_writes_get_503_while_the_store_is_down_and_recover_without_restart(
    infra: Infra, stack: Any, run_service: Any
) -> None:
    orders = run_service("orders", **orders_overrides(infra))
    catalog = run_service("catalog")
    await asyncio.gather(wait_ready(orders), wait_ready(catalog))
    museum = {
        "name_zh": "故宫博物院",
        "name_en": "Palace Museum",
        "city": "Beijing",
        "province": "Beijing",
    }
    product = snapshot()
    await publish(
        infra.kafka_bootstrap, ProductPublished(product_id=product.product_id, product=product)
    )
    guest_order = {
        "lines": [{"product_id": product.product_id, "quantity": 1}],
        "email": "guest@example.com",
    }
    async with (
        orders.client() as as_guest,
        orders.client(token(Role.TOURIST)) as as_tourist,
        catalog.client(token(Role.OPERATOR)) as catalog_operator,
    ):
        await product_on_sale(as_guest, product.product_id)
        assert (await as_guest.post("/carts")).status_code == 201  # the store answers

        await asyncio.to_thread(stack.stop_mongo)
        stopped = time.monotonic()

        async def not_ready() -> bool:
            return (await as_guest.get("/readyz")).status_code == 503 and (
                await catalog_operator.get("/readyz")
            ).status_code == 503

        await eventually(not_ready, timeout=15, what="readyz 503 with the store down")
        down = await as_guest.get("/readyz")
        assert down.headers["content-type"].startswith(PROBLEM_JSON)
        assert down.json()["checks"]["mongodb"] == "down"

        # writes: a guest cart, a tourist cart, a guest checkout
        _is_503_problem(await as_guest.post("/carts"))
        _is_503_problem(await as_tourist.post("/carts"))
        _is_503_problem(
            await as_guest.post(
                "/orders", json=guest_order, headers={"Idempotency-Key": uuid.uuid4().hex}
            )
        )
        _is_503_problem(await catalog_operator.post("/museums", json=museum))
        assert orders.process is not None
        assert orders.process.poll() is None  # the same process, still up
        assert catalog.process is not None
        assert catalog.process.poll() is None

        await asyncio.to_thread(stack.start_mongo)
        await asyncio.to_thread(stack.wait_mongo)
        store_back = time.monotonic()

        async def ready() -> bool:
            return (await as_guest.get("/readyz")).status_code == 200 and (
                await catalog_operator.get("/readyz")
            ).status_code == 200

        await eventually(ready, timeout=30, what="readyz 200 once the store is back")
        ready_after = time.monotonic() - store_back

        async def writes() -> bool:
            return (await as_guest.post("/carts")).status_code == 201

        await eventually(writes, timeout=30, what="a cart is opened once the store is back")
        placed = await as_guest.post(
            "/orders", json=guest_order, headers={"Idempotency-Key": uuid.uuid4().hex}
        )
        assert placed.status_code == 201, placed.text
        created = await catalog_operator.post("/museums", json=museum)
        assert created.status_code == 201, created.text
        recovered_after = time.monotonic() - store_back
    measured(
        "store outage",
        f"down for {store_back - stopped:.1f}s; readyz 200 "
        f"{ready_after:.2f}s and writes {recovered_after:.2f}s after FerretDB answered",
    )
