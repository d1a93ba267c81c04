"""The orders domain: the order aggregate and its state machine, money rules,
carts and access rules.

Pure: the standard library, the event contracts and the service's own error
tree (which itself imports nothing with I/O). The aggregate records the events
of each change in `order.events`; the store writes them in the same
single-document update as the change (the outbox), nobody publishes here.

    PENDING ──stock reserved──▶ CONFIRMED ──captured──▶ PAID ──all lines──▶ FULFILLED
       │                          │                      │                    │
       └─stock rejected─▶ REJECTED └─expired/cancelled─▶ CANCELLED            │
                                                         └──full refund──▶ REFUNDED ◀┘
"""

from orders.domain.access import access_of, can_fulfil_line
from orders.domain.cart import Cart, CartLine
from orders.domain.order import Order
from orders.domain.values import (
    ALLOWED,
    MAX_LINE_QUANTITY,
    OPEN_PAYMENT,
    REFUNDABLE,
    Access,
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
    Viewer,
)

__all__ = [
    "ALLOWED",
    "MAX_LINE_QUANTITY",
    "OPEN_PAYMENT",
    "REFUNDABLE",
    "Access",
    "Cart",
    "CartLine",
    "Customer",
    "Line",
    "LineStatus",
    "Order",
    "OrderStatus",
    "Payment",
    "PaymentStatus",
    "PendingEvent",
    "Product",
    "Refund",
    "RefundedLine",
    "SettleOutcome",
    "Viewer",
    "access_of",
    "can_fulfil_line",
]
