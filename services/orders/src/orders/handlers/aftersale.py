"""After payment: refunds, cancellation, fulfilment, and the expiry of
unpaid orders."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from orders.domain import (
    Order,
    OrderStatus,
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
from orders.handlers.reconcile import apply_verdict, provider_verdicts

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
    """Cancel confirmed orders whose payment window closed, found through the
    expiry queue (expiry_queue): the minutes due by now, their orders by `_id`.
    An order with a payment still awaiting its verdict is reconciled first (the
    provider asked, one `retrieve_many` for the round): an approved payment
    pays it instead, a declined one is recorded; one still processing does not
    hold the cancellation back, and if it is approved later, the capture is
    refunded (handlers.reconcile). Safe on several replicas at once: each
    cancellation is a rev-checked write, and the loser of a race (another
    sweeper, a capture) keeps the entry for the next round. Returns how many
    orders this call cancelled."""
    now = ctx.clock()
    buckets = await ctx.orders.due_for_expiry(now, limit=batch)
    orders = await ctx.orders.get_many([oid for b in buckets for oid in b.order_ids])
    await _reconcile_before_expiry(ctx, list(orders.values()), now)
    expired = 0
    for bucket in buckets:
        handled: list[str] = []
        for order_id in bucket.order_ids:
            order = orders.get(order_id)
            if order is not None and order.status is OrderStatus.PAID and order.changed:
                # reconciled: the payment had been approved in time
                if await ctx.orders.save(order):
                    handled.append(order_id)
                continue
            if order is not None and order.status is OrderStatus.CONFIRMED:
                try:
                    order.expire(at=now)
                except IllegalTransition:
                    continue  # not due yet: later this minute
                if await ctx.orders.save(order):
                    expired += 1
                    handled.append(order_id)
                continue  # lost a race: read it again next round
            if order is not None and order.status is OrderStatus.PENDING and not bucket.closed:
                continue  # its confirmation may be landing right now
            # paid, cancelled, ... or never confirmed (a crash after the
            # entry): nothing to expire
            handled.append(order_id)
        await ctx.orders.settle_expiry(bucket, handled)
    return expired


async def _reconcile_before_expiry(ctx: Context, orders: list[Order], now: datetime) -> None:
    """Ask the provider about the open payments of the due confirmed orders and
    apply the verdicts (not saved: the sweep saves each order once)."""
    due = [
        o
        for o in orders
        if o.status is OrderStatus.CONFIRMED
        and o.payment_due_at is not None
        and o.payment_due_at <= now
        and o.open_payments()
    ]
    payments = [(o, p) for o in due for p in o.open_payments()]
    if not payments:
        return
    verdicts = await provider_verdicts(ctx, [p for _, p in payments])
    for order, payment in payments:
        if order.status is OrderStatus.CONFIRMED:  # an earlier payment may have paid it
            charge = verdicts.get(payment.payment_id)
            await apply_verdict(ctx, order, payment, charge, via="expiry", at=now)
