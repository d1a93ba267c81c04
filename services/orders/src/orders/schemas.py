"""Request and response schemas: XCreate in, XRead out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.orders import RejectionReason
from orders.domain import (
    MAX_LINE_QUANTITY,
    Access,
    Line,
    Order,
    OrderStatus,
    Payment,
    Product,
    Refund,
    Viewer,
)

__all__ = [
    "CartLineRead",
    "CartLineSet",
    "CartRead",
    "EMAIL",
    "OrderCreate",
    "OrderLineIn",
    "OrderLineRead",
    "OrderPage",
    "OrderRead",
    "PaymentCreate",
    "PaymentRead",
    "ProductRead",
    "Quantity",
    "RefundCreate",
    "RefundLineIn",
    "RefundLineRead",
    "RefundRead",
    "RefundReceipt",
    "WebhookAck",
]


Quantity = Annotated[int, Field(ge=1, le=MAX_LINE_QUANTITY)]


EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProductRead(BaseModel):
    product_id: str
    sku: str
    title_zh: str
    title_en: str
    price_fen: int
    relic_ids: list[str]
    museum_ids: list[str]
    license_id: str | None
    licensee_id: str | None
    status: str
    sellable: bool
    orderable: bool
    version: int

    @classmethod
    def of(cls, p: Product) -> ProductRead:
        return cls(
            product_id=p.product_id,
            sku=p.sku,
            title_zh=p.title_zh,
            title_en=p.title_en,
            price_fen=p.price_fen,
            relic_ids=list(p.relic_ids),
            museum_ids=list(p.museum_ids),
            license_id=p.license_id,
            licensee_id=p.licensee_id,
            status=p.status,
            sellable=p.sellable,
            orderable=p.orderable,
            version=p.version,
        )


class CartLineRead(BaseModel):
    product_id: str
    quantity: int
    unit_price_fen: int | None
    line_total_fen: int | None
    orderable: bool


class CartRead(BaseModel):
    cart_id: str
    status: Literal["open", "checked_out"]
    order_id: str | None
    lines: list[CartLineRead]
    total_fen: int
    updated_at: datetime


class CartLineSet(_In):
    quantity: Quantity


class OrderLineIn(_In):
    product_id: str = Field(min_length=1, max_length=200)
    quantity: Quantity


class OrderCreate(_In):
    """Either `lines` or `cart_id`. Guests give an email; tourists a token."""

    lines: list[OrderLineIn] | None = Field(None, min_length=1, max_length=50)
    cart_id: str | None = None
    email: str | None = Field(None, pattern=EMAIL, max_length=254)

    @model_validator(mode="after")
    def _one_source(self) -> OrderCreate:
        if (self.lines is None) == (self.cart_id is None):
            raise ValueError("give either lines or cart_id")
        return self


class OrderLineRead(BaseModel):
    line_id: str
    product_id: str
    sku: str
    title_en: str
    quantity: int
    unit_price_fen: int
    line_total_fen: int
    refunded_quantity: int
    status: str
    license_id: str | None
    licensee_id: str | None
    relic_ids: list[str]
    museum_id: str | None
    shipped_at: datetime | None
    fulfilled_at: datetime | None

    @classmethod
    def of(cls, line: Line) -> OrderLineRead:
        return cls(
            line_id=line.line_id,
            product_id=line.product_id,
            sku=line.sku,
            title_en=line.title_en,
            quantity=line.quantity,
            unit_price_fen=line.unit_price_fen,
            line_total_fen=line.line_total_fen,
            refunded_quantity=line.refunded_quantity,
            status=line.status.value,
            license_id=line.license_id,
            licensee_id=line.licensee_id,
            relic_ids=list(line.relic_ids),
            museum_id=line.museum_id,
            shipped_at=line.shipped_at,
            fulfilled_at=line.fulfilled_at,
        )


class PaymentRead(BaseModel):
    payment_id: str
    order_id: str
    amount_fen: int
    status: str
    provider: str
    provider_ref: str | None
    failure_reason: str | None
    settled_by: str | None = None  # webhook, reconciliation or expiry
    refund_ref: str | None = None  # a capture that came too late, refunded
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, order_id: str, p: Payment) -> PaymentRead:
        return cls(
            payment_id=p.payment_id,
            order_id=order_id,
            amount_fen=p.amount_fen,
            status=p.status.value,
            provider=p.provider,
            provider_ref=p.provider_ref,
            failure_reason=p.failure_reason,
            settled_by=p.settled_by,
            refund_ref=p.refund_ref,
            created_at=p.created_at,
            updated_at=p.updated_at,
        )


class RefundLineRead(BaseModel):
    line_id: str
    quantity: int
    amount_fen: int


class RefundRead(BaseModel):
    refund_id: str
    amount_fen: int
    lines: list[RefundLineRead]
    restock: bool
    reason: str | None
    created_at: datetime

    @classmethod
    def of(cls, r: Refund) -> RefundRead:
        return cls(
            refund_id=r.refund_id,
            amount_fen=r.amount_fen,
            lines=[RefundLineRead(**vars(x)) for x in r.lines],
            restock=r.restock,
            reason=r.reason,
            created_at=r.created_at,
        )


class OrderRead(BaseModel):
    order_id: str
    status: OrderStatus
    view: Literal["full", "lines"]  # "lines": a licensee sees only its own lines
    customer_kind: str | None
    email: str | None
    lines: list[OrderLineRead]
    total_fen: int
    paid_fen: int | None
    refunded_fen: int | None
    placed_at: datetime
    confirmed_at: datetime | None
    payment_due_at: datetime | None
    paid_at: datetime | None
    closed_at: datetime | None
    fulfilled_at: datetime | None
    rejection_reasons: list[RejectionReason]
    cancel_reason: str | None
    payments: list[PaymentRead]
    refunds: list[RefundRead]
    order_token: str | None = None  # only to whoever placed it: a guest's key to it

    @classmethod
    def of(cls, order: Order, *, with_token: bool = False) -> OrderRead:
        return cls(
            order_id=order.order_id,
            status=order.status,
            view="full",
            customer_kind=order.customer.kind,
            email=order.customer.email,
            lines=[OrderLineRead.of(x) for x in order.lines],
            total_fen=order.total_fen,
            paid_fen=order.paid_fen,
            refunded_fen=order.refunded_fen,
            placed_at=order.placed_at,
            confirmed_at=order.confirmed_at,
            payment_due_at=order.payment_due_at,
            paid_at=order.paid_at,
            closed_at=order.closed_at,
            fulfilled_at=order.fulfilled_at,
            rejection_reasons=order.rejection_reasons,
            cancel_reason=order.cancel_reason,
            payments=[PaymentRead.of(order.order_id, p) for p in order.payments],
            refunds=[RefundRead.of(r) for r in order.refunds],
            order_token=order.order_token if with_token else None,
        )

    @classmethod
    def for_viewer(cls, order: Order, access: Access, viewer: Viewer) -> OrderRead:
        if access is not Access.LINES:
            return cls.of(order)
        lines = [x for x in order.lines if x.licensee_id == viewer.licensee_id]
        return cls(
            order_id=order.order_id,
            status=order.status,
            view="lines",
            customer_kind=None,
            email=None,
            lines=[OrderLineRead.of(x) for x in lines],
            total_fen=sum(x.line_total_fen for x in lines),
            paid_fen=None,
            refunded_fen=None,
            placed_at=order.placed_at,
            confirmed_at=order.confirmed_at,
            payment_due_at=None,
            paid_at=order.paid_at,
            closed_at=order.closed_at,
            fulfilled_at=order.fulfilled_at,
            rejection_reasons=[],
            cancel_reason=None,
            payments=[],
            refunds=[],
        )


class OrderPage(BaseModel):
    """A page of a list; pass `next_cursor` as `cursor` for the next one (null:
    the end). With a `status` filter a page may hold fewer than `limit`
    items while `next_cursor` is set: each page looks at a bounded number."""

    items: list[OrderRead]
    limit: int
    offset: int
    next_cursor: str | None = None


class PaymentCreate(_In):
    card_token: str = Field(min_length=1, max_length=200)


class WebhookAck(BaseModel):
    outcome: str


class RefundLineIn(_In):
    line_id: str
    quantity: Annotated[int, Field(ge=1)]


class RefundCreate(_In):
    """No `lines`: refund everything that is left."""

    lines: list[RefundLineIn] | None = Field(None, min_length=1, max_length=50)
    restock: bool = True
    reason: str | None = Field(None, max_length=500)


class RefundReceipt(BaseModel):
    refund: RefundRead
    order: OrderRead
