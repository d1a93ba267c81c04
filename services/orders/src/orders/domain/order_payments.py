"""The order's payments: started, submitted, timed out, settled by the
provider's verdict, reversed when a capture arrives too late."""

from __future__ import annotations

from datetime import datetime

from contracts.orders import OrderPaid, PaymentReversed
from orders.domain.order_state import OrderState
from orders.domain.values import (
    OPEN_PAYMENT,
    OrderStatus,
    Payment,
    PaymentStatus,
    SettleOutcome,
)
from orders.errors import IllegalTransition, PaymentAmountMismatch, PaymentInProgress

__all__ = [
    "OrderPayments",
]


class OrderPayments(OrderState):
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
