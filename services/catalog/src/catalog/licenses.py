"""Use case: the license replica (events from ip), and its products
following its status and scope: a product is sellable while its license is
active and the product falls inside the license's scope (a `granted` event
with a narrower scope, e.g. fewer categories, leaves products outside it
unsellable by the same path as a suspension)."""

from collections.abc import Callable
from typing import Any

from catalog.handlers import Clock, change_product, utcnow
from catalog.licensing import LicenseChange, LicenseScope, next_license_status
from catalog.store import CatalogStore
from contracts.ip import (
    LicenseExpired,
    LicenseGranted,
    LicenseReinstated,
    LicenseRevoked,
    LicenseSuspended,
)
from servicekit.consumer import EventMeta

__all__ = ["LicenseEvent", "apply_license_change"]

LicenseEvent = (
    LicenseGranted | LicenseSuspended | LicenseReinstated | LicenseRevoked | LicenseExpired
)
_CHANGES: dict[type[Any], LicenseChange] = {
    LicenseGranted: "granted",
    LicenseSuspended: "suspended",
    LicenseReinstated: "reinstated",
    LicenseRevoked: "revoked",
    LicenseExpired: "expired",
}


async def apply_license_change(
    event: LicenseEvent,
    meta: EventMeta,
    *,
    store: CatalogStore,
    on_products_changed: Callable[[], None] = lambda: None,
    now: Clock = utcnow,
) -> None:
    """Keep the license replica, then bring its products in line with it.

    The products follow the replica, not the event, so a redelivery after a
    crash half-way finishes the job; each product change is conditional."""
    current = await store.license(event.license_id)
    status = next_license_status(current.status if current else None, _CHANGES[type(event)])
    await store.record_license(
        meta,
        license_id=event.license_id,
        licensee_id=event.licensee_id,
        museum_id=event.museum_id,
        status=status,
        relic_ids=list(event.relic_ids) if isinstance(event, LicenseGranted) else None,
        scope=_scope(event) if isinstance(event, LicenseGranted) else None,
    )
    license = await store.license(event.license_id)
    assert license is not None
    for product in await store.products_of_license(license.id):
        await change_product(store, product.id, lambda p: p.follow_license(license, now()))
    on_products_changed()


def _scope(event: LicenseGranted) -> LicenseScope:
    return LicenseScope(
        categories=frozenset(event.categories),
        territory=event.territory,
        channels=frozenset(event.channels),
        starts_at=event.starts_at,
        ends_at=event.ends_at,
    )
