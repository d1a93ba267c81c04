"""Wiring: the catalog service's routes, collections, consumer and lifespan."""

from fastapi import FastAPI

from catalog import api_museums, api_products, api_relics, api_staff, api_stock, consumer, store
from catalog.config import Settings
from catalog.search_index import SearchIndex
from catalog.staff_directory import directory_from_settings
from servicekit.app import Runtime, ServiceSpec, create_service_app
from servicekit.consumer import BatchSubscription

__all__ = ["create_app"]


def _subscription(runtime: Runtime, index: SearchIndex) -> BatchSubscription:
    # license changes change what is visible: this process's searches wait for
    # them; stock moves only refresh the index in the background (<= 1 s)
    return consumer.subscription(store.CatalogStore(runtime.db), index.invalidate)


async def _setup(runtime: Runtime) -> None:
    await store.ensure_indexes(runtime.db)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    index = SearchIndex()
    spec = ServiceSpec(
        title="relic-rebirth catalog",
        routers=[
            api_museums.router,
            api_relics.router,
            api_products.router,
            api_stock.router,
            api_staff.router,
        ],
        outbox_collections=store.OUTBOX_COLLECTIONS,
        batch=lambda runtime: _subscription(runtime, index),
        setup=_setup,
    )
    app = create_service_app(spec, settings)
    app.state.search_index = index
    app.state.staff_directory = directory_from_settings(settings)  # None: 503
    return app
