"""Wiring: the orders service's routes, collections, handlers, the expiry
sweeper and the sandbox provider's webhook deliveries."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from pymongo.errors import PyMongoError

from orders import api, store
from orders.config import Settings
from orders.handlers import Context, expire_due_orders, subscription
from orders.payments import SandboxProvider
from servicekit.app import Runtime, ServiceSpec, create_service_app
from servicekit.consumer import BatchSubscription

__all__ = ["create_app"]

log = logging.getLogger(__name__)


class _Wiring:
    """Builds the use-case context once the runtime (Mongo, relay) exists."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.provider = SandboxProvider(
            secret=settings.payment_webhook_secret.get_secret_value().encode(),
            tolerance_seconds=settings.payment_webhook_tolerance_seconds,
            webhook_delay_seconds=settings.sandbox_webhook_delay_seconds,
        )
        self.context: Context | None = None

    def bind(self, runtime: Runtime) -> Context:
        if self.context is None:
            self.context = Context(
                orders=store.OrderStore(runtime.db),
                products=store.ProductStore(runtime.db),
                carts=store.CartStore(runtime.db),
                provider=self.provider,
                payment_window=timedelta(seconds=self.settings.payment_window_seconds),
                provider_timeout=self.settings.payment_provider_timeout_seconds,
            )
        return self.context

    def subscription(self, runtime: Runtime) -> BatchSubscription:
        """The consumer: every event of a poll at once (handlers.events)."""
        return subscription(self.bind(runtime))

    async def setup(self, runtime: Runtime) -> None:
        await store.ensure_indexes(runtime.db)

    async def expire_unpaid_orders(self, context: Context) -> None:
        """The sweeper: every replica runs one; rev-checked writes keep them apart."""
        while True:
            try:
                expired = await expire_due_orders(ctx=context)
                if expired:
                    log.info("expired %s unpaid orders", expired)
            except PyMongoError as exc:  # the store is down: try again next round
                log.warning("expiry sweep failed: %s", exc)
            await asyncio.sleep(self.settings.expiry_sweep_seconds)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    wiring = _Wiring(settings)
    spec = ServiceSpec(
        title="relic-rebirth orders",
        routers=[api.router],
        batch=wiring.subscription,
        setup=wiring.setup,
        outbox_collections=["orders"],
    )
    app = create_service_app(spec, settings)
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Own loops instead of ServiceSpec.background: those are only cancelled
        # after a 10 s grace on shutdown; these stop at once.
        async with inner(app):
            context = wiring.bind(app.state.runtime)
            app.state.orders = context
            app.state.webhook_url = settings.payment_webhook_url
            loops: list[Callable[[], Coroutine[Any, Any, None]]] = [
                lambda: wiring.expire_unpaid_orders(context),
                wiring.provider.run_deliveries,
            ]
            tasks = [asyncio.create_task(loop()) for loop in loops]
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    app.router.lifespan_context = lifespan
    return app
