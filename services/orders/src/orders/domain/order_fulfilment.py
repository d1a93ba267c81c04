"""The order's fulfilment: lines ship, then are fulfilled; the order is
fulfilled once every line not refunded is."""

from __future__ import annotations

from datetime import datetime

from contracts.orders import OrderFulfilled
from orders.domain.order_state import OrderState
from orders.domain.values import LineStatus, OrderStatus
from orders.errors import IllegalTransition

__all__ = [
    "OrderFulfilment",
]


class OrderFulfilment(OrderState):
    def ship_line(self, line_id: str, *, at: datetime) -> None:
        line = self.line(line_id)
        if self.status is not OrderStatus.PAID or line.status is not LineStatus.OPEN:
            raise IllegalTransition(self.order_id, f"{self.status}/{line.status}", "ship")
        if line.refundable_quantity == 0:
            raise IllegalTransition(self.order_id, "refunded", "ship")
        line.status = LineStatus.SHIPPED
        line.shipped_at = at
        self.changed = True

    def fulfil_line(self, line_id: str, *, at: datetime) -> None:
        line = self.line(line_id)
        if self.status is not OrderStatus.PAID or line.status is not LineStatus.SHIPPED:
            raise IllegalTransition(self.order_id, f"{self.status}/{line.status}", "fulfil")
        line.status = LineStatus.FULFILLED
        line.fulfilled_at = at
        self.changed = True
        self._fulfilled_if_done(at)

    def _fulfilled_if_done(self, at: datetime) -> None:
        if self.status is not OrderStatus.PAID:
            return
        remaining = [ln for ln in self.lines if ln.refundable_quantity > 0]
        if remaining and all(ln.status is LineStatus.FULFILLED for ln in remaining):
            self._move(OrderStatus.FULFILLED, "fulfil")
            self.fulfilled_at = at
            self._record(
                OrderFulfilled(
                    order_id=self.order_id, fulfilled_at=at, lines=self.contract_lines()
                ),
                "fulfilled",
            )
