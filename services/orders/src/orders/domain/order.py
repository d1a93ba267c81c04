"""The order aggregate. It records the events of each change in
`order.events`; the store writes them in the same single-document update as
the change (the outbox). Nobody publishes from here.

Built in layers, one concern each: the state and its derived values
(order_state), payments (order_payments), refunds (order_refunds) and
fulfilment (order_fulfilment); here, placing an order and the saga."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from contracts.catalog import StockRejection
from contracts.orders import (
    OrderCancelled,
    OrderConfirmed,
    OrderPlaced,
    OrderRejected,
    RejectionReason,
)
from orders.domain.order_payments import OrderPayments
from orders.domain.order_refunds import OrderRefunds
from orders.domain.values import (
    Customer,
    Line,
    OrderStatus,
    Product,
)
from orders.errors import (
    EmptyOrder,
    IllegalTransition,
    PaymentInProgress,
    ProductNotOrderable,
)

__all__ = [
    "Order",
]


@dataclass
class Order(OrderPayments, OrderRefunds):
    # --- placing ----------------------------------------------------------

    @classmethod
    def place(
        cls,
        *,
        order_id: str,
        customer: Customer,
        items: Sequence[tuple[Product | None, str, int]],
        at: datetime,
        order_token: str,
        idempotency_key: str,
        fingerprint: str,
    ) -> Order:
        """`items` are (replica product or None when unknown, product id, quantity)."""
        if not items:
            raise EmptyOrder()
        merged: dict[str, int] = {}
        products: dict[str, Product] = {}
        refused: list[str] = []
        for product, product_id, quantity in items:
            if product is None or not product.orderable:
                refused.append(product_id)
                continue
            merged[product_id] = merged.get(product_id, 0) + quantity
            products[product_id] = product
        if refused:
            raise ProductNotOrderable(sorted(set(refused)))
        lines = []
        for n, (product_id, quantity) in enumerate(merged.items(), start=1):
            product = products[product_id]
            lines.append(
                Line(
                    line_id=f"{order_id}-{n}",
                    product_id=product_id,
                    sku=product.sku,
                    title_en=product.title_en,
                    quantity=quantity,
                    unit_price_fen=product.price_fen,
                    license_id=product.license_id,
                    licensee_id=product.licensee_id,
                    relic_ids=product.relic_ids,
                    museum_id=product.museum_ids[0] if product.museum_ids else None,
                )
            )
        order = cls(
            order_id=order_id,
            customer=customer,
            lines=lines,
            status=OrderStatus.PENDING,
            placed_at=at,
            order_token=order_token,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
        )
        order._record(
            OrderPlaced(
                order_id=order_id,
                customer_id=customer.id,
                lines=order.contract_lines(),
                total_fen=order.total_fen,
                placed_at=at,
            ),
            "placed",
        )
        return order

    # --- the saga ------------------------------------------------------------

    def confirm(self, *, at: datetime, payment_window: timedelta) -> None:
        """Catalog reserved the stock: the order awaits payment until the window closes."""
        self._move(OrderStatus.CONFIRMED, "confirm")
        self.confirmed_at = at
        self.payment_due_at = at + payment_window
        self._record(
            OrderConfirmed(order_id=self.order_id, confirmed_at=at, lines=self.contract_lines()),
            "confirmed",
        )

    def reject(self, *, at: datetime, rejections: Sequence[StockRejection]) -> None:
        self._move(OrderStatus.REJECTED, "reject")
        self.closed_at = at
        self.rejection_reasons = [
            RejectionReason(
                product_id=r.product_id,
                reason=r.reason,
                requested=r.requested,
                available=r.available,
            )
            for r in rejections
        ]
        self._record(
            OrderRejected(
                order_id=self.order_id,
                reasons=self.rejection_reasons,
                rejected_at=at,
                lines=self.contract_lines(),
            ),
            "rejected",
        )

    def expire(self, *, at: datetime) -> None:
        """Confirmed but unpaid past the window: cancel and let catalog release the stock."""
        if self.status is not OrderStatus.CONFIRMED or (
            self.payment_due_at is not None and self.payment_due_at > at
        ):
            raise IllegalTransition(self.order_id, self.status, "expire")
        self._cancel(at=at, reason="payment_expired")

    def cancel(self, *, at: datetime) -> None:
        """The customer gives up before paying (only once stock is reserved)."""
        if self.status is OrderStatus.CONFIRMED and (pending := self.open_payment()):
            raise PaymentInProgress(self.order_id, pending.payment_id)
        self._cancel(at=at, reason="customer_cancelled")

    def _cancel(
        self, *, at: datetime, reason: Literal["payment_expired", "customer_cancelled"]
    ) -> None:
        self._move(OrderStatus.CANCELLED, "cancel")
        self.closed_at = at
        self.cancel_reason = reason
        self._record(
            OrderCancelled(
                order_id=self.order_id,
                reason=reason,
                lines=self.contract_lines(),
                stock_was_reserved=True,  # only CONFIRMED orders can be cancelled
                cancelled_at=at,
            ),
            "cancelled",
        )
