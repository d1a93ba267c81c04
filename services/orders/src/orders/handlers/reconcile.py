"""Reconciliation: the provider is asked (`retrieve`) about every payment that
has waited for its verdict longer than `ctx.reconcile_after`, so a lost or
late webhook never strands a payment. The payments come from a bounded
pending set kept by `_id` (payment_checks), at start-up and periodically.

A verdict is applied exactly as the webhook applies it (`apply_verdict`,
shared with the expiry sweep): whichever of webhook and reconciliation
writes first settles the payment; the other's rev-checked write is refused,
and on reading again it finds the payment settled (a duplicate). So one
`order.paid` whatever the order of arrival. A capture for an order that is
no longer awaiting payment is refunded at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from orders.domain import OPEN_PAYMENT, Order, Payment, SettleOutcome
from orders.handlers.context import Context
from orders.payment_checks import parse_entry
from orders.payments import ProviderCharge

__all__ = ["apply_verdict", "provider_verdicts", "reconcile_payments"]

log = logging.getLogger(__name__)


async def provider_verdicts(ctx: Context, payments: Sequence[Payment]) -> dict[str, ProviderCharge]:
    """payment id -> what the provider holds for it (absent: nothing): by
    reference (`retrieve`) where one came back, else by our payment id."""
    with_ref = {p.provider_ref: p.payment_id for p in payments if p.provider_ref}
    without = [p.payment_id for p in payments if not p.provider_ref]
    by_ref, by_payment = await asyncio.gather(
        ctx.provider.retrieve_many(list(with_ref)) if with_ref else _nothing(),
        ctx.provider.lookup(without) if without else _nothing(),
    )
    found = {with_ref[ref]: charge for ref, charge in by_ref.items() if ref in with_ref}
    found.update(by_payment)
    return found


async def _nothing() -> dict[str, ProviderCharge]:
    return {}


async def apply_verdict(
    ctx: Context,
    order: Order,
    payment: Payment,
    charge: ProviderCharge | None,
    *,
    via: str,
    at: datetime,
) -> SettleOutcome | None:
    """Apply what the provider said about `payment` to `order` (not saved).
    None: no verdict yet (still processing, or too young to call it unknown)."""
    if charge is None:
        if _unknown_by(ctx, payment, at):
            order.payment_unknown_to_provider(payment.payment_id, at=at)
        return None
    if charge.status == "processing":
        return None
    outcome = order.settle_payment(
        payment.payment_id,
        succeeded=charge.status == "approved",
        amount_fen=charge.amount_fen,
        provider_ref=charge.provider_ref,
        at=at,
        failure_reason=charge.failure_reason,
        via=via,
    )
    if outcome == "reverse":
        await reverse_capture(ctx, order, payment.payment_id, charge.provider_ref, at=at)
    return outcome


async def reverse_capture(
    ctx: Context, order: Order, payment_id: str, provider_ref: str, *, at: datetime
) -> None:
    """Refund a capture that came for an order no longer awaiting payment (its
    own key: a retry refunds once), recorded on the payment."""
    payment = order.payment(payment_id)
    refund_ref = await ctx.provider.refund(
        provider_ref=provider_ref,
        amount_fen=payment.amount_fen,
        idempotency_key=f"reverse:{payment_id}",
    )
    order.record_reversal(payment_id, refund_ref=refund_ref, at=at)
    log.warning(
        "payment %s captured after the order was %s: refunded (%s)",
        payment_id,
        order.status,
        refund_ref,
        extra={"order_id": order.order_id},
    )


async def reconcile_payments(*, ctx: Context, batch: int = 100) -> int:
    """One round over the payment checks due by now: their orders by `$in`,
    the provider asked about the payments old enough (one `retrieve_many`),
    the verdicts applied and the changed orders saved in one bulk write.
    Returns how many payments got a verdict this round."""
    now = ctx.clock()
    # entries are filed by the payment's own minute: due once that is old enough
    buckets = await ctx.orders.due_for_check(now - ctx.reconcile_after, limit=batch)
    if not buckets:
        return 0
    wanted = [parse_entry(e) for b in buckets for e in b.ids]
    orders = await ctx.orders.get_many(list(dict.fromkeys(oid for oid, _ in wanted)))
    old_enough = now - ctx.reconcile_after
    asking: dict[str, tuple[Order, Payment]] = {}
    for order_id, payment_id in wanted:
        order = orders.get(order_id)
        payment = _payment(order, payment_id)
        if order is not None and payment is not None and payment.status in OPEN_PAYMENT:
            if payment.created_at <= old_enough:
                asking[payment_id] = (order, payment)
    verdicts = await provider_verdicts(ctx, [p for _, p in asking.values()])
    decided: set[str] = set()
    for payment_id, (order, payment) in asking.items():
        outcome = await apply_verdict(
            ctx, order, payment, verdicts.get(payment_id), via="reconciliation", at=now
        )
        if outcome is not None or (payment_id not in verdicts and _unknown_by(ctx, payment, now)):
            decided.add(payment_id)  # settled, or the provider never took it
    changed = [o for o in orders.values() if o.changed]
    landed = await ctx.orders.save_many(changed) if changed else 0
    if landed != len(changed):
        # which ones landed is unknown: keep them all, the next round reads
        # them again (a verdict that landed is then a duplicate)
        decided -= {p.payment_id for o in changed for p in o.payments}
    for bucket in buckets:
        handled = []
        for value in bucket.ids:
            order_id, payment_id = parse_entry(value)
            payment = _payment(orders.get(order_id), payment_id)
            if payment is None:
                if bucket.closed:  # its payment never landed
                    handled.append(value)
                continue
            settled_before = payment.status not in OPEN_PAYMENT and payment_id not in asking
            if payment_id in decided or settled_before:
                handled.append(value)
        await ctx.orders.settle_check(bucket, handled)
    return len([p for p in decided if p in verdicts])


def _unknown_by(ctx: Context, payment: Payment, at: datetime) -> bool:
    """Whether a payment the provider has no record of is old enough to say it
    never reached the provider (its charge call cannot still be under way)."""
    waited = max(ctx.reconcile_after, timedelta(seconds=ctx.provider_timeout))
    return payment.created_at <= at - waited


def _payment(order: Order | None, payment_id: str) -> Payment | None:
    if order is None:
        return None
    return next((p for p in order.payments if p.payment_id == payment_id), None)
