"""(a) Broker outage: Kafka is stopped for 15 s while 300 tourists place and
pay orders through real catalog, orders and ip processes. Every checkout is
accepted or refused with a clear 503; every accepted order ends PAID; ip's
ledger holds exactly one accrual per paid licensed line."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from fractions import Fraction
from typing import Any

import httpx
import pytest
from localstack import LocalStack

from servicekit.auth import Role
from tests.conftest import Infra
from tests.orders.helpers import token
from tests.reliability.helpers import (
    licensed_product,
    measured,
    orders_by_status,
    orders_overrides,
    wait_ready,
)
from tests.support import eventually

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]

ORDERS = 300
PACE_S = 0.1  # one checkout every 100 ms: 30 s of arrivals
OUTAGE_S = 15
OUTAGE_AFTER = 50  # checkouts placed before Kafka stops
PRICE_FEN = 2_600
RATE_BPS = 1_000
APPROVE = "tok_sandbox_approve"


async def test_300_orders_through_a_15s_broker_outage_settle_with_one_accrual_each(
    infra: Infra, run_service: Any, stack: LocalStack
) -> None:
    catalog = run_service("catalog")
    orders = run_service("orders", **orders_overrides(infra))
    ip = run_service("ip", IP_SCHEDULER_INTERVAL_S="0.5", IP_CLOSE_GRACE_S="0.1")
    await asyncio.gather(wait_ready(catalog), wait_ready(orders), wait_ready(ip))
    operator = token(Role.OPERATOR)
    async with (
        catalog.client(operator) as catalog_op,
        orders.client(operator) as orders_op,
        ip.client(operator) as ip_op,
        httpx.AsyncClient(base_url=orders.url, timeout=30) as tourists,
    ):
        product = await licensed_product(
            catalog_op, ip_op, orders_op, stock=ORDERS * 2, price_fen=PRICE_FEN, rate_bps=RATE_BPS
        )
        owners: dict[str, str] = {}  # order id -> the tourist's token
        refused: list[int] = []  # checkouts answered 503
        paid_requests: set[str] = set()
        kafka_down = asyncio.Event()

        async def checkout(n: int) -> None:
            tourist = token(Role.TOURIST, subject=f"tourist-{n}")
            placed = await tourists.post(
                "/orders",
                json={"lines": [{"product_id": product["id"], "quantity": 1 + n % 2}]},
                headers={"Authorization": f"Bearer {tourist}", "Idempotency-Key": uuid.uuid4().hex},
            )
            if placed.status_code == 503:
                assert placed.headers["content-type"] == "application/problem+json"
                refused.append(n)
                return
            assert placed.status_code == 201, placed.text
            owners[placed.json()["order_id"]] = tourist

        async def arrivals() -> None:
            tasks = []
            for n in range(ORDERS):
                tasks.append(asyncio.create_task(checkout(n)))
                if n == OUTAGE_AFTER:
                    kafka_down.set()
                await asyncio.sleep(PACE_S)
            await asyncio.gather(*tasks)

        async def outage() -> float:
            await kafka_down.wait()
            await asyncio.to_thread(stack.stop_kafka)
            stopped = time.monotonic()
            await asyncio.sleep(OUTAGE_S)
            await asyncio.to_thread(stack.start_kafka)
            await asyncio.to_thread(stack.wait_kafka)
            return time.monotonic() - stopped

        async def pay_confirmed() -> None:
            """Tourists pay as soon as their order is confirmed, outage or not."""
            page = await orders_op.get("/orders", params={"status": "CONFIRMED", "limit": 200})
            assert page.status_code == 200, page.text
            due = [
                o["order_id"]
                for o in page.json()["items"]
                if o["order_id"] in owners and o["order_id"] not in paid_requests
            ]

            async def pay(order_id: str) -> None:
                paid = await tourists.post(
                    f"/orders/{order_id}/payments",
                    json={"card_token": APPROVE},
                    headers={
                        "Authorization": f"Bearer {owners[order_id]}",
                        "Idempotency-Key": f"pay-{order_id}",
                    },
                )
                assert paid.status_code in (200, 201), paid.text
                paid_requests.add(order_id)

            await asyncio.gather(*(pay(order_id) for order_id in due))

        started = time.monotonic()
        placing = asyncio.create_task(arrivals())
        stopped_for = asyncio.create_task(outage())
        counts: dict[str, int] = {}

        async def all_paid() -> bool:
            await pay_confirmed()
            counts.clear()
            counts.update(await orders_by_status(orders_op))
            return placing.done() and counts.get("PAID", 0) == len(owners)

        try:
            # a check lists every order: once a second, not to load what it measures
            await eventually(all_paid, timeout=600, what="every accepted order paid", interval=1)
        except AssertionError as exc:
            left = (await catalog_op.get(f"/products/{product['id']}")).json()["stock"]
            raise AssertionError(
                f"{exc}: {len(owners)} accepted, {len(refused)} refused, orders {counts}, "
                f"{len(paid_requests)} payments asked, catalog stock {left}"
            ) from None
        finally:
            await asyncio.gather(placing, stopped_for, return_exceptions=True)
        settled_in = time.monotonic() - started
        placing.result()  # every checkout answered 201 or a 503 problem
        outage_s = stopped_for.result()

        assert len(owners) + len(refused) == ORDERS
        assert counts == {"PAID": len(owners)}, counts  # nothing else, nothing lost

        units = sum(1 + n % 2 for n in range(ORDERS) if n not in refused)
        stock = (await catalog_op.get(f"/products/{product['id']}")).json()["stock"]
        assert stock == ORDERS * 2 - units

        expected_royalty = sum(
            round(Fraction((1 + n % 2) * PRICE_FEN * RATE_BPS, 10_000))
            for n in range(ORDERS)
            if n not in refused
        )
        postings: list[dict[str, Any]] = []

        async def all_accrued() -> bool:
            ledger = await ip_op.get(
                f"/holders/{product['museum_id']}/ledger", params={"limit": 5000}
            )
            assert ledger.status_code == 200, ledger.text
            postings[:] = ledger.json()["postings"]
            return len(postings) >= len(owners)

        await eventually(all_accrued, timeout=400, what="ip accrued every paid line", interval=1)
        accruals = Counter(p["order_id"] for p in postings if p["kind"] == "accrual")
        assert accruals == Counter(list(owners)), "one accrual per paid line, none missing"
        assert sum(p["royalty_fen"] for p in postings) == expected_royalty
        trial = await ip_op.get("/ledger/trial-balance")
        assert trial.json()["total_fen"] == 0
    measured(
        "broker outage",
        f"Kafka down {outage_s:.1f}s during {ORDERS} checkouts: {len(owners)} accepted, "
        f"{len(refused)} refused with 503; all {counts.get('PAID', 0)} paid "
        f"{settled_in:.1f}s after the first checkout; {sum(accruals.values())} accruals, "
        f"royalty {expected_royalty} fen, stock {stock}",
    )
