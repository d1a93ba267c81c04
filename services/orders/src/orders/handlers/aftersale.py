"""After payment: refunds, cancellation, fulfilment, and the expiry of
unpaid orders."""

from __future__ import annotations

from collections.abc import Sequence

from orders.domain import (
    Order,
    Refund,
    Viewer,
    can_fulfil_line,
)
from orders.errors import (
    IllegalTransition,
    NotAllowed,
)
from orders.handlers.context import (
    Context,
    change_order,
    new_id,
    require_access,
)

__all__ = [
    "cancel_order",
    "expire_due_orders",
    "fulfil_line",
    "refund_order",
    "ship_line",
]


# --- refunds, cancellation, fulfilment -----------------------------------------------


async def refund_order(
    *,
    ctx: Context,
    order_id: str,
    viewer: Viewer,
    key: str,
    request_fingerprint: str,
    lines: Sequence[tuple[str, int]] | None,
    restock: bool,
    reason: str | None,
) -> tuple[Order, Refund, bool]:
    """Refund by line and quantity (everything left when `lines` is None).
    Recorded first, then sent to the provider under the refund's own key, so
    a retry with the same key finishes an interrupted provider call."""
    refund_id = new_id("rfd")

    def decide(order: Order) -> tuple[Refund, bool]:
        require_access(order, viewer)
        before = len(order.refunds)
        refund = order.refund(
            refund_id=refund_id,
            key=key,
            fingerprint=request_fingerprint,
            requested=lines,
            restock=restock,
            reason=reason,
            at=ctx.clock(),
        )
        return refund, len(order.refunds) > before

    order, (refund, created) = await change_order(ctx, order_id, decide)
    payment = order.captured_payment()
    if payment is not None and payment.provider_ref is not None:
        await ctx.provider.refund(
            provider_ref=payment.provider_ref,
            amount_fen=refund.amount_fen,
            idempotency_key=f"refund:{refund.refund_id}",
        )
    return order, refund, created


async def cancel_order(*, ctx: Context, order_id: str, viewer: Viewer) -> Order:
    def cancel(order: Order) -> None:
        require_access(order, viewer)
        order.cancel(at=ctx.clock())

    order, _ = await change_order(ctx, order_id, cancel)
    return order


async def _line_step(
    ctx: Context, order_id: str, line_id: str, viewer: Viewer, action: str
) -> Order:
    def step(order: Order) -> None:
        require_access(order, viewer, full=False)
        line = order.line(line_id)
        if not can_fulfil_line(line, viewer):
            raise NotAllowed("only an operator or the product's licensee may fulfil a line")
        if action == "ship":
            order.ship_line(line_id, at=ctx.clock())
        else:
            order.fulfil_line(line_id, at=ctx.clock())

    order, _ = await change_order(ctx, order_id, step)
    return order


async def ship_line(*, ctx: Context, order_id: str, line_id: str, viewer: Viewer) -> Order:
    return await _line_step(ctx, order_id, line_id, viewer, "ship")


async def fulfil_line(*, ctx: Context, order_id: str, line_id: str, viewer: Viewer) -> Order:
    return await _line_step(ctx, order_id, line_id, viewer, "fulfil")


# --- expiry --------------------------------------------------------------------------


async def expire_due_orders(*, ctx: Context, batch: int = 100) -> int:
    """Cancel confirmed orders whose payment window closed. Safe on several
    replicas at once: each cancellation is a rev-checked write, and the loser
    of a race (another sweeper, a capture) simply skips the order."""
    expired = 0
    while True:
        now = ctx.clock()
        due = await ctx.orders.due_for_expiry(now, limit=batch)
        progressed = 0
        for order in due:
            try:
                order.expire(at=now)
            except IllegalTransition:
                continue
            if await ctx.orders.save(order):
                expired += 1
                progressed += 1
        if len(due) < batch or progressed == 0:
            return expired
