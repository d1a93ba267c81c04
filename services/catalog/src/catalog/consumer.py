"""The catalog's consumer: one handler for a whole poll (servicekit's
BatchSubscription). License changes are applied one by one, in order (rare,
and each brings its products in line); the order events of the poll are
folded together (catalog.stock_batch). Licenses first is safe: the two come
from different topics, so no order between them is promised anyway, and a
license change only changes whether later lines are sellable."""

from collections.abc import Callable, Sequence

from catalog.licenses import LicenseEvent, apply_license_change
from catalog.stock_batch import StockBatch
from catalog.stock_fold import StockEvent
from catalog.store import CatalogStore
from contracts import Event
from contracts.ip import (
    LicenseExpired,
    LicenseGranted,
    LicenseReinstated,
    LicenseRevoked,
    LicenseSuspended,
)
from contracts.orders import OrderCancelled, OrderPlaced, OrderRefunded
from servicekit.consumer import BatchSubscription, EventMeta

__all__ = ["CONSUMED", "handle_batch", "subscription"]

CONSUMED: tuple[type[Event], ...] = (
    OrderPlaced,
    OrderCancelled,
    OrderRefunded,
    LicenseGranted,
    LicenseSuspended,
    LicenseReinstated,
    LicenseRevoked,
    LicenseExpired,
)
_LICENSES = (LicenseGranted, LicenseSuspended, LicenseReinstated, LicenseRevoked, LicenseExpired)
_ORDERS = (OrderPlaced, OrderCancelled, OrderRefunded)


async def handle_batch(
    items: Sequence[tuple[Event, EventMeta]],
    *,
    store: CatalogStore,
    on_products_changed: Callable[[], None] = lambda: None,
) -> None:
    orders: list[StockEvent] = []
    for event, meta in items:
        if isinstance(event, _LICENSES):
            license_event: LicenseEvent = event
            await apply_license_change(
                license_event, meta, store=store, on_products_changed=on_products_changed
            )
        elif isinstance(event, _ORDERS):
            orders.append(event)
    await StockBatch(store.ledger).handle(orders)


def subscription(
    store: CatalogStore, on_products_changed: Callable[[], None] = lambda: None
) -> BatchSubscription:
    async def handle(items: Sequence[tuple[Event, EventMeta]]) -> None:
        await handle_batch(items, store=store, on_products_changed=on_products_changed)

    return BatchSubscription(CONSUMED, handle)
