"""Dependency aliases for the routes."""

from typing import Annotated

from fastapi import Depends, Header, Request

from orders.domain import Viewer
from orders.handlers import Context
from servicekit.auth import OptionalPrincipal

__all__ = ["Ctx", "CurrentViewer", "IdempotencyKey", "OptionalIdempotencyKey"]


def _context(request: Request) -> Context:
    context: Context = request.app.state.orders
    return context


def _viewer(
    principal: OptionalPrincipal,
    order_token: Annotated[str | None, Header(alias="X-Order-Token")] = None,
) -> Viewer:
    """No token is a guest; a guest (or anyone) may hold an order's token."""
    if principal is None:
        return Viewer(role="guest", order_token=order_token)
    return Viewer(
        role=principal.role.value,
        subject=principal.subject,
        licensee_id=principal.licensee_id,
        order_token=order_token,
    )


Ctx = Annotated[Context, Depends(_context)]
CurrentViewer = Annotated[Viewer, Depends(_viewer)]
IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=200)]
OptionalIdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
]
