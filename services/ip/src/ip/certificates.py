"""Authenticity certificates, pure: a batch of order events folded into the
certificates to issue and the units to revoke (no I/O, no keys).

One certificate per unit of a licensed line of a paid order, `_id`
`cert:<order>:<line>:<unit>` (units 1..quantity), so a redelivered
`order.paid` names the same documents and its inserts are no-ops. A line is
licensed when the ledger would accrue it: its license is known and was
granted (ip.order_fold); a license revoked later leaves the certificate of a
unit sold while it was active valid, since the status never consults it.

A refund revokes as many units of a line as it refunds, the highest unit
numbers not revoked yet, and the order's certificate document (`cert_orders`,
`_id` = order id) records which (refund id -> units) BEFORE the certificates
change, so a redelivered refund revokes the same units again, never more.
"""

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from contracts.orders import OrderLine, OrderPaid, OrderRefunded

__all__ = [
    "CHINA",
    "CertFold",
    "Certificate",
    "OrderCerts",
    "Revocation",
    "buyer_digest",
    "cert_id",
    "claims_of",
    "fold_certificates",
]

CHINA = timezone(timedelta(hours=8))
ISSUER = "relic-rebirth/ip"


def cert_id(order_id: str, line_id: str, unit: int) -> str:
    return f"cert:{order_id}:{line_id}:{unit}"


@dataclass(frozen=True)
class Certificate:
    """One licensed unit sold. Never the tourist: no customer, no payment."""

    cert_id: str
    serial: str
    order_id: str
    line_id: str
    unit: int
    units: int
    product_id: str
    sku: str
    relic_ids: tuple[str, ...]
    museum_id: str | None
    licensee_id: str | None
    license_id: str
    sold_at: datetime
    jws: str = ""
    status: str = "valid"  # valid | revoked
    revoked_at: datetime | None = None


def claims_of(c: Certificate) -> dict[str, object]:
    """What the signature covers (the public facts of the unit)."""
    return {
        "iss": ISSUER,
        "serial": c.serial,
        "product_id": c.product_id,
        "sku": c.sku,
        "relic_ids": list(c.relic_ids),
        "museum_id": c.museum_id,
        "licensee_id": c.licensee_id,
        "license_id": c.license_id,
        "unit": c.unit,
        "units": c.units,
        "sold_on": c.sold_at.astimezone(CHINA).date().isoformat(),
        "iat": int(c.sold_at.astimezone(UTC).timestamp()),
    }


@dataclass(frozen=True)
class Revocation:
    order_id: str
    refund_id: str
    line_id: str
    units: tuple[int, ...]
    revoked_at: datetime

    @property
    def cert_ids(self) -> list[str]:
        return [cert_id(self.order_id, self.line_id, u) for u in self.units]


@dataclass
class OrderCerts:
    """An order's certified lines (line id -> quantity) and its revocations."""

    order_id: str
    lines: dict[str, int] = field(default_factory=dict)
    revocations: list[Revocation] = field(default_factory=list)
    buyer: str | None = None  # buyer_digest of who paid: lets them list these, names no one

    def revoked_units(self, line_id: str) -> set[int]:
        return {u for r in self.revocations if r.line_id == line_id for u in r.units}

    def revocation(self, refund_id: str, line_id: str) -> Revocation | None:
        for r in self.revocations:
            if r.refund_id == refund_id and r.line_id == line_id:
                return r
        return None


@dataclass
class CertFold:
    issued: list[Certificate] = field(default_factory=list)
    orders: list[OrderCerts] = field(default_factory=list)  # new: inserted with the certs
    recorded: list[Revocation] = field(default_factory=list)  # new: noted on cert_orders
    revoke: list[Revocation] = field(default_factory=list)  # new and redone: certs to revoke


MakeCert = Callable[[OrderPaid, OrderLine, int], Certificate]


def fold_certificates(
    events: Sequence[OrderPaid | OrderRefunded],
    *,
    known: Mapping[str, OrderCerts],
    licensed: Callable[[str], bool],
    make: MakeCert,
) -> CertFold:
    """The batch's certificates and revocations, in event order. `known`: the
    certificate documents of the orders the batch refunds (read by `_id`)."""
    out = CertFold()
    orders: dict[str, OrderCerts] = dict(known)
    for e in events:
        if isinstance(e, OrderPaid):
            _paid(e, orders, licensed, make, out)
        else:
            _refunded(e, orders, out)
    return out


def buyer_digest(customer_id: str) -> str:
    """Who bought, as ip keeps it: a digest that matches the buyer's token
    subject, never stored or shown in the clear (certificates name no one)."""
    return hashlib.sha256(f"rebirth-buyer:{customer_id}".encode()).hexdigest()


def _paid(
    e: OrderPaid,
    orders: dict[str, OrderCerts],
    licensed: Callable[[str], bool],
    make: MakeCert,
    out: CertFold,
) -> None:
    if e.order_id in orders:  # certified in this batch or before
        return
    doc = OrderCerts(e.order_id, buyer=buyer_digest(e.customer_id))
    for line in e.lines:
        if line.license_id is None or not licensed(line.license_id):
            continue
        doc.lines[line.line_id] = line.quantity
        out.issued.extend(make(e, line, unit) for unit in range(1, line.quantity + 1))
    if doc.lines:
        orders[e.order_id] = doc
        out.orders.append(doc)


def _refunded(e: OrderRefunded, orders: dict[str, OrderCerts], out: CertFold) -> None:
    doc = orders.get(e.order_id)
    if doc is None:
        return  # nothing certified (no licensed line)
    for line in e.lines:
        quantity = doc.lines.get(line.line_id)
        if quantity is None:
            continue
        done = doc.revocation(e.refund_id, line.line_id)
        if done is not None:  # a redelivery: revoke the same units again
            out.revoke.append(done)
            continue
        revoked = doc.revoked_units(line.line_id)
        left = [u for u in range(quantity, 0, -1) if u not in revoked]
        units = tuple(left[: line.quantity])
        if not units:
            continue
        r = Revocation(e.order_id, e.refund_id, line.line_id, units, e.refunded_at)
        doc.revocations.append(r)
        out.recorded.append(r)
        out.revoke.append(r)
