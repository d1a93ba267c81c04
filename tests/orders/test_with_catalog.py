"""End to end with the real catalog service: catalog publishes the product,
reserves or rejects stock on order.placed, and releases it when an unpaid
order expires. ip's license grant is played by publishing its contract event."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from servicekit.auth import Role
from tests.conftest import Infra
from tests.orders.conftest import orders_env
from tests.orders.helpers import catalog_product, order_in, product_on_sale, token
from tests.support import eventually

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]


async def test_catalog_reserves_rejects_and_releases_stock_for_orders(
    infra: Infra, run_service: Any
) -> None:
    catalog = run_service("catalog")
    orders = run_service(
        "orders",
        **{
            k: v
            for k, v in orders_env(infra, ORDERS_PAYMENT_WINDOW_SECONDS="3").items()
            if k.startswith("ORDERS_") and k != "ORDERS_MONGODB_DATABASE"
        },
    )
    async with (
        catalog.client(token(Role.OPERATOR)) as as_operator,
        orders.client(token(Role.TOURIST)) as as_tourist,
    ):
        product = await catalog_product(infra.kafka_bootstrap, as_operator, stock=5)
        product_id = product["id"]
        await product_on_sale(as_tourist, product_id, version=product["version"])

        async def stock() -> int:
            return int((await as_operator.get(f"/products/{product_id}")).json()["stock"])

        placed = await as_tourist.post(
            "/orders",
            json={"lines": [{"product_id": product_id, "quantity": 2}]},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["order_id"]
        await order_in(as_tourist, order_id, "CONFIRMED")
        assert await stock() == 3

        greedy = await as_tourist.post(
            "/orders",
            json={"lines": [{"product_id": product_id, "quantity": 9}]},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        rejected = await order_in(as_tourist, greedy.json()["order_id"], "REJECTED")
        assert rejected["rejection_reasons"][0]["reason"] == "insufficient"
        assert rejected["rejection_reasons"][0]["requested"] == 9

        # nobody pays: the order expires and catalog puts the stock back
        await order_in(as_tourist, order_id, "CANCELLED")

        async def released() -> bool:
            return await stock() == 5

        await eventually(released, what="catalog released the expired order's stock")
