"""Wiring: the ip service's routes, collections, handlers and lifespan."""

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from ip import api, api_certs, api_ledger, api_reports, store, verify_page
from ip.config import Settings
from ip.handlers import batch_subscription, run_scheduler, services_of
from ip.watch_store import WATCH_OUTBOX
from servicekit.app import Runtime, ServiceSpec, create_service_app

__all__ = ["SPEC", "create_app"]

STATIC = Path(__file__).parent / "static"


async def _setup(runtime: Runtime) -> None:
    await store.ensure_indexes(runtime.db)
    # licenses granted before the scheduler's pending sets existed (a startup scan)
    await services_of(runtime).licensing.backfill_schedule()


SPEC = ServiceSpec(
    title="relic-rebirth ip",
    routers=[
        api.router,
        api_ledger.router,
        api_certs.router,
        api_reports.router,
        verify_page.router,
    ],
    outbox_collections=[*store.OUTBOX_COLLECTIONS, *WATCH_OUTBOX],
    batch=batch_subscription,
    setup=_setup,
    background=[run_scheduler],
)


def create_app(settings: Settings | None = None) -> FastAPI:
    app = create_service_app(SPEC, settings or Settings())
    # the verify page's stylesheet (under /static/ip: the gateway may front several services)
    app.mount("/static/ip", StaticFiles(directory=STATIC), name="static")
    return app
