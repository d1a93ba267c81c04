"""A payment in flight always settles (issue 25): the sandbox provider keeps
its charges and deliveries in its own store and redelivers after a restart;
orders reconciles pending payments by `retrieve` (after a restart too); a
webhook and a reconciliation racing for one payment make one `order.paid`;
a capture that comes after the order expired is refunded. Real Kafka, the
real store, orders as a real process; bounded polling, no timings."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from contracts.catalog import ProductPublished, StockLine, StockReserved
from orders import handlers
from orders.domain import OrderStatus, Viewer
from orders.payments import SIGNATURE_HEADER, sign
from servicekit.auth import Role
from tests.conftest import Infra
from tests.orders.batch_support import SECRET, context, insert_pending
from tests.orders.conftest import orders_env
from tests.orders.helpers import (
    order_in,
    product_on_sale,
    publish,
    read_order_events,
    snapshot,
    token,
)
from tests.support import ServiceProcess, eventually, free_port, unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]

Doc = dict[str, Any]
OFF = "86400"  # a setting's value that keeps a mechanism out of a test's way


async def confirmed_order(infra: Infra, client: httpx.AsyncClient) -> dict[str, Any]:
    product = snapshot(price_fen=3_300)
    await publish(
        infra.kafka_bootstrap, ProductPublished(product_id=product.product_id, product=product)
    )
    await product_on_sale(client, product.product_id)
    placed = await client.post(
        "/orders",
        json={"lines": [{"product_id": product.product_id, "quantity": 2}]},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]
    line = StockLine(product_id=product.product_id, quantity=2)
    await publish(infra.kafka_bootstrap, StockReserved(order_id=order_id, lines=[line]))
    return await order_in(client, order_id, "CONFIRMED")


async def pay(client: httpx.AsyncClient, order_id: str, card: str) -> dict[str, Any]:
    paying = await client.post(f"/orders/{order_id}/payments", json={"card_token": card})
    assert paying.status_code == 201, paying.text
    return dict(paying.json())


def paid_ids(events: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    return [ce_id for ce_id, short, _ in events if short == "paid"]


# --- reconciliation after a crash ----------------------------------------------------------


async def test_a_payment_approved_while_orders_is_down_settles_after_restart(
    infra: Infra,
) -> None:
    """The sandbox accepted the charge; orders is killed before the webhook
    goes out (its first delivery is a day away); after the restart the
    reconciler retrieves the charge and settles the order."""
    service = ServiceProcess(
        "orders",
        orders_env(
            infra,
            ORDERS_SANDBOX_WEBHOOK_DELAY_SECONDS=OFF,
            ORDERS_PAYMENT_RECONCILE_AFTER_SECONDS=OFF,
        ),
    )
    try:
        async with service.client(token(Role.TOURIST)) as client:
            order = await confirmed_order(infra, client)
            payment = await pay(client, order["order_id"], "tok_sandbox_approve")
            assert payment["status"] == "pending"
            assert payment["provider_ref"] is not None  # accepted by the provider
        service.kill()
        service.env["ORDERS_PAYMENT_RECONCILE_AFTER_SECONDS"] = "0"
        service.env["ORDERS_PAYMENT_RECONCILE_INTERVAL_SECONDS"] = "0.2"
        service.start()
        async with service.client(token(Role.OPERATOR)) as operator:
            paid = await order_in(operator, order["order_id"], "PAID")
            [settled] = paid["payments"]
            assert settled["status"] == "captured"
            assert settled["settled_by"] == "reconciliation"
            charge = await operator.get(f"/payments/sandbox/charges/{settled['provider_ref']}")
            assert charge.json()["status"] == "approved"
        events = await read_order_events(infra.kafka_bootstrap, order["order_id"], ["paid"])
        assert paid_ids(events) == [f"{order['order_id']}:paid"]
    finally:
        service.stop()


# --- the race ------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def db(infra: Infra) -> AsyncIterator[AsyncDatabase[Doc]]:
    client: AsyncMongoClient[Doc] = AsyncMongoClient(infra.mongodb_url, tz_aware=True)
    yield client[unique("orders_race").replace("-", "_")]
    await client.close()


def _webhook(order_id: str, payment: Any) -> tuple[bytes, str]:
    body = json.dumps(
        {
            "event_id": f"evt-{payment.payment_id}",
            "kind": "payment.succeeded",
            "payment_id": payment.payment_id,
            "order_id": order_id,
            "provider_ref": payment.provider_ref,
            "amount_fen": payment.amount_fen,
        }
    ).encode()
    return body, sign(SECRET, body, int(time.time()))


async def test_a_webhook_and_a_reconciliation_racing_make_one_order_paid(
    db: AsyncDatabase[Doc],
) -> None:
    """For each of 20 approved payments, the webhook and a reconciliation
    round start at the same moment against the real store; each order ends
    PAID with one `order.paid` in its outbox, whoever won."""
    ctx = dataclasses.replace(context(db), reconcile_after=timedelta(0))
    order_ids = await insert_pending(db, 20)
    orders = await ctx.orders.get_many(order_ids)
    for order in orders.values():
        order.confirm(at=ctx.clock(), payment_window=ctx.payment_window)
    assert await ctx.orders.save_many(list(orders.values())) == len(orders)
    tourist = Viewer(role="tourist", subject="tourist-batch")
    webhooks = []
    for order_id in order_ids:
        _, payment, _ = await handlers.start_payment(
            ctx=ctx,
            order_id=order_id,
            viewer=tourist,
            card_token="tok_sandbox_approve",
            idempotency_key=None,
            webhook_url="http://127.0.0.1:9/unused",  # no delivery loop runs here
        )
        webhooks.append(_webhook(order_id, payment))

    async def webhook(body: bytes, signature: str) -> str:
        return await handlers.settle_payment(ctx=ctx, body=body, signature=signature)

    outcomes = await asyncio.gather(
        *(webhook(body, signature) for body, signature in webhooks),
        handlers.reconcile_payments(ctx=ctx),
        handlers.reconcile_payments(ctx=ctx),
    )
    by_webhook = outcomes[: len(webhooks)]
    assert set(by_webhook) <= {"captured", "duplicate"}
    for _ in range(5):  # what lost a race is left for the next round
        await handlers.reconcile_payments(ctx=ctx)
    stored = {d["_id"]: d async for d in db["orders"].find({"_id": {"$in": order_ids}})}
    for order_id in order_ids:
        doc = stored[order_id]
        assert doc["status"] == OrderStatus.PAID.value
        [payment] = doc["payments"]
        assert payment["status"] == "captured"
        assert payment["settled_by"] in {"webhook", "reconciliation"}
        paid = [e["id"] for e in doc.get("_outbox", []) if e["id"].endswith(":paid")]
        assert paid == [f"{order_id}:paid"], order_id
    # the reconciler's pending set is empty again
    checks = [d async for d in db["payment_checks"].find({"_id": {"$ne": "check:index"}})]
    assert all(not d.get("payments") for d in checks)  # a test may scan


async def test_webhooks_and_reconciliation_in_a_running_service_pay_once(infra: Infra) -> None:
    """Both paths on at once in a real process: each order paid once."""
    service = ServiceProcess(
        "orders",
        orders_env(
            infra,
            ORDERS_SANDBOX_WEBHOOK_DELAY_SECONDS="0",
            ORDERS_PAYMENT_RECONCILE_AFTER_SECONDS="0",
            ORDERS_PAYMENT_RECONCILE_INTERVAL_SECONDS="0.05",
        ),
    )
    try:
        async with service.client(token(Role.TOURIST)) as client:
            orders = [await confirmed_order(infra, client) for _ in range(6)]
            await asyncio.gather(
                *(pay(client, o["order_id"], "tok_sandbox_approve") for o in orders)
            )
            for order in orders:
                await order_in(client, order["order_id"], "PAID")
        for order in orders:
            events = await read_order_events(infra.kafka_bootstrap, order["order_id"], ["paid"])
            assert paid_ids(events) == [f"{order['order_id']}:paid"]
    finally:
        service.stop()


# --- expiry never strands money ------------------------------------------------------------


async def test_an_order_that_expires_before_its_payment_is_approved_ends_refunded(
    infra: Infra,
) -> None:
    """The bank is still processing when the window closes: the sweep asks
    the provider, cancels, and the approval that follows is refunded."""
    service = ServiceProcess(
        "orders",
        orders_env(
            infra,
            ORDERS_PAYMENT_WINDOW_SECONDS="3",
            ORDERS_EXPIRY_SWEEP_SECONDS="0.3",
            ORDERS_PAYMENT_RECONCILE_AFTER_SECONDS="0",
            ORDERS_PAYMENT_RECONCILE_INTERVAL_SECONDS="0.3",
        ),
    )
    try:
        async with (
            service.client(token(Role.TOURIST)) as client,
            service.client(token(Role.OPERATOR)) as operator,
        ):
            order = await confirmed_order(infra, client)
            order_id = order["order_id"]
            payment = await pay(client, order_id, "tok_sandbox_processing")
            ref = payment["provider_ref"]
            cancelled = await order_in(client, order_id, "CANCELLED")
            assert cancelled["cancel_reason"] == "payment_expired"
            assert cancelled["payments"][0]["status"] == "pending"
            approved = await operator.post(f"/payments/sandbox/charges/{ref}/approve")
            assert approved.status_code == 200, approved.text

            async def refunded() -> bool:
                view = (await client.get(f"/orders/{order_id}")).json()
                return bool(view["payments"][0]["refund_ref"])

            await eventually(refunded, timeout=30, what="the late capture refunded")
            view = (await client.get(f"/orders/{order_id}")).json()
            assert view["status"] == "CANCELLED"
            assert view["payments"][0]["status"] == "reversed"
            charge = (await operator.get(f"/payments/sandbox/charges/{ref}")).json()
            assert charge["refunded_fen"] == charge["amount_fen"] == order["total_fen"]
        events = await read_order_events(
            infra.kafka_bootstrap, order_id, ["placed", "confirmed", "cancelled", "reversed"]
        )
        assert "paid" not in [short for _, short, _ in events]  # no royalties, stock released
        (reversal,) = [body for _, short, body in events if short == "reversed"]
        assert reversal["payment_id"] == payment["payment_id"]
        assert reversal["amount_fen"] == order["total_fen"]
        assert reversal["refund_ref"] == view["payments"][0]["refund_ref"]
        assert reversal["order_status"] == "CANCELLED"
    finally:
        service.stop()


# --- the sandbox's deliveries survive its restart ------------------------------------------


class Receiver:
    """The webhook's endpoint as the test controls it: refuses (503) until
    `forward_to` is set, then passes each delivery on and answers as it did."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.forward_to: str | None = None
        self.seen: list[tuple[bytes, int]] = []  # (body, status answered)
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        headers = dict(
            line.split(": ", 1) for line in head.decode().split("\r\n")[1:] if ": " in line
        )
        lowered = {k.lower(): v for k, v in headers.items()}
        body = await reader.readexactly(int(lowered.get("content-length", "0")))
        status = 503
        if self.forward_to is not None:
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.post(
                    self.forward_to,
                    content=body,
                    headers={
                        SIGNATURE_HEADER: lowered[SIGNATURE_HEADER.lower()],
                        "Content-Type": "application/json",
                    },
                )
            status = response.status_code
        self.seen.append((body, status))
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()


