"""What the batch tests share: a use-case context over a real store whose
client counts the commands it sends, and pending orders written as the
checkout would leave them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import monitoring
from pymongo.asynchronous.database import AsyncDatabase

from orders import store
from orders.domain import Customer, Order, Product
from orders.handlers import Context
from orders.sandbox import SandboxProvider
from orders.sandbox_store import SandboxStore
from orders.store import order_doc

SECRET = b"orders-batch-test-secret"
Doc = dict[str, Any]


class Commands(monitoring.CommandListener):
    """The store commands a client sent (name, collection), in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        self.sent.append((event.command_name, target if isinstance(target, str) else ""))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def take(self) -> list[tuple[str, str]]:
        sent, self.sent = self.sent, []
        return sent


def context(db: AsyncDatabase[Doc], *, orders: store.OrderStore | None = None) -> Context:
    return Context(
        orders=orders or store.OrderStore(db),
        products=store.ProductStore(db),
        carts=store.CartStore(db),
        provider=SandboxProvider(
            secret=SECRET, store=SandboxStore(db), webhook_delay_seconds=3_600
        ),
        payment_window=timedelta(minutes=10),
        provider_timeout=1.0,
    )


def replica_product(product_id: str | None = None, *, version: int = 1) -> Product:
    pid = product_id or f"prd-{uuid.uuid4().hex[:10]}"
    return Product(
        product_id=pid,
        sku=f"SKU-{pid[-6:]}",
        title_zh="书签",
        title_en="Bookmark",
        price_fen=2_600,
        relic_ids=("rel-1",),
        museum_ids=("mus-1",),
        license_id="lic-1",
        licensee_id="lee-batch",
        status="active",
        sellable=True,
        version=version,
    )


def pending_order(product: Product) -> Order:
    order_id = f"ord-{uuid.uuid4().hex}"
    return Order.place(
        order_id=order_id,
        customer=Customer("tourist", "tourist-batch"),
        items=[(product, product.product_id, 2)],
        at=datetime.now(UTC),
        order_token="token",
        idempotency_key=f"tourist:tourist-batch:{order_id}",
        fingerprint="fp",
    )


async def insert_pending(db: AsyncDatabase[Doc], n: int) -> list[str]:
    """`n` PENDING orders, stored as the checkout leaves them (their `placed`
    event already relayed)."""
    product = replica_product()
    orders = [pending_order(product) for _ in range(n)]
    await db["orders"].insert_many([order_doc(o) for o in orders])
    return [o.order_id for o in orders]
