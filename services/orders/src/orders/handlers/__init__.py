"""Use cases: commands from the API and events from Kafka, one module per
concern; everything is re-exported here."""

from orders.handlers.aftersale import (
    cancel_order,
    expire_due_orders,
    fulfil_line,
    refund_order,
    ship_line,
)
from orders.handlers.checkout import (
    OrderList,
    PlaceOrder,
    cart_products,
    create_cart,
    get_cart,
    get_order,
    list_orders,
    place_order,
    remove_cart_line,
    set_cart_line,
)
from orders.handlers.context import (
    Clock,
    Context,
    change_order,
    fingerprint,
    new_id,
    require_access,
    utcnow,
)
from orders.handlers.events import (
    CONSUMED,
    apply_product,
    confirm_order,
    get_product,
    handle_batch,
    reject_order,
    subscription,
)
from orders.handlers.payments import settle_payment, start_payment
from orders.handlers.reconcile import apply_verdict, provider_verdicts, reconcile_payments

__all__ = [
    "CONSUMED",
    "Clock",
    "Context",
    "OrderList",
    "PlaceOrder",
    "apply_product",
    "apply_verdict",
    "cancel_order",
    "cart_products",
    "change_order",
    "confirm_order",
    "create_cart",
    "expire_due_orders",
    "fingerprint",
    "fulfil_line",
    "get_cart",
    "get_order",
    "get_product",
    "handle_batch",
    "list_orders",
    "new_id",
    "place_order",
    "provider_verdicts",
    "reconcile_payments",
    "refund_order",
    "reject_order",
    "remove_cart_line",
    "require_access",
    "set_cart_line",
    "settle_payment",
    "ship_line",
    "start_payment",
    "subscription",
    "utcnow",
]
