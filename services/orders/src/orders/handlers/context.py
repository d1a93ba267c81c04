"""What every use case shares: its dependencies (`Context`) and the way an
order changes (`change_order`).

Each order change is read, decided by the domain, then written with a `rev`
check together with its events (`change_order`); losing a race means reading again
and deciding again, so concurrent requests, consumers, replicas and the expiry
sweeper never overwrite each other.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from orders.domain import (
    Access,
    Order,
    Viewer,
    access_of,
)
from orders.errors import (
    ConcurrentUpdate,
    NotAllowed,
    OrderNotFound,
)
from orders.payments import PaymentProvider
from orders.store import CartStore, OrderStore, ProductStore

__all__ = [
    "Clock",
    "Context",
    "change_order",
    "fingerprint",
    "new_id",
    "require_access",
    "utcnow",
]


T = TypeVar("T")
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Context:
    """Everything a use case needs, passed in (fakes in unit tests)."""

    orders: OrderStore
    products: ProductStore
    carts: CartStore
    provider: PaymentProvider
    payment_window: timedelta
    provider_timeout: float
    clock: Clock = utcnow
    # a payment without a verdict this long is asked about (reconcile.py)
    reconcile_after: timedelta = timedelta(seconds=60)


def fingerprint(payload: object) -> str:
    """A stable digest of a request body, to tell a retry from a different request."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


async def change_order(
    ctx: Context,
    order_id: str,
    change: Callable[[Order], T],
    *,
    attempts: int = 10,
    current: Order | None = None,
) -> tuple[Order, T]:
    """Read the order, let `change` decide (the domain raises on illegal steps),
    write it with its events if nobody wrote it meanwhile; else read again.
    `current`: the order as this request last wrote it (saves the first read;
    if someone wrote since, the guard refuses and the order is read)."""
    for _ in range(attempts):
        order = current if current is not None else await ctx.orders.get(order_id)
        current = None
        if order is None:
            raise OrderNotFound(order_id)
        result = change(order)
        if not order.changed or await ctx.orders.save(order):
            return order, result
    raise ConcurrentUpdate(f"order {order_id}")


def require_access(order: Order, viewer: Viewer, *, full: bool = True) -> Access:
    access = access_of(order, viewer)
    if access is Access.NONE:
        raise OrderNotFound(order.order_id)  # not yours: indistinguishable from absent
    if full and access is not Access.FULL:
        raise NotAllowed("only the customer or an operator may do this")
    return access
