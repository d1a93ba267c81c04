"""The orders database: orders (with their payments, refunds and outbox),
carts, and the replica of products. No Mongo types escape this module.

Every order write is one single-document update that checks and bumps `rev`
(optimistic concurrency) and pushes the change's events into `_outbox`, so the
state and its events are never apart.

The outbox relay is servicekit's. Single-document atomicity holds on both
stores (on FerretDB through the local stack's write-serialising proxy, see
deploy/local/ferretdb), so the rev check is exact everywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts.orders import RejectionReason
from orders.domain import (
    Cart,
    CartLine,
    Customer,
    Line,
    LineStatus,
    Order,
    OrderStatus,
    Payment,
    PaymentStatus,
    Product,
    Refund,
    RefundedLine,
)
from servicekit.outbox import OUTBOX, outbox_entry, push_events

__all__ = [
    "CartStore",
    "IdempotencyKeyTaken",
    "OrderFilter",
    "OrderStore",
    "ProductStore",
    "ensure_indexes",
]

SOURCE = "orders"

Doc = dict[str, Any]


class IdempotencyKeyTaken(Exception):
    """Another order already holds this (scoped) idempotency key."""


async def ensure_indexes(db: AsyncDatabase[Doc]) -> None:
    orders = db["orders"]
    await orders.create_index([("idempotency_key", ASCENDING)], unique=True, name="idempotency")
    await orders.create_index([("status", ASCENDING), ("payment_due_at", ASCENDING)], name="expiry")
    await orders.create_index(
        [("customer.id", ASCENDING), ("placed_at", DESCENDING)], name="customer"
    )
    await orders.create_index([("licensee_ids", ASCENDING)], name="licensee")
    await orders.create_index([("placed_at", DESCENDING)], name="placed")


# --- orders ----------------------------------------------------------------------


def _line_to_doc(line: Line) -> Doc:
    return {
        "line_id": line.line_id,
        "product_id": line.product_id,
        "sku": line.sku,
        "title_en": line.title_en,
        "quantity": line.quantity,
        "unit_price_fen": line.unit_price_fen,
        "license_id": line.license_id,
        "licensee_id": line.licensee_id,
        "relic_ids": list(line.relic_ids),
        "museum_id": line.museum_id,
        "refunded_quantity": line.refunded_quantity,
        "status": line.status.value,
        "shipped_at": line.shipped_at,
        "fulfilled_at": line.fulfilled_at,
    }


def _line_from_doc(doc: Doc) -> Line:
    return Line(
        line_id=doc["line_id"],
        product_id=doc["product_id"],
        sku=doc["sku"],
        title_en=doc["title_en"],
        quantity=doc["quantity"],
        unit_price_fen=doc["unit_price_fen"],
        license_id=doc["license_id"],
        licensee_id=doc["licensee_id"],
        relic_ids=tuple(doc["relic_ids"]),
        museum_id=doc["museum_id"],
        refunded_quantity=doc["refunded_quantity"],
        status=LineStatus(doc["status"]),
        shipped_at=doc.get("shipped_at"),
        fulfilled_at=doc.get("fulfilled_at"),
    )


def _payment_to_doc(p: Payment) -> Doc:
    return {
        "payment_id": p.payment_id,
        "amount_fen": p.amount_fen,
        "status": p.status.value,
        "provider": p.provider,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
        "provider_ref": p.provider_ref,
        "idempotency_key": p.idempotency_key,
        "failure_reason": p.failure_reason,
    }


def _payment_from_doc(doc: Doc) -> Payment:
    return Payment(
        payment_id=doc["payment_id"],
        amount_fen=doc["amount_fen"],
        status=PaymentStatus(doc["status"]),
        provider=doc["provider"],
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        provider_ref=doc.get("provider_ref"),
        idempotency_key=doc.get("idempotency_key"),
        failure_reason=doc.get("failure_reason"),
    )


def _refund_to_doc(r: Refund) -> Doc:
    return {
        "refund_id": r.refund_id,
        "key": r.key,
        "fingerprint": r.fingerprint,
        "lines": [
            {"line_id": x.line_id, "quantity": x.quantity, "amount_fen": x.amount_fen}
            for x in r.lines
        ],
        "amount_fen": r.amount_fen,
        "restock": r.restock,
        "reason": r.reason,
        "created_at": r.created_at,
    }


def _refund_from_doc(doc: Doc) -> Refund:
    return Refund(
        refund_id=doc["refund_id"],
        key=doc["key"],
        fingerprint=doc["fingerprint"],
        lines=tuple(
            RefundedLine(x["line_id"], x["quantity"], x["amount_fen"]) for x in doc["lines"]
        ),
        amount_fen=doc["amount_fen"],
        restock=doc["restock"],
        reason=doc.get("reason"),
        created_at=doc["created_at"],
    )


def _state(order: Order) -> Doc:
    """Every persisted field but `_id` and `rev`."""
    return {
        "customer": {
            "kind": order.customer.kind,
            "id": order.customer.id,
            "email": order.customer.email,
        },
        "lines": [_line_to_doc(line) for line in order.lines],
        "licensee_ids": order.licensee_ids,
        "total_fen": order.total_fen,
        "status": order.status.value,
        "placed_at": order.placed_at,
        "order_token": order.order_token,
        "idempotency_key": order.idempotency_key,
        "fingerprint": order.fingerprint,
        "confirmed_at": order.confirmed_at,
        "payment_due_at": order.payment_due_at,
        "paid_at": order.paid_at,
        "closed_at": order.closed_at,
        "fulfilled_at": order.fulfilled_at,
        "rejection_reasons": [r.model_dump() for r in order.rejection_reasons],
        "cancel_reason": order.cancel_reason,
        "payments": [_payment_to_doc(p) for p in order.payments],
        "refunds": [_refund_to_doc(r) for r in order.refunds],
    }


def order_from_doc(doc: Doc) -> Order:
    customer = doc["customer"]
    return Order(
        order_id=doc["_id"],
        customer=Customer(kind=customer["kind"], id=customer["id"], email=customer.get("email")),
        lines=[_line_from_doc(line) for line in doc["lines"]],
        status=OrderStatus(doc["status"]),
        placed_at=doc["placed_at"],
        order_token=doc["order_token"],
        idempotency_key=doc["idempotency_key"],
        fingerprint=doc["fingerprint"],
        confirmed_at=doc.get("confirmed_at"),
        payment_due_at=doc.get("payment_due_at"),
        paid_at=doc.get("paid_at"),
        closed_at=doc.get("closed_at"),
        fulfilled_at=doc.get("fulfilled_at"),
        rejection_reasons=[RejectionReason(**r) for r in doc.get("rejection_reasons", [])],
        cancel_reason=doc.get("cancel_reason"),
        payments=[_payment_from_doc(p) for p in doc.get("payments", [])],
        refunds=[_refund_from_doc(r) for r in doc.get("refunds", [])],
        rev=doc["rev"],
    )


def _outbox(order: Order) -> list[Doc]:
    return [outbox_entry(p.event, source=SOURCE, event_id=p.event_id) for p in order.events]


@dataclass(frozen=True)
class OrderFilter:
    customer_id: str | None = None
    licensee_id: str | None = None
    status: OrderStatus | None = None


class OrderStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._orders: AsyncCollection[Doc] = db["orders"]

    async def get(self, order_id: str) -> Order | None:
        doc = await self._orders.find_one({"_id": order_id})
        return order_from_doc(doc) if doc else None

    async def insert(self, order: Order) -> None:
        """Insert a new order with its events; IdempotencyKeyTaken when its id
        (derived from the idempotency key) or its key is taken."""
        doc = {"_id": order.order_id, **_state(order), "rev": 1, OUTBOX: _outbox(order)}
        try:
            await self._orders.insert_one(doc)
        except DuplicateKeyError as exc:
            raise IdempotencyKeyTaken(order.idempotency_key) from exc
        order.rev, order.events, order.changed = 1, [], False

    async def save(self, order: Order) -> bool:
        """Write the order's changes and events if nobody changed it since it was
        read; False when someone did (reload and decide again)."""
        update = push_events({"$set": {**_state(order), "rev": order.rev + 1}}, _outbox(order))
        result = await self._orders.update_one({"_id": order.order_id, "rev": order.rev}, update)
        if result.matched_count != 1:
            return False
        order.rev, order.events, order.changed = order.rev + 1, [], False
        return True

    async def find(self, where: OrderFilter, *, limit: int, offset: int) -> list[Order]:
        query: Doc = {}
        if where.customer_id is not None:
            query["customer.id"] = where.customer_id
        if where.licensee_id is not None:
            query["licensee_ids"] = where.licensee_id
        if where.status is not None:
            query["status"] = where.status.value
        cursor = self._orders.find(query).sort("placed_at", DESCENDING).skip(offset).limit(limit)
        return [order_from_doc(doc) async for doc in cursor]

    async def due_for_expiry(self, now: datetime, *, limit: int) -> list[Order]:
        cursor = self._orders.find(
            {"status": OrderStatus.CONFIRMED.value, "payment_due_at": {"$lte": now}}
        ).limit(limit)
        return [order_from_doc(doc) async for doc in cursor]


# --- the product replica -------------------------------------------------------------


def _product_from_doc(doc: Doc) -> Product:
    return Product(
        product_id=doc["_id"],
        sku=doc["sku"],
        title_zh=doc["title_zh"],
        title_en=doc["title_en"],
        price_fen=doc["price_fen"],
        relic_ids=tuple(doc["relic_ids"]),
        museum_ids=tuple(doc["museum_ids"]),
        license_id=doc["license_id"],
        licensee_id=doc["licensee_id"],
        status=doc["status"],
        sellable=doc["sellable"],
        version=doc["version"],
    )


class ProductStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._products: AsyncCollection[Doc] = db["products"]

    async def apply(self, product: Product) -> bool:
        """Keep the newest version: an older or equal one changes nothing.
        True when this version was applied."""
        fields = {
            "sku": product.sku,
            "title_zh": product.title_zh,
            "title_en": product.title_en,
            "price_fen": product.price_fen,
            "relic_ids": list(product.relic_ids),
            "museum_ids": list(product.museum_ids),
            "license_id": product.license_id,
            "licensee_id": product.licensee_id,
            "status": product.status,
            "sellable": product.sellable,
            "version": product.version,
        }
        try:
            result = await self._products.update_one(
                {"_id": product.product_id, "version": {"$lt": product.version}},
                {"$set": fields},
                upsert=True,
            )
        except DuplicateKeyError:
            return False  # a newer (or the same) version is already there
        return result.modified_count == 1 or result.upserted_id is not None

    async def get(self, product_id: str) -> Product | None:
        doc = await self._products.find_one({"_id": product_id})
        return _product_from_doc(doc) if doc else None

    async def get_many(self, product_ids: Sequence[str]) -> dict[str, Product]:
        # one lookup by _id each: FerretDB answers an `$in` by reading the
        # whole collection, and every checkout asks
        ids = list(set(product_ids))
        docs = await asyncio.gather(*(self._products.find_one({"_id": p}) for p in ids))
        return {doc["_id"]: _product_from_doc(doc) for doc in docs if doc}


# --- carts ------------------------------------------------------------------------------


def _cart_from_doc(doc: Doc) -> Cart:
    return Cart(
        cart_id=doc["_id"],
        owner=doc.get("owner"),
        lines=[CartLine(x["product_id"], x["quantity"]) for x in doc["lines"]],
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        order_id=doc.get("order_id"),
        rev=doc["rev"],
    )


class CartStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._carts: AsyncCollection[Doc] = db["carts"]

    async def insert(self, cart: Cart) -> None:
        await self._carts.insert_one({"_id": cart.cart_id, **_cart_state(cart), "rev": 1})
        cart.rev = 1

    async def get(self, cart_id: str) -> Cart | None:
        doc = await self._carts.find_one({"_id": cart_id})
        return _cart_from_doc(doc) if doc else None

    async def save(self, cart: Cart) -> bool:
        result = await self._carts.update_one(
            {"_id": cart.cart_id, "rev": cart.rev},
            {"$set": {**_cart_state(cart), "rev": cart.rev + 1}},
        )
        if result.matched_count != 1:
            return False
        cart.rev += 1
        return True


def _cart_state(cart: Cart) -> Doc:
    return {
        "owner": cart.owner,
        "lines": [{"product_id": x.product_id, "quantity": x.quantity} for x in cart.lines],
        "created_at": cart.created_at,
        "updated_at": cart.updated_at,
        "order_id": cart.order_id,
    }