async def test_the_sandbox_redelivers_after_its_own_restart(infra: Infra) -> None:
    receiver = Receiver()
    await receiver.start()
    service = ServiceProcess(
        "orders",
        orders_env(
            infra,
            ORDERS_PAYMENT_WEBHOOK_URL=receiver.url,
            ORDERS_PAYMENT_RECONCILE_AFTER_SECONDS=OFF,
            ORDERS_SANDBOX_RETRY_BASE_SECONDS="0.2",
            ORDERS_SANDBOX_RETRY_CAP_SECONDS="1",
            ORDERS_SANDBOX_DELIVERY_POLL_SECONDS="0.2",
        ),
    )
    tourist = token(Role.TOURIST)
    try:
        async with service.client(tourist) as client:
            order = await confirmed_order(infra, client)
            await pay(client, order["order_id"], "tok_sandbox_approve")

            async def refused_twice() -> bool:
                return len(receiver.seen) >= 2

            await eventually(refused_twice, timeout=30, what="two refused deliveries")
        service.kill()
        before = len(receiver.seen)
        receiver.forward_to = f"{service.url}/payments/webhooks/sandbox"
        service.start()
        async with service.client(tourist) as client:
            paid = await order_in(client, order["order_id"], "PAID")
            assert paid["payments"][0]["settled_by"] == "webhook"
        delivered = [status for _, status in receiver.seen[before:] if status == 200]
        assert delivered, receiver.seen
        assert len({body for body, _ in receiver.seen}) == 1  # the one webhook, redelivered
        log = service.log_path.read_text()
        assert "failed: HTTP 503" in log  # each failure says why
    finally:
        service.stop()
        await receiver.stop()
