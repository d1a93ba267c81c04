"""(d) Oversell race: 200 guests check out the last 25 units at once, through
real orders and catalog processes. Exactly 25 orders are confirmed, the other
175 rejected, and catalog's stock ends at 0, never below."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from servicekit.auth import Role
from tests.conftest import Infra
from tests.orders.helpers import catalog_product, product_on_sale, token
from tests.reliability.helpers import measured, orders_by_status, orders_overrides, wait_ready
from tests.support import eventually

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]

UNITS = 25
BUYERS = 200


async def test_200_concurrent_checkouts_for_25_units_confirm_exactly_25(
    infra: Infra, run_service: Any
) -> None:
    catalog = run_service("catalog")
    orders = run_service("orders", **orders_overrides(infra))
    await asyncio.gather(wait_ready(catalog), wait_ready(orders))
    async with (
        catalog.client(token(Role.OPERATOR)) as catalog_operator,
        orders.client(token(Role.OPERATOR)) as orders_operator,
        httpx.AsyncClient(
            base_url=orders.url,
            timeout=60,
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=20),
        ) as as_guests,
    ):
        product = await catalog_product(infra.kafka_bootstrap, catalog_operator, stock=UNITS)
        product_id = product["id"]
        await product_on_sale(orders_operator, product_id, version=product["version"])

        async def checkout(n: int) -> httpx.Response:
            return await as_guests.post(
                "/orders",
                json={
                    "lines": [{"product_id": product_id, "quantity": 1}],
                    "email": f"guest{n}@example.com",
                },
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )

        started = time.monotonic()
        responses = await asyncio.gather(*(checkout(n) for n in range(BUYERS)))
        accepted_in = time.monotonic() - started
        statuses = [r.status_code for r in responses]
        assert statuses.count(201) == BUYERS, {s: statuses.count(s) for s in set(statuses)}
        assert len({r.json()["order_id"] for r in responses}) == BUYERS

        counts: dict[str, int] = {}

        async def all_decided() -> bool:
            counts.clear()
            counts.update(await orders_by_status(orders_operator))
            return counts.get("CONFIRMED", 0) + counts.get("REJECTED", 0) == BUYERS

        try:
            await eventually(all_decided, timeout=180, what="every checkout confirmed or rejected")
        except AssertionError as exc:
            left = (await catalog_operator.get(f"/products/{product_id}")).json()["stock"]
            raise AssertionError(f"{exc}: orders {counts}, catalog stock {left}") from None
        decided_in = time.monotonic() - started
        assert counts == {"CONFIRMED": UNITS, "REJECTED": BUYERS - UNITS}, counts

        stock = await catalog_operator.get(f"/products/{product_id}")
        assert stock.status_code == 200, stock.text
        assert stock.json()["stock"] == 0
    measured(
        "oversell race",
        f"{BUYERS} checkouts accepted in {accepted_in:.1f}s, all decided in "
        f"{decided_in:.1f}s: {counts}, catalog stock {stock.json()['stock']}",
    )
