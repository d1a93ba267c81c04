"""The order aggregate's state: its fields, the values derived from them and
the two moves every change goes through (`_move` checks the state machine,
`_record` keeps an event for the outbox). The behaviour lives in the classes
that build `Order` on top of it (order_payments, order_refunds,
order_fulfilment, order)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from contracts import Event
from contracts.orders import OrderLine, RejectionReason
from orders.domain.values import (
    ALLOWED,
    OPEN_PAYMENT,
    Customer,
    Line,
    OrderStatus,
    Payment,
    PaymentStatus,
    PendingEvent,
    Refund,
)
from orders.errors import IllegalTransition, LineNotFound, PaymentNotFound

__all__ = [
    "OrderState",
]


@dataclass
class OrderState:
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
