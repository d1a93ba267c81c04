"""Events published by the orders service.

Every order event carries its lines in full (product, SKU, quantity, prices,
license, licensee, relics, museum; refunds their refunded part of each line),
so ip and analytics need no lookup.
"""

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.base import Event

__all__ = [
    "OrderCancelled",
    "OrderConfirmed",
    "OrderFulfilled",
    "OrderLine",
    "OrderPaid",
    "OrderPlaced",
    "OrderRefunded",
    "OrderRejected",
    "PaymentReversed",
    "RefundLine",
    "RejectionReason",
]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OrderLine(_Part):
    line_id: str
    product_id: str
    sku: str
    quantity: int = Field(gt=0)
    unit_price_fen: int = Field(gt=0)
    line_total_fen: int = Field(gt=0)
    license_id: str | None
    licensee_id: str | None
    relic_ids: list[str]
    museum_id: str | None  # the first (owning) museum of the product


class RejectionReason(_Part):
    product_id: str
    reason: str
    requested: int
    available: int


class RefundLine(_Part):
    line_id: str
    product_id: str
    sku: str
    quantity: int = Field(gt=0)
    amount_fen: int = Field(gt=0)
    license_id: str | None
    licensee_id: str | None
    relic_ids: list[str]
    museum_id: str | None


class _OrderEvent(Event):
    TOPIC: ClassVar[str] = "orders.orders"
    KEY_FIELD: ClassVar[str] = "order_id"
    order_id: str


class OrderPlaced(_OrderEvent):
    """A tourist placed an order (PENDING); catalog reserves its stock."""

    TYPE: ClassVar[str] = "rebirth.orders.order.placed.v1"
    customer_id: str  # tourist subject or guest email
    lines: list[OrderLine]
    total_fen: int
    placed_at: datetime


class OrderConfirmed(_OrderEvent):
    """Stock is reserved; the order awaits payment."""

    TYPE: ClassVar[str] = "rebirth.orders.order.confirmed.v1"
    confirmed_at: datetime
    lines: list[OrderLine] = Field(default_factory=list)  # added; empty from older producers


class OrderRejected(_OrderEvent):
    """Stock could not be reserved."""

    TYPE: ClassVar[str] = "rebirth.orders.order.rejected.v1"
    reasons: list[RejectionReason]
    rejected_at: datetime
    lines: list[OrderLine] = Field(default_factory=list)  # added; empty from older producers


class OrderPaid(_OrderEvent):
    """The payment was captured."""

    TYPE: ClassVar[str] = "rebirth.orders.order.paid.v1"
    payment_id: str
    customer_id: str
    lines: list[OrderLine]
    total_fen: int
    paid_at: datetime


class OrderCancelled(_OrderEvent):
    """The order ended unpaid; catalog releases reserved stock."""

    TYPE: ClassVar[str] = "rebirth.orders.order.cancelled.v1"
    reason: Literal["payment_expired", "customer_cancelled", "payment_declined"]
    lines: list[OrderLine]
    stock_was_reserved: bool
    cancelled_at: datetime


class OrderRefunded(_OrderEvent):
    """Part or all of a paid order was refunded."""

    TYPE: ClassVar[str] = "rebirth.orders.order.refunded.v1"
    refund_id: str
    lines: list[RefundLine]
    amount_fen: int
    restock: bool
    refunded_at: datetime


class OrderFulfilled(_OrderEvent):
    """Every line was delivered."""

    TYPE: ClassVar[str] = "rebirth.orders.order.fulfilled.v1"
    fulfilled_at: datetime
    lines: list[OrderLine] = Field(default_factory=list)  # added; empty from older producers


class PaymentReversed(_OrderEvent):
    """A payment captured after its order was no longer awaiting one (it had
    expired or was cancelled) was refunded in full. The order was never paid:
    no royalty accrued, its stock was already released."""

    TYPE: ClassVar[str] = "rebirth.orders.payment.reversed.v1"
    payment_id: str
    amount_fen: int
    refund_ref: str
    order_status: str  # what the order was when the capture arrived
    reversed_at: datetime
