"""The order aggregate. It records the events of each change in
`order.events`; the store writes them in the same single-document update as
the change (the outbox). Nobody publishes from here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from contracts import Event
from contracts.catalog import StockRejection
from contracts.orders import (
    OrderCancelled,
    OrderConfirmed,
    OrderFulfilled,
    OrderLine,
    OrderPaid,
    OrderPlaced,
    OrderRefunded,
    OrderRejected,
    PaymentReversed,
    RefundLine,
    RejectionReason,
)
from orders.domain.values import (
    ALLOWED,
    OPEN_PAYMENT,
    REFUNDABLE,
    Customer,
    Line,
    LineStatus,
    OrderStatus,
    Payment,
    PaymentStatus,
    PendingEvent,
    Product,
    Refund,
    RefundedLine,
    SettleOutcome,
)
from orders.errors import (
    EmptyOrder,
    IdempotencyKeyReused,
    IllegalTransition,
    LineNotFound,
    PaymentAmountMismatch,
    PaymentInProgress,
    PaymentNotFound,
    ProductNotOrderable,
    RefundExceedsPaid,
)

__all__ = [
    "Order",
]


@dataclass
class Order:
    order_id: str
    customer: Customer
    lines: list[Line]
    status: OrderStatus
    placed_at: datetime
    order_token: str
    idempotency_key: str  # scoped: "<customer>:<key>"
    fingerprint: str  # of the request that placed it
    confirmed_at: datetime | None = None
    payment_due_at: datetime | None = None
    paid_at: datetime | None = None
    closed_at: datetime | None = None  # rejected, cancelled or fully refunded
    fulfilled_at: datetime | None = None
    rejection_reasons: list[RejectionReason] = field(default_factory=list)
    cancel_reason: str | None = None
    payments: list[Payment] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    rev: int = 0  # optimistic concurrency: every save checks and bumps it
    events: list[PendingEvent] = field(default_factory=list)  # not persisted
    changed: bool = False  # not persisted: whether there is anything to save

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

    # --- derived values -----------------------------------------------------

    @property
    def total_fen(self) -> int:
        return sum(line.line_total_fen for line in self.lines)

    @property
    def paid_fen(self) -> int:
        return sum(p.amount_fen for p in self.payments if p.status is PaymentStatus.CAPTURED)

    @property
    def refunded_fen(self) -> int:
        return sum(r.amount_fen for r in self.refunds)

    @property
    def licensee_ids(self) -> list[str]:
        return sorted({line.licensee_id for line in self.lines if line.licensee_id})

    def contract_lines(self) -> list[OrderLine]:
        return [line.contract() for line in self.lines]

    def line(self, line_id: str) -> Line:
        for line in self.lines:
            if line.line_id == line_id:
                return line
        raise LineNotFound(self.order_id, line_id)

    def payment(self, payment_id: str) -> Payment:
        for payment in self.payments:
            if payment.payment_id == payment_id:
                return payment
        raise PaymentNotFound(payment_id)

    def payment_by_key(self, key: str) -> Payment | None:
        return next((p for p in self.payments if p.idempotency_key == key), None)

    def open_payment(self) -> Payment | None:
        return next((p for p in self.payments if p.status is PaymentStatus.PENDING), None)

    def open_payments(self) -> list[Payment]:
        """Payments still waiting for the provider's verdict (pending or timed out)."""
        return [p for p in self.payments if p.status in OPEN_PAYMENT]

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

    # --- payments ------------------------------------------------------------

    def start_payment(
        self, *, payment_id: str, provider: str, at: datetime, idempotency_key: str | None
    ) -> Payment:
        if self.status is not OrderStatus.CONFIRMED:
            raise IllegalTransition(self.order_id, self.status, "pay")
        if pending := self.open_payment():
            raise PaymentInProgress(self.order_id, pending.payment_id)
        payment = Payment(
            payment_id=payment_id,
            amount_fen=self.total_fen,
            status=PaymentStatus.PENDING,
            provider=provider,
            created_at=at,
            updated_at=at,
            idempotency_key=idempotency_key,
        )
        self.payments.append(payment)
        self.changed = True
        return payment

    def payment_submitted(self, payment_id: str, *, provider_ref: str, at: datetime) -> None:
        payment = self.payment(payment_id)
        if payment.provider_ref is None:
            payment.provider_ref = provider_ref
            payment.updated_at = at
            self.changed = True

    def payment_timed_out(self, payment_id: str, *, at: datetime) -> None:
        """No answer from the provider in time; a late webhook can still settle it."""
        payment = self.payment(payment_id)
        if payment.status is PaymentStatus.PENDING:
            payment.status = PaymentStatus.TIMED_OUT
            payment.failure_reason = "provider_timeout"
            payment.updated_at = at
            self.changed = True

    def settle_payment(
        self,
        payment_id: str,
        *,
        succeeded: bool,
        amount_fen: int,
        provider_ref: str,
        at: datetime,
        failure_reason: str | None = None,
        via: str = "webhook",
    ) -> SettleOutcome:
        """The provider's verdict, by webhook or by reconciliation (`via`),
        whichever comes first. Never captures twice: a verdict on a settled
        payment is a duplicate; a success for an order no longer awaiting payment
        (already paid, cancelled) must be reversed by the caller (refund, then
        `record_reversal`)."""
        payment = self.payment(payment_id)
        if payment.status not in OPEN_PAYMENT:
            return "duplicate"
        payment.provider_ref = payment.provider_ref or provider_ref
        payment.updated_at = at
        payment.settled_by = via
        self.changed = True
        if not succeeded:
            payment.status = PaymentStatus.DECLINED
            payment.failure_reason = failure_reason or "declined"
            return "declined"
        if amount_fen != payment.amount_fen:
            raise PaymentAmountMismatch(payment_id, payment.amount_fen, amount_fen)
        if self.status is not OrderStatus.CONFIRMED:
            payment.status = PaymentStatus.REVERSED
            payment.failure_reason = f"order was {self.status} when the capture arrived"
            return "reverse"
        self._move(OrderStatus.PAID, "pay")
        payment.status = PaymentStatus.CAPTURED
        payment.failure_reason = None
        self.paid_at = at
        self._record(
            OrderPaid(
                order_id=self.order_id,
                payment_id=payment_id,
                customer_id=self.customer.id,
                lines=self.contract_lines(),
                total_fen=self.total_fen,
                paid_at=at,
            ),
            "paid",
        )
        return "captured"

    def record_reversal(self, payment_id: str, *, refund_ref: str, at: datetime) -> None:
        """The provider refunded a reversed capture: the money went back."""
        payment = self.payment(payment_id)
        if payment.status is PaymentStatus.REVERSED and payment.refund_ref is None:
            payment.refund_ref = refund_ref
            payment.updated_at = at
            self._record(
                PaymentReversed(
                    order_id=self.order_id,
                    payment_id=payment_id,
                    amount_fen=payment.amount_fen,
                    refund_ref=refund_ref,
                    order_status=self.status.value,
                    reversed_at=at,
                ),
                f"payment-reversed:{payment_id}",
            )

    def payment_unknown_to_provider(self, payment_id: str, *, at: datetime) -> None:
        """The provider has no record of a payment it should have answered long
        ago (the charge never reached it): it no longer blocks a new payment."""
        payment = self.payment(payment_id)
        if payment.status is PaymentStatus.PENDING:
            payment.status = PaymentStatus.TIMED_OUT
            payment.failure_reason = "unknown_to_provider"
            payment.updated_at = at
            self.changed = True

    def captured_payment(self) -> Payment | None:
        return next((p for p in self.payments if p.status is PaymentStatus.CAPTURED), None)

    # --- refunds -------------------------------------------------------------

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

    # --- fulfilment ----------------------------------------------------------

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

    # --- internals -------------------------------------------------------------

    def _move(self, target: OrderStatus, action: str) -> None:
        if target not in ALLOWED[self.status]:
            raise IllegalTransition(self.order_id, self.status, action)
        self.status = target
        self.changed = True

    def _record(self, event: Event, what: str) -> None:
        # each of these happens at most once per order (refunds carry their id),
        # so the event id is derived, and a retried write cannot publish twice
        self.events.append(PendingEvent(event, f"{self.order_id}:{what}"))
        self.changed = True
