"""The verification counters and counterfeit reports, every command by `_id`
(ip.counterfeit says how the buckets are laid out; ip.hot_queries lists the
shapes). Both collections carry outbox events: a verification's event rides
on its day counter's `$inc`, a report's on the `$push` into its chunk.

A report first takes its ordinal from the day counter (one
find-and-modify), then lands in the chunk that ordinal names. A crash
between the two leaves a counted ordinal with no report: the page shows one
fewer, and the reporter, who got an error, may send it again.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from contracts.ip import CertificateVerified, CounterfeitReported
from ip.book_docs import by_id, by_ids
from ip.counterfeit import REPORT_CHUNK, Report, checks_id, chunk_id, day_of, field_key
from servicekit.outbox import mark_pending, outbox_entry, push_events

__all__ = ["CHECKS", "REPORTS", "WATCH_OUTBOX", "WatchStore", "report_doc", "report_of"]

Doc = dict[str, Any]
CHECKS, REPORTS = "cert_checks", "cert_reports"
WATCH_OUTBOX = [CHECKS, REPORTS]


def report_doc(r: Report) -> Doc:
    return {
        "report_id": r.report_id,
        "i": r.ordinal,
        "at": r.reported_at,
        "serial": r.serial,
        "serial_status": r.serial_status,
        "museum_id": r.museum_id,
        "product_id": r.product_id,
        "license_id": r.license_id,
        "where_seen": r.where_seen,
        "photo_url": r.photo_url,
        "text": r.text,
    }


def report_of(d: Doc) -> Report:
    return Report(
        report_id=d["report_id"],
        ordinal=int(d["i"]),
        reported_at=d["at"],
        serial=d.get("serial"),
        serial_status=d.get("serial_status", "none"),
        museum_id=d.get("museum_id"),
        product_id=d.get("product_id"),
        license_id=d.get("license_id"),
        where_seen=d.get("where_seen", ""),
        photo_url=d.get("photo_url"),
        text=d.get("text", ""),
    )


def _on_insert(museum_id: str | None, day: str) -> Doc:
    return {"museum_id": museum_id, "day": day}


class WatchStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.checks: AsyncCollection[Doc] = db[CHECKS]
        self.reports: AsyncCollection[Doc] = db[REPORTS]
        self.holders: AsyncCollection[Doc] = db["holders"]
        self.assets: AsyncCollection[Doc] = db["assets"]

    async def count_verification(self, event: CertificateVerified) -> None:
        """One more check of the day (per status, per product) and its event:
        a marker, then one upsert by `_id`."""
        day = day_of(event.verified_at)
        doc_id = checks_id(event.museum_id, day)
        inc: dict[str, int] = {event.status: 1}
        if event.product_id is not None:
            inc[f"products.{field_key(event.product_id)}.{event.status}"] = 1
        entry = outbox_entry(event, source="ip", event_id=event.check_id)
        update = push_events(
            {"$inc": inc, "$setOnInsert": _on_insert(event.museum_id, day)}, [entry]
        )
        await mark_pending(self.checks, doc_id)
        await self.checks.update_one(by_id(doc_id), update, upsert=True)

    async def next_ordinal(self, museum_id: str | None, status: str, at: datetime) -> int:
        """Count the report on its day and return its ordinal (from 0)."""
        day = day_of(at)
        doc = await self.checks.find_one_and_update(
            by_id(checks_id(museum_id, day)),
            {
                "$inc": {"reports": 1, f"reports_{status}": 1},
                "$setOnInsert": _on_insert(museum_id, day),
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,  # (the local store takes no projection here)
        )
        assert doc is not None  # an upsert returning the document after
        return int(doc["reports"]) - 1

    async def add_report(self, report: Report, event: CounterfeitReported) -> None:
        day = day_of(report.reported_at)
        doc_id = chunk_id(report.museum_id, day, report.ordinal // REPORT_CHUNK)
        entry = outbox_entry(event, source="ip", event_id=report.report_id)
        update = push_events(
            {
                "$push": {"items": report_doc(report)},
                "$setOnInsert": _on_insert(report.museum_id, day),
            },
            [entry],
        )
        await mark_pending(self.reports, doc_id)
        await self.reports.update_one(by_id(doc_id), update, upsert=True)

    async def day_counters(self, ids: Sequence[str]) -> dict[str, Doc]:
        if not ids:
            return {}
        found = self.checks.find(by_ids(list(ids)), {"_outbox": 0})
        return {d["_id"]: d async for d in found}

    async def chunks(self, ids: Sequence[str]) -> list[Report]:
        if not ids:
            return []
        found = self.reports.find(by_ids(list(ids)), {"items": 1})
        return [report_of(item) async for d in found for item in d.get("items", [])]

    # --- what the public page names (ip's own replicas of catalog's facts) ------

    async def museum_names(self, museum_id: str) -> Doc | None:
        return await self.holders.find_one(by_id(museum_id), {"name": 1, "name_en": 1, "kind": 1})

    async def relic_titles(self, relic_ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
        """Each relic's names: (Chinese, or English when it has none; English)."""
        if not relic_ids:
            return {}
        ids = [f"relic-{r}" for r in relic_ids]
        found = self.assets.find(by_ids(ids), {"title": 1, "title_en": 1, "relic_id": 1})
        return {
            str(d.get("relic_id")): (str(d.get("title", "")), d.get("title_en"))
            async for d in found
        }
