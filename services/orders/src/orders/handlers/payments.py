"""Payments: submit to the provider, settle by its signed webhook (or by
reconciliation, handlers.reconcile), never twice."""

from __future__ import annotations

import asyncio
import logging

from orders.domain import (
    Order,
    Payment,
    SettleOutcome,
    Viewer,
)
from orders.errors import (
    ConcurrentUpdate,
    PaymentNotFound,
)
from orders.handlers.context import (
    Context,
    change_order,
    new_id,
    require_access,
)
from orders.handlers.reconcile import reverse_capture
from orders.payments import ChargeRequest

__all__ = [
    "settle_payment",
    "start_payment",
]

log = logging.getLogger(__name__)


# --- payments ----------------------------------------------------------------------


async def start_payment(
    *,
    ctx: Context,
    order_id: str,
    viewer: Viewer,
    card_token: str,
    idempotency_key: str | None,
    webhook_url: str,
) -> tuple[Order, Payment, bool]:
    """Record the payment, then submit it to the provider. Returns whether it is
    new (False: a retry under the same Idempotency-Key)."""
    ctx.provider.check_token(card_token)
    payment_id = new_id("pay")
    # watched before it exists: reconciliation finds it whatever happens next
    await ctx.orders.watch_payment(order_id, payment_id, at=ctx.clock())

    def begin(order: Order) -> tuple[Payment, bool]:
        require_access(order, viewer)
        if idempotency_key and (earlier := order.payment_by_key(idempotency_key)):
            return earlier, False
        payment = order.start_payment(
            payment_id=payment_id,
            provider=ctx.provider.name,
            at=ctx.clock(),
            idempotency_key=idempotency_key,
        )
        return payment, True

    order, (payment, fresh) = await change_order(ctx, order_id, begin)
    if not fresh:
        return order, payment, False
    request = ChargeRequest(payment_id, order_id, payment.amount_fen, card_token, webhook_url)
    try:
        provider_ref = await asyncio.wait_for(ctx.provider.charge(request), ctx.provider_timeout)
    except TimeoutError:
        log.warning("payment provider timed out", extra={"payment_id": payment_id})
        order, _ = await change_order(
            ctx, order_id, lambda o: o.payment_timed_out(payment_id, at=ctx.clock()), current=order
        )
    else:
        order, _ = await change_order(
            ctx,
            order_id,
            lambda o: o.payment_submitted(payment_id, provider_ref=provider_ref, at=ctx.clock()),
            current=order,  # as we wrote it: no read unless someone wrote since
        )
    return order, order.payment(payment_id), True


async def settle_payment(*, ctx: Context, body: bytes, signature: str | None) -> SettleOutcome:
    """The provider's webhook: verified, then applied once. A capture that
    arrives for an order no longer awaiting payment is refunded at once."""
    event = ctx.provider.verify(body, signature)
    for _ in range(10):
        order = await ctx.orders.get(event.order_id)
        if order is None:
            raise PaymentNotFound(event.payment_id)
        outcome = order.settle_payment(
            event.payment_id,
            succeeded=event.kind == "payment.succeeded",
            amount_fen=event.amount_fen,
            provider_ref=event.provider_ref,
            at=ctx.clock(),
            failure_reason=event.failure_reason,
            via="webhook",
        )
        if outcome == "reverse":
            await reverse_capture(ctx, order, event.payment_id, event.provider_ref, at=ctx.clock())
        if not order.changed or await ctx.orders.save(order):
            log.info(
                "payment %s: %s", event.payment_id, outcome, extra={"order_id": order.order_id}
            )
            return outcome
    raise ConcurrentUpdate(f"order {event.order_id}")
