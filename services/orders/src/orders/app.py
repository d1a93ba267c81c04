"""Wiring: the orders service's routes, collections, handlers and lifespan."""

from fastapi import FastAPI

from orders.config import Settings
from servicekit.app import ServiceSpec, create_service_app

__all__ = ["create_app"]

SPEC = ServiceSpec(title="relic-rebirth orders")


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings or Settings())
