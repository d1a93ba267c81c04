"""The order's refunds: lines by quantity, idempotent on the refund key; a
refund may leave the order refunded, or fulfilled (every line left is)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from contracts.orders import OrderRefunded, RefundLine
from orders.domain.order_fulfilment import OrderFulfilment
from orders.domain.values import REFUNDABLE, OrderStatus, Refund, RefundedLine
from orders.errors import IdempotencyKeyReused, IllegalTransition, RefundExceedsPaid

__all__ = [
    "OrderRefunds",
]


class OrderRefunds(OrderFulfilment):
    def refund(
        self,
        *,
        refund_id: str,
        key: str,
        fingerprint: str,
        requested: Sequence[tuple[str, int]] | None,
        restock: bool,
        reason: str | None,
        at: datetime,
    ) -> Refund:
        """Refund lines by quantity (all that is left when `requested` is None).
        The same key with the same request returns the earlier refund."""
        for earlier in self.refunds:
            if earlier.key == key:
                if earlier.fingerprint != fingerprint:
                    raise IdempotencyKeyReused(key)
                return earlier
        if self.status not in REFUNDABLE:
            raise IllegalTransition(self.order_id, self.status, "refund")
        if requested is None:
            wanted = {ln.line_id: ln.refundable_quantity for ln in self.lines}
            wanted = {line_id: q for line_id, q in wanted.items() if q > 0}
        else:
            wanted = {}
            for line_id, quantity in requested:
                self.line(line_id)  # exists
                wanted[line_id] = wanted.get(line_id, 0) + quantity
        if not wanted:
            raise RefundExceedsPaid("*", 0, 0)
        refunded: list[RefundedLine] = []
        for line_id, quantity in wanted.items():
            line = self.line(line_id)
            if quantity > line.refundable_quantity:
                raise RefundExceedsPaid(line_id, quantity, line.refundable_quantity)
            refunded.append(RefundedLine(line_id, quantity, quantity * line.unit_price_fen))
        amount = sum(r.amount_fen for r in refunded)
        if self.refunded_fen + amount > self.paid_fen:  # by construction never; checked anyway
            raise RefundExceedsPaid("*", amount, self.paid_fen - self.refunded_fen)
        for r in refunded:
            self.line(r.line_id).refunded_quantity += r.quantity
        refund = Refund(
            refund_id=refund_id,
            key=key,
            fingerprint=fingerprint,
            lines=tuple(refunded),
            amount_fen=amount,
            restock=restock,
            reason=reason,
            created_at=at,
        )
        self.refunds.append(refund)
        self._record(
            OrderRefunded(
                order_id=self.order_id,
                refund_id=refund_id,
                lines=[self._refund_line(r) for r in refunded],
                amount_fen=amount,
                restock=restock,
                refunded_at=at,
            ),
            f"refund:{refund_id}",
        )
        if self.refunded_fen == self.paid_fen:
            self._move(OrderStatus.REFUNDED, "refund")
            self.closed_at = at
        else:
            self._fulfilled_if_done(at)
        return refund

    def _refund_line(self, refunded: RefundedLine) -> RefundLine:
        line = self.line(refunded.line_id)
        return RefundLine(
            line_id=line.line_id,
            product_id=line.product_id,
            sku=line.sku,
            quantity=refunded.quantity,
            amount_fen=refunded.amount_fen,
            license_id=line.license_id,
            licensee_id=line.licensee_id,
            relic_ids=list(line.relic_ids),
            museum_id=line.museum_id,
        )
