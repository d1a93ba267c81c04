"""An order as the store holds it: `order_doc` / `order_from_doc` (and the
state a save sets). Only the order store and history.py use these."""

from __future__ import annotations

from typing import Any

from contracts.orders import RejectionReason
from orders.domain import (
    Customer,
    Line,
    LineStatus,
    Order,
    OrderStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundedLine,
)

__all__ = ["order_doc", "order_from_doc", "order_state"]

Doc = dict[str, Any]


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
        "settled_by": p.settled_by,
        "refund_ref": p.refund_ref,
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
        settled_by=doc.get("settled_by"),
        refund_ref=doc.get("refund_ref"),
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


def order_state(order: Order) -> Doc:
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


def order_doc(order: Order, *, rev: int = 1) -> Doc:
    """The document of an order as stored, without events (history.py's bulk load)."""
    return {"_id": order.order_id, **order_state(order), "rev": rev}


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
