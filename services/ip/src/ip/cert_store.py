"""The certificates' collections, every command by `_id` (see ip.hot_queries):

- `certificates`: one per unit, `_id` = `cert:<order>:<line>:<unit>`;
- `cert_serials`: `_id` = serial -> the certificate id (the public lookup);
- `cert_orders`: `_id` = order id -> its certified lines and revocations.

A batch costs at most three inserts (paid orders) and one read and two bulk
writes (refunds), whatever its size. Inserts are unordered and ignore
duplicate keys: the ids are keyed on the order, so a redelivery is a no-op.
No outbox: certificates publish no events (yet), so no pending markers.
"""

from collections.abc import Sequence
from typing import Any

from pymongo import UpdateMany, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from ip.book_docs import by_id, by_ids
from ip.certificates import Certificate, OrderCerts, Revocation

__all__ = [
    "CERTS",
    "ORDERS",
    "SERIALS",
    "CertStore",
    "cert_doc",
    "cert_of",
    "new_revocations",
    "order_doc",
    "revoke_update",
]

Doc = dict[str, Any]
CERTS, SERIALS, ORDERS = "certificates", "cert_serials", "cert_orders"
DUPLICATE_KEY = 11000


def cert_doc(c: Certificate) -> Doc:
    return {
        "_id": c.cert_id,
        "serial": c.serial,
        "order_id": c.order_id,
        "line_id": c.line_id,
        "unit": c.unit,
        "units": c.units,
        "product_id": c.product_id,
        "sku": c.sku,
        "relic_ids": list(c.relic_ids),
        "museum_id": c.museum_id,
        "licensee_id": c.licensee_id,
        "license_id": c.license_id,
        "sold_at": c.sold_at,
        "jws": c.jws,
        "status": c.status,
    }


def cert_of(d: Doc) -> Certificate:
    return Certificate(
        cert_id=d["_id"],
        serial=d["serial"],
        order_id=d["order_id"],
        line_id=d["line_id"],
        unit=int(d["unit"]),
        units=int(d["units"]),
        product_id=d["product_id"],
        sku=d["sku"],
        relic_ids=tuple(d.get("relic_ids", [])),
        museum_id=d.get("museum_id"),
        licensee_id=d.get("licensee_id"),
        license_id=d["license_id"],
        sold_at=d["sold_at"],
        jws=d["jws"],
        status=d.get("status", "valid"),
        revoked_at=d.get("revoked_at"),
    )


def _revocation_doc(r: Revocation) -> Doc:
    return {
        "refund_id": r.refund_id,
        "line_id": r.line_id,
        "units": list(r.units),
        "at": r.revoked_at,
    }


def order_doc(o: OrderCerts) -> Doc:
    return {
        "_id": o.order_id,
        "lines": [{"line_id": k, "quantity": q} for k, q in o.lines.items()],
        "revocations": [_revocation_doc(r) for r in o.revocations],
        "refunds": sorted({r.refund_id for r in o.revocations}),
        "buyer": o.buyer,
    }


def order_of(d: Doc) -> OrderCerts:
    return OrderCerts(
        d["_id"],
        {x["line_id"]: int(x["quantity"]) for x in d.get("lines", [])},
        [
            Revocation(d["_id"], r["refund_id"], r["line_id"], tuple(r["units"]), r["at"])
            for r in d.get("revocations", [])
        ],
        d.get("buyer"),
    )


def new_revocations(order_id: str, revocations: Sequence[Revocation]) -> UpdateOne:
    """Note a batch's new revocations of one order, unless a rival did (the
    guard: none of these refunds noted yet; `_id` equality, then one doc)."""
    refunds = sorted({r.refund_id for r in revocations})
    return UpdateOne(
        {"_id": order_id, "refunds": {"$nin": refunds}},
        {
            "$push": {"revocations": {"$each": [_revocation_doc(r) for r in revocations]}},
            "$addToSet": {"refunds": {"$each": refunds}},
        },
    )


def revoke_update(r: Revocation) -> UpdateMany:
    return UpdateMany(
        by_ids(r.cert_ids),
        {"$set": {"status": "revoked", "revoked_at": r.revoked_at, "refund_id": r.refund_id}},
    )


async def _insert_new(collection: AsyncCollection[Doc], docs: Sequence[Doc]) -> None:
    """Insert, leaving documents already there alone (a redelivery)."""
    if not docs:
        return
    try:
        await collection.insert_many(list(docs), ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if not errors or any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise


class CertStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.certs: AsyncCollection[Doc] = db[CERTS]
        self.serials: AsyncCollection[Doc] = db[SERIALS]
        self.orders: AsyncCollection[Doc] = db[ORDERS]

    async def insert_issued(
        self, certs: Sequence[Certificate], orders: Sequence[OrderCerts]
    ) -> None:
        """Certificates, then their serials, then the orders' documents: a
        serial is only found once its certificate exists, and a refund only
        finds an order once every certificate of it was written."""
        await _insert_new(self.certs, [cert_doc(c) for c in certs])
        await _insert_new(self.serials, [{"_id": c.serial, "cert_id": c.cert_id} for c in certs])
        await _insert_new(self.orders, [order_doc(o) for o in orders])

    async def orders_by_ids(self, order_ids: Sequence[str]) -> dict[str, OrderCerts]:
        if not order_ids:
            return {}
        return {d["_id"]: order_of(d) async for d in self.orders.find(by_ids(list(order_ids)))}

    async def order(self, order_id: str) -> OrderCerts | None:
        d = await self.orders.find_one(by_id(order_id))
        return order_of(d) if d else None

    async def record_revocations(self, recorded: Sequence[Revocation]) -> None:
        by_order: dict[str, list[Revocation]] = {}
        for r in recorded:
            by_order.setdefault(r.order_id, []).append(r)
        if by_order:
            ops = [new_revocations(o, rs) for o, rs in by_order.items()]
            await self.orders.bulk_write(ops, ordered=False)

    async def revoke(self, revocations: Sequence[Revocation]) -> None:
        if revocations:
            await self.certs.bulk_write([revoke_update(r) for r in revocations], ordered=False)

    async def by_serial(self, serial: str) -> Certificate | None:
        pointer = await self.serials.find_one(by_id(serial))
        if pointer is None:
            return None
        d = await self.certs.find_one(by_id(pointer["cert_id"]))
        # the serial must be the certificate's own (a foreign pointer is unknown)
        return cert_of(d) if d and d.get("serial") == serial else None

    async def by_ids(self, cert_ids: Sequence[str]) -> list[Certificate]:
        if not cert_ids:
            return []
        found = {d["_id"]: cert_of(d) async for d in self.certs.find(by_ids(list(cert_ids)))}
        return [found[x] for x in cert_ids if x in found]
