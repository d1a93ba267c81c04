"""Dependency aliases for the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from analytics.config import Settings
from analytics.overview import KafkaMonitor
from analytics.replays import Replays
from analytics.store import ProjectionState, ProjectionStore
from servicekit.app import Runtime

__all__ = ["ActiveStore", "AnalyticsSettings", "Monitor", "ReplayRunner", "State"]


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _state(request: Request) -> ProjectionState:
    return ProjectionState(_runtime(request).db)


async def _active_store(request: Request) -> ProjectionStore:
    db = _runtime(request).db
    version = await ProjectionState(db).active_version()
    return ProjectionStore(db, version, blocks=request.app.state.block_cache)


def _monitor(request: Request) -> KafkaMonitor:
    monitor: KafkaMonitor = request.app.state.kafka_monitor
    return monitor


def _replays(request: Request) -> Replays:
    replays: Replays = request.app.state.replays
    return replays


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


ActiveStore = Annotated[ProjectionStore, Depends(_active_store)]
State = Annotated[ProjectionState, Depends(_state)]
Monitor = Annotated[KafkaMonitor, Depends(_monitor)]
ReplayRunner = Annotated[Replays, Depends(_replays)]
AnalyticsSettings = Annotated[Settings, Depends(_settings)]
