"""Wiring: the orders service's routes, collections, handlers, the expiry
sweeper, payment reconciliation and the sandbox provider's webhook deliveries."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from pymongo.errors import PyMongoError

from orders import api, sandbox_api, store
from orders.config import Settings
from orders.handlers import Context, expire_due_orders, reconcile_payments, subscription
from orders.sandbox import RetryPolicy, SandboxProvider
from orders.sandbox_store import SandboxStore
from servicekit.app import Runtime, ServiceSpec, create_service_app
from servicekit.consumer import BatchSubscription

__all__ = ["create_app"]

log = logging.getLogger(__name__)


class _Wiring:
    """Builds the use-case context once the runtime (Mongo, relay) exists."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.context: Context | None = None
        self.provider: SandboxProvider | None = None

    def bind(self, runtime: Runtime) -> Context:
        if self.context is None:
            s = self.settings
            # the sandbox stands where a real provider's service would: its
            # charges and deliveries live in a database of their own, so its
            # writes never queue behind the orders' (the local store
            # serialises writes per database)
            sandbox_db = runtime.db.client[f"{runtime.db.name}_sandbox"]
            self.provider = SandboxProvider(
                secret=s.payment_webhook_secret.get_secret_value().encode(),
                store=SandboxStore(sandbox_db),
                tolerance_seconds=s.payment_webhook_tolerance_seconds,
                webhook_delay_seconds=s.sandbox_webhook_delay_seconds,
                retry=RetryPolicy(
                    base_seconds=s.sandbox_retry_base_seconds,
                    cap_seconds=s.sandbox_retry_cap_seconds,
                    give_up_after=s.sandbox_retry_for_seconds,
                ),
                poll_seconds=s.sandbox_delivery_poll_seconds,
            )
            self.context = Context(
                orders=store.OrderStore(runtime.db),
                products=store.ProductStore(runtime.db),
                carts=store.CartStore(runtime.db),
                provider=self.provider,
                payment_window=timedelta(seconds=s.payment_window_seconds),
                provider_timeout=s.payment_provider_timeout_seconds,
                reconcile_after=timedelta(seconds=s.payment_reconcile_after_seconds),
            )
        return self.context

    def subscription(self, runtime: Runtime) -> BatchSubscription:
        """The consumer: every event of a poll at once (handlers.events)."""
        return subscription(self.bind(runtime))

    async def setup(self, runtime: Runtime) -> None:
        await store.ensure_indexes(runtime.db)


async def _every(
    seconds: float, what: str, round_: Callable[[], Awaitable[int]], done: str
) -> None:
    """Run `round_` now (start-up) and then every `seconds`; every replica runs
    one, rev-checked writes keep them apart."""
    while True:
        try:
            count = await round_()
            if count:
                log.info(done, count)
        except PyMongoError as exc:  # the store is down: try again next round
            log.warning("%s failed: %s", what, exc)
        except Exception:  # a periodic job must outlive a bad round: its entries stay
            log.exception("%s failed", what)
        await asyncio.sleep(seconds)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    wiring = _Wiring(settings)
    spec = ServiceSpec(
        title="relic-rebirth orders",
        routers=[api.router, sandbox_api.router],
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
            provider = wiring.provider
            assert provider is not None  # bound above
            app.state.orders = context
            app.state.sandbox = provider
            app.state.webhook_url = settings.payment_webhook_url
            loops: list[Callable[[], Coroutine[Any, Any, None]]] = [
                lambda: _every(
                    settings.expiry_sweep_seconds,
                    "expiry sweep",
                    lambda: expire_due_orders(ctx=context),
                    "expired %s unpaid orders",
                ),
                lambda: _every(
                    settings.payment_reconcile_interval_seconds,
                    "payment reconciliation",
                    lambda: reconcile_payments(ctx=context),
                    "reconciliation settled %s payments",
                ),
                provider.run_deliveries,
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
