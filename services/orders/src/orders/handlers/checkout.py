"""Carts, checkout under an Idempotency-Key, and reading orders."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from orders.domain import (
    Access,
    Cart,
    Customer,
    Order,
    OrderStatus,
    Product,
    Viewer,
    access_of,
)
from orders.errors import (
    CartClosed,
    CartNotFound,
    ConcurrentUpdate,
    EmptyOrder,
    IdempotencyKeyReused,
    NotAllowed,
    OrderNotFound,
    ProductNotOrderable,
)
from orders.handlers.context import (
    Context,
    new_id,
    require_access,
)
from orders.order_lists import Scope, decode_cursor, encode_cursor
from orders.store import IdempotencyKeyTaken

__all__ = [
    "OrderList",
    "PlaceOrder",
    "order_id_for",
    "cart_products",
    "create_cart",
    "get_cart",
    "get_order",
    "list_orders",
    "place_order",
    "remove_cart_line",
    "set_cart_line",
]


# --- carts -------------------------------------------------------------------------


def _cart_owner(viewer: Viewer) -> str | None:
    if viewer.role == "tourist":
        return viewer.subject
    if viewer.role == "guest":
        return None
    raise NotAllowed("carts are for tourists and guests")


async def create_cart(*, ctx: Context, viewer: Viewer) -> Cart:
    now = ctx.clock()
    cart = Cart(new_id("cart"), _cart_owner(viewer), [], now, now)
    await ctx.carts.insert(cart)
    return cart


async def get_cart(*, ctx: Context, cart_id: str, viewer: Viewer) -> Cart:
    cart = await ctx.carts.get(cart_id)
    # a guest cart's id is its secret; a tourist's cart is only its owner's
    if cart is None or (cart.owner is not None and cart.owner != viewer.subject):
        raise CartNotFound(cart_id)
    return cart


async def _change_cart(
    ctx: Context, cart_id: str, viewer: Viewer, change: Callable[[Cart], None]
) -> Cart:
    for _ in range(10):
        cart = await get_cart(ctx=ctx, cart_id=cart_id, viewer=viewer)
        if not cart.open:
            raise CartClosed(cart_id)
        change(cart)
        cart.updated_at = ctx.clock()
        if await ctx.carts.save(cart):
            return cart
    raise ConcurrentUpdate(f"cart {cart_id}")


async def set_cart_line(
    *, ctx: Context, cart_id: str, viewer: Viewer, product_id: str, quantity: int
) -> Cart:
    product = await ctx.products.get(product_id)
    return await _change_cart(
        ctx, cart_id, viewer, lambda cart: cart.set_quantity(product, product_id, quantity)
    )


async def remove_cart_line(*, ctx: Context, cart_id: str, viewer: Viewer, product_id: str) -> Cart:
    return await _change_cart(ctx, cart_id, viewer, lambda cart: cart.remove(product_id))


async def cart_products(*, ctx: Context, cart: Cart) -> dict[str, Product]:
    return await ctx.products.get_many([line.product_id for line in cart.lines])


# --- checkout ----------------------------------------------------------------------


@dataclass(frozen=True)
class PlaceOrder:
    idempotency_key: str
    fingerprint: str
    lines: Sequence[tuple[str, int]] | None  # (product id, quantity), or
    cart_id: str | None  # a cart to check out
    email: str | None


def _customer(viewer: Viewer, email: str | None) -> Customer:
    if viewer.role == "tourist" and viewer.subject:
        return Customer("tourist", viewer.subject, email)
    if viewer.role == "guest":
        if not email:
            raise NotAllowed("guest checkout needs an email address (or a tourist token)")
        return Customer("guest", email.strip().lower(), email.strip())
    raise NotAllowed("only tourists and guests place orders")


async def place_order(*, ctx: Context, viewer: Viewer, command: PlaceOrder) -> tuple[Order, bool]:
    """Returns the order and whether it was created now (False: a retry of the
    same request under the same Idempotency-Key).

    No read first: the insert itself tells a retry (the order's id is derived
    from the key, so it collides), and only then is the earlier order read.
    A retry thus costs its own list entries and marker (skipped by readers,
    dropped by the relay); a first attempt, the common case, one read less."""
    customer = _customer(viewer, command.email)
    scoped_key = f"{customer.kind}:{customer.id}:{command.idempotency_key}"
    order_id = order_id_for(scoped_key)

    cart: Cart | None = None
    if command.cart_id is not None:
        cart = await get_cart(ctx=ctx, cart_id=command.cart_id, viewer=viewer)
        if not cart.open:
            if cart.order_id == order_id:  # this very checkout, retried
                return await _earlier(ctx, order_id, scoped_key, command)
            raise CartClosed(cart.cart_id)
        wanted = [(line.product_id, line.quantity) for line in cart.lines]
    else:
        wanted = list(command.lines or [])
    if not wanted:
        raise EmptyOrder()
    products = await ctx.products.get_many([product_id for product_id, _ in wanted])
    try:
        order = Order.place(
            order_id=order_id,
            customer=customer,
            items=[(products.get(pid), pid, quantity) for pid, quantity in wanted],
            at=ctx.clock(),
            order_token=secrets.token_urlsafe(24),
            idempotency_key=scoped_key,
            fingerprint=command.fingerprint,
        )
    except ProductNotOrderable:  # no longer on sale: a retry still gets its order
        if (earlier := await ctx.orders.get(order_id)) is not None:
            return _replay(earlier, scoped_key, command), False
        raise
    try:
        await ctx.orders.insert(order)
    except IdempotencyKeyTaken:  # a retry, or the same key raced us and won
        return await _earlier(ctx, order_id, scoped_key, command)
    if cart is not None:
        cart.order_id = order.order_id
        cart.updated_at = ctx.clock()
        await ctx.carts.save(cart)  # a lost race leaves an open cart, nothing worse
    return order, True


async def _earlier(
    ctx: Context, order_id: str, scoped_key: str, command: PlaceOrder
) -> tuple[Order, bool]:
    earlier = await ctx.orders.get(order_id)
    if earlier is None:
        raise ConcurrentUpdate("idempotency key")
    return _replay(earlier, scoped_key, command), False


def order_id_for(scoped_key: str) -> str:
    """The order a (customer, Idempotency-Key) pair places: deriving the id
    makes the retry lookup and the duplicate check a primary-key operation
    (FerretDB 1.24 scans the whole collection for any other field)."""
    return "ord-" + hashlib.sha256(scoped_key.encode()).hexdigest()[:32]


def _replay(earlier: Order, scoped_key: str, command: PlaceOrder) -> Order:
    if earlier.idempotency_key != scoped_key or earlier.fingerprint != command.fingerprint:
        raise IdempotencyKeyReused(command.idempotency_key)
    return earlier


# --- reading -----------------------------------------------------------------------


async def get_order(*, ctx: Context, order_id: str, viewer: Viewer) -> tuple[Order, Access]:
    order = await ctx.orders.get(order_id)
    if order is None:
        raise OrderNotFound(order_id)
    return order, require_access(order, viewer, full=False)


@dataclass(frozen=True)
class OrderList:
    """A page of orders the viewer may see; `next_cursor` continues it (None: the end)."""

    items: list[tuple[Order, Access]]
    next_cursor: str | None


def _scope(viewer: Viewer) -> Scope:
    if viewer.role == "operator":
        return Scope("all")
    if viewer.role == "tourist" and viewer.subject:
        return Scope("tourist", viewer.subject)
    if viewer.role == "licensee" and viewer.licensee_id:
        return Scope("licensee", viewer.licensee_id)
    raise NotAllowed("listing orders needs a tourist, licensee or operator token")


async def list_orders(
    *,
    ctx: Context,
    viewer: Viewer,
    status: OrderStatus | None,
    limit: int,
    cursor: str | None = None,
    offset: int = 0,
) -> OrderList:
    """Newest first, from the viewer's list buckets (order_lists). `offset`
    is kept for older clients: it walks past that many orders, so its cost
    grows with it; `cursor` does not."""
    scope = _scope(viewer)
    before = decode_cursor(cursor) if cursor else None
    found = await ctx.orders.page(
        scope, status=status, limit=limit, before=before, skip=0 if cursor else offset
    )
    items = [(o, access_of(o, viewer)) for o in found.orders]
    return OrderList(
        [(o, a) for o, a in items if a is not Access.NONE],
        encode_cursor(found.next) if found.next else None,
    )
