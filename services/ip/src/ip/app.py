"""Wiring: the ip service's routes, collections, handlers and lifespan."""

from fastapi import FastAPI

from ip import api, api_certs, api_ledger, store
from ip.config import Settings
from ip.handlers import batch_subscription, run_scheduler, services_of
from servicekit.app import Runtime, ServiceSpec, create_service_app

__all__ = ["SPEC", "create_app"]


async def _setup(runtime: Runtime) -> None:
    await store.ensure_indexes(runtime.db)
    # licenses granted before the scheduler's pending sets existed (a startup scan)
    await services_of(runtime).licensing.backfill_schedule()


SPEC = ServiceSpec(
    title="relic-rebirth ip",
    routers=[api.router, api_ledger.router, api_certs.router],
    outbox_collections=store.OUTBOX_COLLECTIONS,
    batch=batch_subscription,
    setup=_setup,
    background=[run_scheduler],
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings or Settings())
