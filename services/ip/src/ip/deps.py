"""Dependency aliases for the routes."""

from typing import Annotated

from fastapi import Depends, Request

from ip.handlers import Services, services_of

__all__ = ["Svc"]


def _services(request: Request) -> Services:
    return services_of(request.app.state.runtime)


Svc = Annotated[Services, Depends(_services)]
