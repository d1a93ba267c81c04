"""Wiring: the catalog service's routes, collections, handlers and lifespan."""

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, cast

from fastapi import FastAPI

from catalog import api, handlers, reservations, store
from catalog.config import Settings
from catalog.search_index import SearchIndex
from contracts.ip import (
    LicenseExpired,
    LicenseGranted,
    LicenseReinstated,
    LicenseRevoked,
    LicenseSuspended,
)
from contracts.orders import OrderCancelled, OrderPlaced, OrderRefunded
from servicekit.app import Runtime, ServiceSpec, create_service_app
from servicekit.consumer import Handler, HandlerRegistry

__all__ = ["create_app"]


def _handlers(runtime: Runtime, index: SearchIndex) -> HandlerRegistry:
    catalog = store.CatalogStore(runtime.db)

    def bound(use_case: Callable[..., Awaitable[None]], **extra: Any) -> Handler:
        # each use case takes the contract it is registered for below
        return cast(Handler, partial(use_case, store=catalog, **extra))

    # license changes change what is visible: this process's searches wait for
    # them; stock moves only refresh the index in the background (<= 1 s)
    license_change = bound(handlers.apply_license_change, on_products_changed=index.invalidate)
    return {
        OrderPlaced: [bound(reservations.reserve_stock)],
        OrderCancelled: [bound(reservations.release_stock)],
        OrderRefunded: [bound(reservations.restock_refund)],
        LicenseGranted: [license_change],
        LicenseSuspended: [license_change],
        LicenseReinstated: [license_change],
        LicenseRevoked: [license_change],
        LicenseExpired: [license_change],
    }


async def _setup(runtime: Runtime) -> None:
    await store.ensure_indexes(runtime.db)


def create_app(settings: Settings | None = None) -> FastAPI:
    index = SearchIndex()
    spec = ServiceSpec(
        title="relic-rebirth catalog",
        routers=[api.router],
        outbox_collections=store.OUTBOX_COLLECTIONS,
        handlers=lambda runtime: _handlers(runtime, index),
        setup=_setup,
    )
    app = create_service_app(spec, settings or Settings())
    app.state.search_index = index
    return app
