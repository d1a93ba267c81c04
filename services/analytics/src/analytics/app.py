"""Wiring: the analytics service's routes, projections, overview sampler and lifespan.

Analytics publishes nothing. Its consumer is not the ServiceSpec one: the
live projector runs a consumer group per projection version (see
`projector.py`), so a replay can build a new version beside the live one
and swap it in.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from analytics import api
from analytics.block_cache import BlockCache
from analytics.config import Settings
from analytics.overview import KafkaMonitor
from analytics.projector import LiveProjector
from analytics.replays import Replays
from analytics.store import ProjectionState, ProjectionStore
from servicekit.app import Runtime, ServiceSpec, create_service_app

__all__ = ["create_app"]

STATIC = Path(__file__).parent / "static"


async def _setup(runtime: Runtime) -> None:
    version = await ProjectionState(runtime.db).active_version()
    await ProjectionStore(runtime.db, version).prepare()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    projector = LiveProjector(settings)
    monitor = KafkaMonitor(
        settings.kafka_bootstrap_servers, sample_seconds=settings.overview_sample_ms / 1000
    )
    replays = Replays(settings)
    spec = ServiceSpec(
        title="relic-rebirth analytics",
        routers=[api.router],
        setup=_setup,
        background=[projector.run, monitor.run],
    )
    app = create_service_app(spec, settings)
    app.state.settings = settings
    app.state.kafka_monitor = monitor
    app.state.replays = replays
    app.state.projector = projector
    app.state.block_cache = BlockCache()  # the dashboards' museum blocks
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    inner: Callable[[Any], AbstractAsyncContextManager[Any]] = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        # stop our own loops gracefully before servicekit's shutdown waits on them
        async with inner(application) as state:
            try:
                yield state
            finally:
                await replays.stop()
                await projector.stop()
                await monitor.stop()

    app.router.lifespan_context = lifespan
    return app
