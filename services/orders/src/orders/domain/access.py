"""Who may see and touch an order."""

from __future__ import annotations

import hmac

from orders.domain.order import Order
from orders.domain.values import (
    Access,
    Line,
    Viewer,
)

__all__ = [
    "access_of",
    "can_fulfil_line",
]


def access_of(order: Order, viewer: Viewer) -> Access:
    """Operators and the customer see everything, a licensee the lines of its
    own products, anyone holding the order token (a guest) the whole order."""
    if viewer.role == "operator":
        return Access.FULL
    if (
        viewer.role == "tourist"
        and order.customer.kind == "tourist"
        and viewer.subject == order.customer.id
    ):
        return Access.FULL
    if viewer.order_token is not None and hmac.compare_digest(
        viewer.order_token.encode(), order.order_token.encode()
    ):
        return Access.FULL
    if viewer.role == "licensee" and viewer.licensee_id in order.licensee_ids:
        return Access.LINES
    return Access.NONE


def can_fulfil_line(line: Line, viewer: Viewer) -> bool:
    return viewer.role == "operator" or (
        viewer.role == "licensee"
        and viewer.licensee_id is not None
        and viewer.licensee_id == line.licensee_id
    )
