"""Events from Kafka, a poll at a time (servicekit's BatchSubscription):
catalog's product events feed the replica, its stock verdicts drive the saga.

A batch costs a fixed number of store commands, whatever its size: the
replica's newest snapshots in one bulk write of version-guarded upserts; the
orders the verdicts name in one `$in` read, the verdicts folded over them in
memory (orders.domain.fold), then the confirmations' expiry entries, the
outbox markers and the orders' rev-checked updates, one bulk write each.
An order whose guard failed (an HTTP write got there first, e.g. a payment)
is read again and the verdicts re-applied; a verdict that landed is refused
the second time by the state machine, so a redelivered batch (a crash between
the writes and the commit) or one re-applied event by event (after a poison
event split it) changes nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial

from contracts import Event
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
from orders.domain import Product
from orders.domain.fold import StockVerdict, VerdictFold, fold_verdicts, newest_products
from orders.errors import LostRace, ProductNotFound
from orders.handlers.context import Context
from servicekit.consumer import BatchSubscription, EventMeta
from servicekit.tracing import child_of

__all__ = [
    "CONSUMED",
    "apply_product",
    "confirm_order",
    "get_product",
    "handle_batch",
    "reject_order",
    "subscription",
]

log = logging.getLogger(__name__)

_PRODUCT_EVENTS = (
    ProductPublished,
    ProductUpdated,
    ProductPriceChanged,
    ProductRetired,
    ProductUnsellable,
)
CONSUMED: tuple[type[Event], ...] = (*_PRODUCT_EVENTS, StockReserved, StockRejected)
_ATTEMPTS = 10  # rounds of lost races before the batch is retried whole

ProductEvent = (
    ProductPublished | ProductUpdated | ProductPriceChanged | ProductRetired | ProductUnsellable
)


def subscription(ctx: Context) -> BatchSubscription:
    return BatchSubscription(CONSUMED, partial(handle_batch, ctx=ctx))


async def handle_batch(items: Sequence[tuple[Event, EventMeta]], *, ctx: Context) -> None:
    """Apply a poll's events: the replica's, then the saga's (independent
    of each other; each keeps its own events' order)."""
    products = [_product(e.product) for e, _ in items if isinstance(e, _PRODUCT_EVENTS)]
    verdicts = [(e, m) for e, m in items if isinstance(e, StockReserved | StockRejected)]
    # one after the other, not gathered: a failure must not leave the other
    # half still writing while the runner retries or splits the batch
    if products:
        await _replicate(ctx, products)
    if verdicts:
        await _settle(ctx, verdicts)


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


async def _replicate(ctx: Context, products: Sequence[Product]) -> None:
    """Keep the newest snapshot of each; stale or repeated versions change nothing."""
    newest = newest_products(products)
    applied = await ctx.products.apply_many(newest)
    if applied < len(newest):
        log.debug("%d stale product versions", len(newest) - applied)


async def apply_product(event: ProductEvent, meta: EventMeta, *, ctx: Context) -> None:
    """One product event (the batch path with a batch of one)."""
    await handle_batch([(event, meta)], ctx=ctx)


async def get_product(*, ctx: Context, product_id: str) -> Product:
    product = await ctx.products.get(product_id)
    if product is None:
        raise ProductNotFound(product_id)
    return product


# --- the saga (catalog's stock verdicts) --------------------------------------------


async def _settle(ctx: Context, verdicts: Sequence[tuple[StockVerdict, EventMeta]]) -> None:
    """Read the orders, fold the verdicts over them, write what changed; the
    orders whose write lost a race go round again, alone."""
    pending = list(verdicts)
    for attempt in range(_ATTEMPTS):
        orders = await ctx.orders.get_many([v.order_id for v, _ in pending])
        fold = fold_verdicts(
            orders, [v for v, _ in pending], at=ctx.clock(), payment_window=ctx.payment_window
        )
        if attempt == 0:  # later rounds refuse what the first one landed
            _log_skipped(fold, pending)
        if not fold.changed:
            return
        # each order's events continue the trace of the last verdict it took
        traces = {v.order_id: child_of(m.traceparent) for v, m in pending}
        landed = await ctx.orders.save_many(fold.changed, traceparents=traces)
        if landed == len(fold.changed):
            return
        lost = {o.order_id for o in fold.changed}
        pending = [(v, m) for v, m in pending if v.order_id in lost]
    # lost every race: the consumer retries the batch, never dead-letters it
    raise LostRace(f"orders {sorted({v.order_id for v, _ in pending})}")


def _log_skipped(fold: VerdictFold, verdicts: Sequence[tuple[StockVerdict, EventMeta]]) -> None:
    for order_id in fold.missing:
        log.info("stock verdict for an order not held here", extra={"order_id": order_id})
    for order_id, why in fold.refused:  # a redelivery, or a fact that came too late
        log.info("stock verdict ignored: %s", why, extra={"order_id": order_id})
    if fold.missing or fold.refused:
        log.debug("%d verdicts, %d skipped", len(verdicts), len(fold.missing) + len(fold.refused))


async def confirm_order(event: StockReserved, meta: EventMeta, *, ctx: Context) -> None:
    """One stock.reserved (the batch path with a batch of one)."""
    await handle_batch([(event, meta)], ctx=ctx)


async def reject_order(event: StockRejected, meta: EventMeta, *, ctx: Context) -> None:
    """One stock.rejected (the batch path with a batch of one)."""
    await handle_batch([(event, meta)], ctx=ctx)
