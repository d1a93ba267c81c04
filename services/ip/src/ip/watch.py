"""Watching for counterfeits, the use cases: every public verification is
counted (and published), anyone may report a suspect item, and a museum
reads its reports and verification counts per product.

A verification costs the certificate's two reads by `_id` plus a marker and
one upsert; a report one more read (the serial, or the named museum), a
find-and-modify and a marker and one upsert (ip.watch_store).
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from contracts.ip import CertificateVerified, CounterfeitReported
from ip.authenticity import Authenticity
from ip.certificates import Certificate
from ip.counterfeit import (
    MAX_DAYS,
    Report,
    checks_id,
    day_of,
    days_between,
    decode_cursor,
    plan_page,
    unfield_key,
)
from ip.errors import BadInput, MalformedCertificateSerial, UnknownCertificate, UnknownThing
from ip.serials import MalformedSerial, parse_serial
from ip.watch_store import WatchStore
from servicekit.auth import Principal

__all__ = ["CertCard", "NewReport", "ProductChecks", "ReportsPage", "Watch"]

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class CertCard:
    """What the public page shows of a certificate (names from ip's replicas
    of catalog's museums and relics; ids where a name is unknown)."""

    cert: Certificate
    museum_name_zh: str | None
    museum_name_en: str | None
    relic_titles: dict[str, tuple[str, str | None]]  # relic id -> (Chinese, English)


@dataclass(frozen=True)
class NewReport:
    """Validated by the API's schema already: plain text, bounded lengths."""

    where_seen: str
    serial: str | None = None
    museum_id: str | None = None
    photo_url: str | None = None
    text: str = ""


@dataclass
class ProductChecks:
    product_id: str
    valid: int = 0
    revoked: int = 0


@dataclass
class ReportsPage:
    museum_id: str
    start: date
    end: date
    verifications_valid: int = 0
    verifications_revoked: int = 0
    verifications_unknown: int = 0  # only under UNATTRIBUTED: no museum is known
    reports: int = 0
    reports_unknown: int = 0
    reports_revoked: int = 0
    products: list[ProductChecks] = field(default_factory=list)
    items: list[Report] = field(default_factory=list)
    next_cursor: str | None = None


class Watch:
    def __init__(self, authenticity: Authenticity, store: WatchStore, clock: Clock) -> None:
        self._auth = authenticity
        self._store = store
        self._clock = clock

    async def verify(self, serial_text: str) -> Certificate:
        """Authenticity.verify, counted: a valid, revoked or unknown serial
        is a check (an event); a malformed one is not."""
        try:
            cert = await self._auth.verify(serial_text)
        except UnknownCertificate:
            await self._count(parse_serial(serial_text), None)
            raise
        await self._count(cert.serial, cert)
        return cert

    async def card(self, cert: Certificate) -> CertCard:
        museum = await self._store.museum_names(cert.museum_id) if cert.museum_id else None
        titles = await self._store.relic_titles(list(cert.relic_ids))
        return CertCard(
            cert,
            (museum or {}).get("name"),
            (museum or {}).get("name_en"),
            titles,
        )

    async def _count(self, serial: str, cert: Certificate | None) -> None:
        await self._store.count_verification(
            CertificateVerified(
                check_id=f"chk-{uuid.uuid4().hex}",
                serial=serial,
                status="unknown" if cert is None else _status(cert),
                museum_id=cert.museum_id if cert else None,
                product_id=cert.product_id if cert else None,
                license_id=cert.license_id if cert else None,
                verified_at=self._clock(),
            )
        )

    async def report(self, new: NewReport) -> Report:
        """Store and publish a report. The certificate's museum wins over the
        one the reporter named; a named museum must be one ip knows."""
        serial, status, cert = await self._resolve(new.serial)
        museum_id = cert.museum_id if cert is not None else None
        if museum_id is None and new.museum_id:
            found = await self._store.museum_names(new.museum_id)
            if found is None or found.get("kind") != "museum":
                raise BadInput(f"no museum {new.museum_id!r} is known")
            museum_id = new.museum_id
        at = self._clock()
        ordinal = await self._store.next_ordinal(museum_id, status, at)
        report = Report(
            report_id=f"rpt-{uuid.uuid4().hex}",
            ordinal=ordinal,
            reported_at=at,
            serial=serial,
            serial_status=status,
            museum_id=museum_id,
            product_id=cert.product_id if cert else None,
            license_id=cert.license_id if cert else None,
            where_seen=new.where_seen,
            photo_url=new.photo_url,
            text=new.text,
        )
        await self._store.add_report(report, _reported(report))
        return report

    async def _resolve(self, text: str | None) -> tuple[str | None, str, Certificate | None]:
        """(serial as stored, its status, its certificate). A counterfeit's
        serial often fails its check character: kept as typed, `unknown`."""
        if not text:
            return None, "none", None
        try:
            cert = await self._auth.verify(text)
        except (MalformedCertificateSerial, UnknownCertificate):
            try:
                return parse_serial(text), "unknown", None
            except MalformedSerial:
                return text.upper().replace(" ", ""), "unknown", None
        return cert.serial, _status(cert), cert

    async def museum_reports(
        self,
        principal: Principal,
        museum_id: str,
        *,
        start: date,
        end: date,
        limit: int,
        cursor: str | None,
    ) -> ReportsPage:
        if not principal.can_act_for_museum(museum_id):
            raise UnknownThing("museum reports", museum_id)  # someone else's: 404
        if start > end:
            raise BadInput("`from` must not be after `to`")
        if (end - start).days >= MAX_DAYS:
            raise BadInput(f"a page covers at most {MAX_DAYS} days")
        position = None
        if cursor:
            try:
                position = decode_cursor(cursor)
            except ValueError as exc:
                raise BadInput("not a cursor this route gave") from exc
        days = days_between(start, end)
        counters = await self._store.day_counters([checks_id(museum_id, d) for d in days])
        page = _tally(ReportsPage(museum_id, start, end), list(counters.values()))
        per_day = {d: counters.get(checks_id(museum_id, d), {}) for d in days}
        counts = [(d, int(per_day[d].get("reports", 0))) for d in days]
        plan = plan_page(museum_id, counts, limit=limit, cursor=position)
        found = await self._store.chunks(plan.chunks)
        by_key = {(day_of(r.reported_at), r.ordinal): r for r in found}
        page.items = [by_key[w] for w in plan.wanted if w in by_key]
        page.next_cursor = plan.next_cursor
        return page


def _tally(page: ReportsPage, counters: list[dict[str, Any]]) -> ReportsPage:
    """The range's counts: the day counters added up, per product too."""
    products: dict[str, ProductChecks] = {}
    for doc in counters:
        page.verifications_valid += int(doc.get("valid", 0))
        page.verifications_revoked += int(doc.get("revoked", 0))
        page.verifications_unknown += int(doc.get("unknown", 0))
        page.reports += int(doc.get("reports", 0))
        page.reports_unknown += int(doc.get("reports_unknown", 0))
        page.reports_revoked += int(doc.get("reports_revoked", 0))
        for key, counts in (doc.get("products") or {}).items():
            p = products.setdefault(key, ProductChecks(unfield_key(key)))
            p.valid += int(counts.get("valid", 0))
            p.revoked += int(counts.get("revoked", 0))
    page.products = sorted(products.values(), key=lambda p: (-(p.valid + p.revoked), p.product_id))
    return page


def _status(cert: Certificate) -> str:
    return "revoked" if cert.status == "revoked" else "valid"


def _reported(r: Report) -> CounterfeitReported:
    return CounterfeitReported(
        report_id=r.report_id,
        serial=r.serial,
        serial_status=r.serial_status,
        museum_id=r.museum_id,
        product_id=r.product_id,
        license_id=r.license_id,
        where_seen=r.where_seen,
        photo_url=r.photo_url,
        text=r.text,
        reported_at=r.reported_at,
    )
