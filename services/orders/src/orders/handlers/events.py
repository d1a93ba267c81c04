"""Events from Kafka: catalog's product events feed the replica, its stock
events drive the saga. Idempotent: versions, and conditional transitions."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import cast

from contracts.catalog import (
    ProductPriceChanged,
    ProductPublished,
    ProductRetired,
    ProductSnapshot,
    ProductUnsellable,
    ProductUpdated,
    StockRejected,
    StockReserved,
)
from orders.domain import (
    Order,
    Product,
)
from orders.errors import (
    ConcurrentUpdate,
    IllegalTransition,
    LostRace,
    OrderNotFound,
    ProductNotFound,
)
from orders.handlers.context import (
    Context,
    change_order,
)
from servicekit.consumer import EventMeta, Handler, HandlerRegistry

__all__ = [
    "apply_product",
    "confirm_order",
    "get_product",
    "registry",
    "reject_order",
]

log = logging.getLogger(__name__)


# --- the product replica (catalog's product events) -------------------------------


def _product(snapshot: ProductSnapshot) -> Product:
    return Product(
        product_id=snapshot.product_id,
        sku=snapshot.sku,
        title_zh=snapshot.title_zh,
        title_en=snapshot.title_en,
        price_fen=snapshot.price_fen,
        relic_ids=tuple(snapshot.relic_ids),
        museum_ids=tuple(snapshot.museum_ids),
        license_id=snapshot.license_id,
        licensee_id=snapshot.licensee_id,
        status=snapshot.status,
        sellable=snapshot.sellable,
        version=snapshot.version,
    )


async def apply_product(
    event: ProductPublished
    | ProductUpdated
    | ProductPriceChanged
    | ProductRetired
    | ProductUnsellable,
    meta: EventMeta,
    *,
    ctx: Context,
) -> None:
    """Keep the newest snapshot; stale or repeated versions change nothing."""
    applied = await ctx.products.apply(_product(event.product))
    if not applied:
        log.debug("stale product event", extra={"event_id": meta.id, "product": event.product_id})


async def get_product(*, ctx: Context, product_id: str) -> Product:
    product = await ctx.products.get(product_id)
    if product is None:
        raise ProductNotFound(product_id)
    return product


# --- the saga (catalog's stock events) ----------------------------------------------


async def _saga_step(ctx: Context, order_id: str, step: Callable[[Order], None], what: str) -> None:
    try:
        await change_order(ctx, order_id, step)
    except OrderNotFound:
        log.info("%s for an order not held here", what, extra={"order_id": order_id})
    except IllegalTransition as exc:  # a redelivery, or a fact that came too late
        log.info("%s ignored: %s", what, exc.detail, extra={"order_id": order_id})
    except ConcurrentUpdate as exc:  # lost every race: the consumer retries, never DLQs
        raise LostRace(exc.detail) from exc


async def confirm_order(event: StockReserved, meta: EventMeta, *, ctx: Context) -> None:
    def step(order: Order) -> None:
        order.confirm(at=ctx.clock(), payment_window=ctx.payment_window)

    await _saga_step(ctx, event.order_id, step, f"stock.reserved {meta.id}")


async def reject_order(event: StockRejected, meta: EventMeta, *, ctx: Context) -> None:
    def step(order: Order) -> None:
        order.reject(at=ctx.clock(), rejections=event.reasons)

    await _saga_step(ctx, event.order_id, step, f"stock.rejected {meta.id}")


def registry(ctx: Context) -> HandlerRegistry:
    product = cast(Handler, partial(apply_product, ctx=ctx))
    return {
        ProductPublished: [product],
        ProductUpdated: [product],
        ProductPriceChanged: [product],
        ProductRetired: [product],
        ProductUnsellable: [product],
        StockReserved: [cast(Handler, partial(confirm_order, ctx=ctx))],
        StockRejected: [cast(Handler, partial(reject_order, ctx=ctx))],
    }
