"""Value objects and statuses of the orders domain: the state machine's
table, lines, payments, refunds, the replica's product, who is asking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from contracts import Event
from contracts.orders import (
    OrderLine,
)

__all__ = [
    "ALLOWED",
    "MAX_LINE_QUANTITY",
    "OPEN_PAYMENT",
    "REFUNDABLE",
    "Access",
    "Customer",
    "Line",
    "LineStatus",
    "OrderStatus",
    "Payment",
    "PaymentStatus",
    "PendingEvent",
    "Product",
    "Refund",
    "RefundedLine",
    "SettleOutcome",
    "Viewer",
]


MAX_LINE_QUANTITY = 99


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    REJECTED = "REJECTED"
    PAID = "PAID"
    FULFILLED = "FULFILLED"
    CANCELLED = "CANCELLED"
    REFUNDED = "REFUNDED"


# the whole state machine: anything else is an illegal transition
ALLOWED: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset({OrderStatus.CONFIRMED, OrderStatus.REJECTED}),
    OrderStatus.CONFIRMED: frozenset({OrderStatus.PAID, OrderStatus.CANCELLED}),
    OrderStatus.PAID: frozenset({OrderStatus.FULFILLED, OrderStatus.REFUNDED}),
    OrderStatus.FULFILLED: frozenset({OrderStatus.REFUNDED}),
    OrderStatus.REJECTED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.REFUNDED: frozenset(),
}

REFUNDABLE = frozenset({OrderStatus.PAID, OrderStatus.FULFILLED})


class PaymentStatus(StrEnum):
    PENDING = "pending"  # sent to the provider, no verdict yet
    TIMED_OUT = "timed_out"  # the provider did not answer in time; a webhook may still come
    CAPTURED = "captured"
    DECLINED = "declined"
    REVERSED = "reversed"  # captured after the order closed or was paid: refunded at once


OPEN_PAYMENT = frozenset({PaymentStatus.PENDING, PaymentStatus.TIMED_OUT})


class LineStatus(StrEnum):
    OPEN = "open"
    SHIPPED = "shipped"
    FULFILLED = "fulfilled"


SettleOutcome = Literal["captured", "declined", "duplicate", "reverse"]


@dataclass(frozen=True)
class Product:
    """The replica's view of a product (fed by catalog's product events)."""

    product_id: str
    sku: str
    title_zh: str
    title_en: str
    price_fen: int
    relic_ids: tuple[str, ...]
    museum_ids: tuple[str, ...]
    license_id: str | None
    licensee_id: str | None
    status: str
    sellable: bool
    version: int

    @property
    def orderable(self) -> bool:
        return self.status == "active" and self.sellable


@dataclass(frozen=True)
class Customer:
    kind: Literal["tourist", "guest"]
    id: str  # the tourist's subject, or the guest's email
    email: str | None = None


@dataclass(frozen=True)
class Viewer:
    """Who is asking, in domain terms (the API maps a token to this)."""

    role: Literal["tourist", "museum", "licensee", "operator", "guest"]
    subject: str | None = None
    licensee_id: str | None = None
    order_token: str | None = None


class Access(StrEnum):
    NONE = "none"
    FULL = "full"  # the customer or an operator
    LINES = "lines"  # a licensee: only the lines of its own products


@dataclass(frozen=True)
class PendingEvent:
    event: Event
    event_id: str


@dataclass
class Line:
    line_id: str
    product_id: str
    sku: str
    title_en: str
    quantity: int
    unit_price_fen: int
    license_id: str | None
    licensee_id: str | None
    relic_ids: tuple[str, ...]
    museum_id: str | None
    refunded_quantity: int = 0
    status: LineStatus = LineStatus.OPEN
    shipped_at: datetime | None = None
    fulfilled_at: datetime | None = None

    @property
    def line_total_fen(self) -> int:
        return self.quantity * self.unit_price_fen

    @property
    def refundable_quantity(self) -> int:
        return self.quantity - self.refunded_quantity

    def contract(self) -> OrderLine:
        return OrderLine(
            line_id=self.line_id,
            product_id=self.product_id,
            sku=self.sku,
            quantity=self.quantity,
            unit_price_fen=self.unit_price_fen,
            line_total_fen=self.line_total_fen,
            license_id=self.license_id,
            licensee_id=self.licensee_id,
            relic_ids=list(self.relic_ids),
            museum_id=self.museum_id,
        )


@dataclass
class Payment:
    payment_id: str
    amount_fen: int
    status: PaymentStatus
    provider: str
    created_at: datetime
    updated_at: datetime
    provider_ref: str | None = None
    idempotency_key: str | None = None
    failure_reason: str | None = None
    settled_by: str | None = None  # "webhook", "reconciliation" or "expiry": who heard first
    refund_ref: str | None = None  # a reversed capture's refund at the provider


@dataclass(frozen=True)
class RefundedLine:
    line_id: str
    quantity: int
    amount_fen: int


@dataclass(frozen=True)
class Refund:
    refund_id: str
    key: str
    fingerprint: str
    lines: tuple[RefundedLine, ...]
    amount_fen: int
    restock: bool
    reason: str | None
    created_at: datetime
