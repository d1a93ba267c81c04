"""Wiring: the analytics service's routes, collections, handlers and lifespan."""

from fastapi import FastAPI

from analytics.config import Settings
from servicekit.app import ServiceSpec, create_service_app

__all__ = ["create_app"]

SPEC = ServiceSpec(title="relic-rebirth analytics")


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings or Settings())
