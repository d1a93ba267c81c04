"""HTTP routes: carts, checkout, payments and their webhook, refunds,
fulfilment, and the product replica. Thin: schemas in, use case, schemas out."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status

from orders import handlers
from orders.deps import Ctx, CurrentViewer, IdempotencyKey, OptionalIdempotencyKey
from orders.domain import (
    Cart,
    OrderStatus,
    access_of,
)
from orders.payments import SIGNATURE_HEADER
from orders.schemas import (
    CartLineRead,
    CartLineSet,
    CartRead,
    OrderCreate,
    OrderPage,
    OrderRead,
    PaymentCreate,
    PaymentRead,
    ProductRead,
    RefundCreate,
    RefundRead,
    RefundReceipt,
    WebhookAck,
)
from servicekit.ratelimit import RateLimit

__all__ = ["router"]


router = APIRouter()

# checkout and payments are what a bot would hammer: a rate per caller (config.py)
_TOO_MANY: dict[int | str, dict[str, Any]] = {
    429: {"description": "Over the caller's rate; retry after Retry-After seconds"}
}
_CHECKOUT_RATE = Depends(RateLimit("checkout", "checkout_rate"))
_PAYMENT_RATE = Depends(RateLimit("payment", "payment_rate"))


@router.get("/products/{product_id}", tags=["products"], summary="A product as orders sees it")
async def read_product(product_id: str, ctx: Ctx) -> ProductRead:
    return ProductRead.of(await handlers.get_product(ctx=ctx, product_id=product_id))


async def _cart_read(ctx: handlers.Context, cart: Cart) -> CartRead:
    products = await handlers.cart_products(ctx=ctx, cart=cart)
    lines = []
    for line in cart.lines:
        product = products.get(line.product_id)
        price = product.price_fen if product else None
        lines.append(
            CartLineRead(
                product_id=line.product_id,
                quantity=line.quantity,
                unit_price_fen=price,
                line_total_fen=price * line.quantity if price is not None else None,
                orderable=bool(product and product.orderable),
            )
        )
    return CartRead(
        cart_id=cart.cart_id,
        status="open" if cart.open else "checked_out",
        order_id=cart.order_id,
        lines=lines,
        total_fen=sum(x.line_total_fen or 0 for x in lines if x.orderable),
        updated_at=cart.updated_at,
    )


@router.post("/carts", status_code=201, tags=["carts"], summary="Open a cart (a guest gets an id)")
async def create_cart(ctx: Ctx, viewer: CurrentViewer) -> CartRead:
    return await _cart_read(ctx, await handlers.create_cart(ctx=ctx, viewer=viewer))


@router.get("/carts/{cart_id}", tags=["carts"], summary="A cart with current prices")
async def read_cart(cart_id: str, ctx: Ctx, viewer: CurrentViewer) -> CartRead:
    return await _cart_read(ctx, await handlers.get_cart(ctx=ctx, cart_id=cart_id, viewer=viewer))


@router.put(
    "/carts/{cart_id}/lines/{product_id}", tags=["carts"], summary="Add a line or change it"
)
async def set_cart_line(
    cart_id: str, product_id: str, body: CartLineSet, ctx: Ctx, viewer: CurrentViewer
) -> CartRead:
    cart = await handlers.set_cart_line(
        ctx=ctx, cart_id=cart_id, viewer=viewer, product_id=product_id, quantity=body.quantity
    )
    return await _cart_read(ctx, cart)


@router.delete("/carts/{cart_id}/lines/{product_id}", tags=["carts"], summary="Remove a line")
async def remove_cart_line(
    cart_id: str, product_id: str, ctx: Ctx, viewer: CurrentViewer
) -> CartRead:
    cart = await handlers.remove_cart_line(
        ctx=ctx, cart_id=cart_id, viewer=viewer, product_id=product_id
    )
    return await _cart_read(ctx, cart)


@router.post(
    "/orders",
    status_code=201,
    tags=["orders"],
    summary="Place an order from lines or a cart",
    responses={200: {"description": "A retry: the order this Idempotency-Key placed"}, **_TOO_MANY},
    dependencies=[_CHECKOUT_RATE],
)
async def place_order(
    body: OrderCreate,
    idempotency_key: IdempotencyKey,
    response: Response,
    ctx: Ctx,
    viewer: CurrentViewer,
) -> OrderRead:
    command = handlers.PlaceOrder(
        idempotency_key=idempotency_key,
        fingerprint=handlers.fingerprint(body.model_dump(mode="json")),
        lines=[(x.product_id, x.quantity) for x in body.lines] if body.lines else None,
        cart_id=body.cart_id,
        email=body.email,
    )
    order, created = await handlers.place_order(ctx=ctx, viewer=viewer, command=command)
    if not created:
        response.status_code = status.HTTP_200_OK
    return OrderRead.of(order, with_token=True)


@router.get("/orders", tags=["orders"], summary="Orders the caller may see, newest first")
async def list_orders(
    ctx: Ctx,
    viewer: CurrentViewer,
    status_: Annotated[OrderStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=500, description="`next_cursor` of the previous page")
    ] = None,
    offset: Annotated[
        int, Query(ge=0, description="Deprecated: use `cursor` (an offset walks past that many)")
    ] = 0,
) -> OrderPage:
    found = await handlers.list_orders(
        ctx=ctx, viewer=viewer, status=status_, limit=limit, cursor=cursor, offset=offset
    )
    return OrderPage(
        items=[OrderRead.for_viewer(o, a, viewer) for o, a in found.items],
        limit=limit,
        offset=offset,
        next_cursor=found.next_cursor,
    )


@router.get(
    "/orders/{order_id}",
    tags=["orders"],
    summary="One order (guests pass X-Order-Token)",
    responses={404: {"description": "No such order, or not yours"}},
)
async def read_order(order_id: str, ctx: Ctx, viewer: CurrentViewer) -> OrderRead:
    order, access = await handlers.get_order(ctx=ctx, order_id=order_id, viewer=viewer)
    return OrderRead.for_viewer(order, access, viewer)


@router.post("/orders/{order_id}/cancel", tags=["orders"], summary="Cancel a confirmed order")
async def cancel_order(order_id: str, ctx: Ctx, viewer: CurrentViewer) -> OrderRead:
    order = await handlers.cancel_order(ctx=ctx, order_id=order_id, viewer=viewer)
    return OrderRead.of(order)


@router.post(
    "/orders/{order_id}/payments",
    status_code=201,
    tags=["payments"],
    summary="Pay a confirmed order; the verdict arrives by webhook",
    responses=_TOO_MANY,
    dependencies=[_PAYMENT_RATE],
)
async def start_payment(
    order_id: str,
    body: PaymentCreate,
    request: Request,
    response: Response,
    ctx: Ctx,
    viewer: CurrentViewer,
    idempotency_key: OptionalIdempotencyKey = None,
) -> PaymentRead:
    settings_url = request.app.state.webhook_url
    webhook_url = settings_url or str(request.url_for("payment_webhook"))
    order, payment, created = await handlers.start_payment(
        ctx=ctx,
        order_id=order_id,
        viewer=viewer,
        card_token=body.card_token,
        idempotency_key=idempotency_key,
        webhook_url=webhook_url,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return PaymentRead.of(order.order_id, payment)


@router.post(
    "/payments/webhooks/sandbox",
    name="payment_webhook",
    tags=["payments"],
    summary="The payment provider's signed verdict",
    responses={401: {"description": "The signature does not verify"}},
)
async def payment_webhook(
    request: Request,
    ctx: Ctx,
    signature: Annotated[str | None, Header(alias=SIGNATURE_HEADER)] = None,
) -> WebhookAck:
    body = await request.body()
    outcome = await handlers.settle_payment(ctx=ctx, body=body, signature=signature)
    return WebhookAck(outcome=outcome)


@router.post(
    "/orders/{order_id}/refunds",
    status_code=201,
    tags=["refunds"],
    summary="Refund a paid order, fully or by line and quantity",
    responses={200: {"description": "A retry: the refund this Idempotency-Key made"}},
)
async def refund_order(
    order_id: str,
    body: RefundCreate,
    idempotency_key: IdempotencyKey,
    response: Response,
    ctx: Ctx,
    viewer: CurrentViewer,
) -> RefundReceipt:
    order, refund, created = await handlers.refund_order(
        ctx=ctx,
        order_id=order_id,
        viewer=viewer,
        key=idempotency_key,
        request_fingerprint=handlers.fingerprint(body.model_dump(mode="json")),
        lines=[(x.line_id, x.quantity) for x in body.lines] if body.lines else None,
        restock=body.restock,
        reason=body.reason,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return RefundReceipt(refund=RefundRead.of(refund), order=OrderRead.of(order))


@router.post(
    "/orders/{order_id}/lines/{line_id}/ship",
    tags=["fulfilment"],
    summary="Mark a line shipped (operator or the product's licensee)",
)
async def ship_line(order_id: str, line_id: str, ctx: Ctx, viewer: CurrentViewer) -> OrderRead:
    order = await handlers.ship_line(ctx=ctx, order_id=order_id, line_id=line_id, viewer=viewer)
    return OrderRead.for_viewer(order, access_of(order, viewer), viewer)


@router.post(
    "/orders/{order_id}/lines/{line_id}/fulfil",
    tags=["fulfilment"],
    summary="Mark a shipped line delivered; the last one fulfils the order",
)
async def fulfil_line(order_id: str, line_id: str, ctx: Ctx, viewer: CurrentViewer) -> OrderRead:
    order = await handlers.fulfil_line(ctx=ctx, order_id=order_id, line_id=line_id, viewer=viewer)
    return OrderRead.for_viewer(order, access_of(order, viewer), viewer)
