"""The orders service's error tree. No HTTP codes here: servicekit.problems
maps the servicekit bases to statuses (NotFound 404, Conflict 409, Invalid 422,
Unauthorized 401, Forbidden 403, Unavailable 503).

    ServiceError (servicekit.errors)
     ├── NotFound
     │    ├── OrderNotFound          no such order, or not yours to see
     │    ├── CartNotFound           no such cart, or not yours
     │    ├── ProductNotFound        not in the replica of sellable products
     │    ├── LineNotFound           no such line on the order
     │    ├── PaymentNotFound        a webhook names an unknown payment
     │    └── ChargeNotFound         the sandbox provider has no such charge
     ├── Conflict
     │    ├── IllegalTransition      the state machine forbids this step
     │    ├── PaymentInProgress      a payment is still waiting for the provider
     │    ├── RefundExceedsPaid      more than is left to refund
     │    ├── CartClosed             the cart was checked out already
     │    └── ConcurrentUpdate       lost too many optimistic-concurrency races
     ├── Invalid
     │    ├── ProductNotOrderable    retired, unlicensed or unknown products
     │    ├── IdempotencyKeyReused   the same key with a different request
     │    ├── UnknownCardToken       the sandbox does not know the card token
     │    ├── PaymentAmountMismatch  a provider confirmed another amount
     │    ├── EmptyOrder             nothing to order
     │    └── InvalidCursor          a list cursor this service did not hand out
     ├── Unauthorized
     │    └── InvalidSignature       a webhook whose signature does not verify
     ├── Unavailable
     │    └── LostRace               a consumer lost every race: retried, not dead-lettered
     └── Forbidden
          └── NotAllowed             the caller's role may not do this
"""

from servicekit.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized, Unavailable

__all__ = [
    "CartClosed",
    "CartNotFound",
    "ChargeNotFound",
    "ConcurrentUpdate",
    "EmptyOrder",
    "IdempotencyKeyReused",
    "IllegalTransition",
    "InvalidCursor",
    "InvalidSignature",
    "LineNotFound",
    "LostRace",
    "NotAllowed",
    "OrderNotFound",
    "PaymentAmountMismatch",
    "PaymentInProgress",
    "PaymentNotFound",
    "ProductNotFound",
    "ProductNotOrderable",
    "RefundExceedsPaid",
    "UnknownCardToken",
]


class OrderNotFound(NotFound):
    title = "Order not found"

    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id} does not exist", order_id=order_id)


class CartNotFound(NotFound):
    title = "Cart not found"

    def __init__(self, cart_id: str) -> None:
        super().__init__(f"cart {cart_id} does not exist", cart_id=cart_id)


class ProductNotFound(NotFound):
    title = "Product not found"

    def __init__(self, product_id: str) -> None:
        super().__init__(f"product {product_id} is not on sale", product_id=product_id)


class LineNotFound(NotFound):
    title = "Order line not found"

    def __init__(self, order_id: str, line_id: str) -> None:
        super().__init__(f"order {order_id} has no line {line_id}", line_id=line_id)


class PaymentNotFound(NotFound):
    title = "Payment not found"

    def __init__(self, payment_id: str) -> None:
        super().__init__(f"payment {payment_id} does not exist", payment_id=payment_id)


class IllegalTransition(Conflict):
    title = "Illegal order transition"

    def __init__(self, order_id: str, status: str, action: str) -> None:
        super().__init__(
            f"cannot {action} order {order_id} while it is {status}",
            order_id=order_id,
            order_status=status,  # not `status`: that is the problem's HTTP status
            action=action,
        )
        self.status = status
        self.action = action


class PaymentInProgress(Conflict):
    title = "Payment in progress"

    def __init__(self, order_id: str, payment_id: str) -> None:
        super().__init__(
            f"order {order_id} has payment {payment_id} waiting for the provider",
            payment_id=payment_id,
        )


class RefundExceedsPaid(Conflict):
    title = "Refund exceeds what was paid"

    def __init__(self, line_id: str, requested: int, refundable: int) -> None:
        super().__init__(
            f"line {line_id}: {requested} requested, only {refundable} left to refund",
            line_id=line_id,
            requested=requested,
            refundable=refundable,
        )


class CartClosed(Conflict):
    title = "Cart closed"

    def __init__(self, cart_id: str) -> None:
        super().__init__(f"cart {cart_id} was already checked out", cart_id=cart_id)


class ConcurrentUpdate(Conflict):
    title = "Concurrent update"

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} changed concurrently too often; retry")


class ProductNotOrderable(Invalid):
    title = "Product not orderable"

    def __init__(self, product_ids: list[str]) -> None:
        super().__init__(
            "some products are unknown or not on sale: " + ", ".join(product_ids),
            product_ids=product_ids,
        )


class IdempotencyKeyReused(Invalid):
    title = "Idempotency key reused"

    def __init__(self, key: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was already used with a different request",
            idempotency_key=key,
        )


class UnknownCardToken(Invalid):
    title = "Unknown card token"

    def __init__(self, token: str) -> None:
        super().__init__(f"the payment provider does not accept card token {token!r}")


class PaymentAmountMismatch(Invalid):
    title = "Payment amount mismatch"

    def __init__(self, payment_id: str, expected: int, got: int) -> None:
        super().__init__(
            f"payment {payment_id}: provider confirmed {got} fen, expected {expected}",
            payment_id=payment_id,
        )


class EmptyOrder(Invalid):
    title = "Empty order"

    def __init__(self) -> None:
        super().__init__("an order needs at least one line")


class InvalidCursor(Invalid):
    title = "Invalid cursor"

    def __init__(self, cursor: str) -> None:
        super().__init__("the cursor is not one a list page handed out", cursor=cursor[:200])


class InvalidSignature(Unauthorized):
    title = "Invalid webhook signature"

    def __init__(self, why: str) -> None:
        super().__init__(f"webhook signature rejected: {why}")


class ChargeNotFound(NotFound):
    title = "Charge not found"

    def __init__(self, provider_ref: str) -> None:
        super().__init__(f"the sandbox has no charge {provider_ref}", provider_ref=provider_ref)


class LostRace(Unavailable):
    title = "Lost a race"


class NotAllowed(Forbidden):
    title = "Not allowed"
