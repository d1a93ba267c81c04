"""A consumed batch folded in memory: catalog's stock verdicts applied to the
orders they name, in order, and the newest snapshot of each product. Pure:
the store reads what a batch touches once and writes the result once.

Redelivery is harmless by the state machine: a verdict an order already took
(or one that came too late) is an illegal transition, refused before anything
changes, so folding a batch a second time over the orders it produced changes
nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from contracts.catalog import StockRejected, StockReserved
from orders.domain.order import Order
from orders.domain.values import Product
from orders.errors import IllegalTransition

__all__ = ["StockVerdict", "VerdictFold", "apply_verdict", "fold_verdicts", "newest_products"]

StockVerdict = StockReserved | StockRejected


def apply_verdict(
    order: Order, verdict: StockVerdict, *, at: datetime, payment_window: timedelta
) -> None:
    """Catalog reserved the order's stock (confirm) or could not (reject);
    IllegalTransition when the order is past that step (nothing changed)."""
    if isinstance(verdict, StockReserved):
        order.confirm(at=at, payment_window=payment_window)
    else:
        order.reject(at=at, rejections=verdict.reasons)


@dataclass
class VerdictFold:
    """What a batch of verdicts did: the orders to save (in the order first
    touched), the verdicts refused (order id, why) and the orders not held here."""

    changed: list[Order] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def fold_verdicts(
    orders: Mapping[str, Order],
    verdicts: Sequence[StockVerdict],
    *,
    at: datetime,
    payment_window: timedelta,
) -> VerdictFold:
    """Apply the verdicts in order to `orders` (changed in place); an order
    with several verdicts ends as if they were applied one by one."""
    fold = VerdictFold()
    changed: dict[str, Order] = {}
    for verdict in verdicts:
        order = orders.get(verdict.order_id)
        if order is None:
            fold.missing.append(verdict.order_id)
            continue
        try:
            apply_verdict(order, verdict, at=at, payment_window=payment_window)
        except IllegalTransition as exc:  # a redelivery, or a fact that came too late
            fold.refused.append((verdict.order_id, exc.detail))
            continue
        changed.setdefault(order.order_id, order)
    fold.changed = list(changed.values())
    return fold


def newest_products(products: Iterable[Product]) -> list[Product]:
    """The highest version of each product (the replica keeps only that)."""
    newest: dict[str, Product] = {}
    for product in products:
        held = newest.get(product.product_id)
        if held is None or product.version > held.version:
            newest[product.product_id] = product
    return list(newest.values())
