"""Authenticity certificates, the use cases: issued and revoked by the order
consumer in the same batch as the accruals, verified by anyone.

`apply` folds a batch (ip.certificates) and writes it (ip.cert_store): paid
orders cost three inserts, refunds one read and two bulk writes, whatever the
batch's size. Serials come from a keyed hash of the certificate id
(ip.serials) and signatures from the key ring (ip.signing), both
deterministic, so a redelivery rebuilds identical documents.
"""

from collections.abc import Mapping, Sequence
from dataclasses import replace

from contracts.orders import OrderLine, OrderPaid, OrderRefunded
from ip.cert_keys import CertKeys
from ip.cert_store import CertStore
from ip.certificates import (
    Certificate,
    OrderCerts,
    buyer_digest,
    cert_id,
    claims_of,
    fold_certificates,
)
from ip.errors import MalformedCertificateSerial, UnknownCertificate, UnknownThing
from ip.records import LicenseRecord
from ip.serials import MalformedSerial, derive_serial, parse_serial
from servicekit.auth import Principal, Role

__all__ = ["Authenticity"]


class Authenticity:
    def __init__(self, store: CertStore, keys: CertKeys) -> None:
        self._store = store
        self._keys = keys

    @property
    def keys(self) -> CertKeys:
        return self._keys

    def _make(self, e: OrderPaid, line: OrderLine, unit: int) -> Certificate:
        assert line.license_id is not None
        cid = cert_id(e.order_id, line.line_id, unit)
        cert = Certificate(
            cert_id=cid,
            serial=derive_serial(self._keys.serial_key, cid),
            order_id=e.order_id,
            line_id=line.line_id,
            unit=unit,
            units=line.quantity,
            product_id=line.product_id,
            sku=line.sku,
            relic_ids=tuple(line.relic_ids),
            museum_id=line.museum_id,
            licensee_id=line.licensee_id,
            license_id=line.license_id,
            sold_at=e.paid_at,
        )
        return _with_jws(cert, self._keys.ring.sign(claims_of(cert)))

    async def apply(
        self,
        events: Sequence[OrderPaid | OrderRefunded],
        licenses: Mapping[str, LicenseRecord],
    ) -> None:
        """Issue and revoke for a batch (after the ledger's round, whose
        licenses say which lines accrue: those get certificates)."""
        refunded = list(dict.fromkeys(e.order_id for e in events if isinstance(e, OrderRefunded)))
        known = await self._store.orders_by_ids(refunded)

        def licensed(license_id: str) -> bool:
            lic = licenses.get(license_id)
            return lic is not None and lic.granted_at is not None

        folded = fold_certificates(events, known=known, licensed=licensed, make=self._make)
        await self._store.insert_issued(folded.issued, folded.orders)
        # the units a refund revokes are noted BEFORE the certificates change
        await self._store.record_revocations(folded.recorded)
        await self._store.revoke(folded.revoke)

    async def verify(self, serial_text: str) -> Certificate:
        """The certificate of a serial, or MalformedCertificateSerial /
        UnknownCertificate (a public read: two documents by `_id`)."""
        try:
            serial = parse_serial(serial_text)
        except MalformedSerial as exc:
            raise MalformedCertificateSerial(serial_text, str(exc)) from exc
        cert = await self._store.by_serial(serial)
        if cert is None:
            raise UnknownCertificate(serial)
        return cert

    async def of_order(self, principal: Principal, order_id: str) -> list[Certificate]:
        """An order's certificates: operators all, a museum or licensee its
        own, the tourist who paid for it every one."""
        doc = await self._store.order(order_id)
        ids = [
            cert_id(order_id, line, u)
            for line, q in (doc.lines if doc else {}).items()
            for u in range(1, q + 1)
        ]
        bought = doc is not None and _bought(principal, doc)
        certs = [c for c in await self._store.by_ids(ids) if bought or _may_see(principal, c)]
        if not certs:
            raise UnknownThing("order certificates", order_id)
        return certs


def _bought(p: Principal, order: OrderCerts) -> bool:
    return (
        p.role == Role.TOURIST
        and order.buyer is not None
        and order.buyer == buyer_digest(p.subject)
    )


def _may_see(p: Principal, c: Certificate) -> bool:
    if p.role == Role.OPERATOR:
        return True
    if p.role == Role.MUSEUM:
        return p.museum_id is not None and p.museum_id == c.museum_id
    if p.role == Role.LICENSEE:
        return p.licensee_id is not None and p.licensee_id == c.licensee_id
    return False


def _with_jws(c: Certificate, jws: str) -> Certificate:
    return replace(c, jws=jws)
