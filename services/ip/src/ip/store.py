"""The ip service's collections, indexes and document mapping.

Collections: holders, assets, registrations, licenses, journal, statements,
periods, unmatched. Documents that carry outbox events: assets, licenses,
journal, statements. No Mongo type leaves this module; callers get records.

The journal is the ledger: one append-only document per posting, holding all
its balanced entries and its outgoing event (see `ip.ledger` for why this is
exactly once without transactions). Two unique keys guard it besides `_id`:
`source_key` (the cause: event id + line, payout reference...) and
`chain_key` (the posting's position in its license's or holder's chain).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ip.domain import LicenseScope, OwnershipEntry, RoyaltyTerms, Share, StatementSection
from ip.royalty import Cumulative, PostedAmounts, Tier
from servicekit.mongo import advance
from servicekit.outbox import push_events

__all__ = [
    "OUTBOX_COLLECTIONS",
    "AssetRecord",
    "Entry",
    "HolderRecord",
    "InsertResult",
    "LicenseRecord",
    "Posting",
    "RegistrationRecord",
    "StatementRecord",
    "Store",
    "ensure_indexes",
]

OUTBOX_COLLECTIONS = ["assets", "licenses", "journal", "statements"]
Doc = dict[str, Any]


# --- records -------------------------------------------------------------------


@dataclass(frozen=True)
class HolderRecord:
    holder_id: str
    kind: str
    name: str
    museum_id: str | None  # the museum it belongs to (a museum: itself)
    payout_details: dict[str, str] | None = None


@dataclass(frozen=True)
class AssetRecord:
    asset_id: str
    museum_id: str
    relic_id: str | None
    title: str
    ownership: tuple[OwnershipEntry, ...]
    opened_at: datetime
    kind: str = "relic"  # relic | design
    version: int = 1


@dataclass(frozen=True)
class RegistrationRecord:
    registration_id: str
    asset_id: str
    museum_id: str
    kind: str  # copyright | trademark | design_patent
    number: str
    jurisdiction: str
    title: str
    nice_class: int | None
    registered_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class LicenseRecord:
    license_id: str
    status: str
    version: int
    museum_id: str
    scope: LicenseScope
    relic_ids: tuple[str, ...]
    terms: RoyaltyTerms
    counter_terms: RoyaltyTerms | None
    applied_at: datetime
    granted_at: datetime | None = None
    ended_at: datetime | None = None  # revoked or expired
    history: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True)
class Entry:
    """One side of a posting; debits positive, credits negative."""

    account: str
    party_id: str
    party_kind: str
    amount_fen: int


@dataclass(frozen=True)
class Posting:
    posting_id: str
    kind: str  # accrual | reversal | advance | shortfall | payout
    source_key: str
    chain_key: str
    period: str
    posted_at: datetime
    entries: tuple[Entry, ...]
    license_id: str | None = None
    licensee_id: str | None = None
    museum_id: str | None = None
    order_id: str | None = None
    line_id: str | None = None
    product_id: str | None = None
    refund_id: str | None = None
    reference: str | None = None
    relic_ids: tuple[str, ...] = ()
    amounts: PostedAmounts = field(default_factory=PostedAmounts)
    license_seq: int | None = None
    cum_after: Cumulative | None = None
    accrual_id: str | None = None


@dataclass(frozen=True)
class StatementRecord:
    statement_id: str  # <holder>:<period>
    holder_id: str
    holder_kind: str
    museum_id: str | None
    period: str
    period_start: datetime
    period_end: datetime
    totals: StatementSection
    sections: tuple[StatementSection, ...]
    issued_at: datetime


class InsertResult(StrEnum):
    INSERTED = "inserted"
    EXISTS = "exists"  # this posting was already there: a redelivery
    CHAIN_TAKEN = "chain_taken"  # another posting took the chain position: retry


# --- mapping -------------------------------------------------------------------


def _share_doc(s: Share) -> Doc:
    return {"holder_id": s.holder_id, "holder_kind": s.holder_kind, "share_bps": s.share_bps}


def ownership_doc(entry: OwnershipEntry) -> Doc:
    return {"effective_at": entry.effective_at, "shares": [_share_doc(s) for s in entry.shares]}


def _ownership(doc: Doc) -> OwnershipEntry:
    return OwnershipEntry(
        doc["effective_at"],
        tuple(Share(s["holder_id"], s["holder_kind"], s["share_bps"]) for s in doc["shares"]),
    )


def terms_doc(t: RoyaltyTerms) -> Doc:
    return {
        "rate_bps": t.rate_bps,
        "minimum_per_unit_fen": t.minimum_per_unit_fen,
        "tier_basis": t.tier_basis,
        "tiers": [{"threshold": x.threshold, "rate_bps": x.rate_bps} for x in t.tiers],
        "advance_fen": t.advance_fen,
        "minimum_guarantee_fen": t.minimum_guarantee_fen,
    }


def _terms(d: Doc) -> RoyaltyTerms:
    return RoyaltyTerms(
        rate_bps=d["rate_bps"],
        minimum_per_unit_fen=d["minimum_per_unit_fen"],
        tier_basis=d["tier_basis"],
        tiers=tuple(Tier(x["threshold"], x["rate_bps"]) for x in d["tiers"]),
        advance_fen=d["advance_fen"],
        minimum_guarantee_fen=d["minimum_guarantee_fen"],
    )


def _holder_doc(h: HolderRecord) -> Doc:
    return {"kind": h.kind, "name": h.name, "museum_id": h.museum_id, "payout": h.payout_details}


def _holder(d: Doc) -> HolderRecord:
    return HolderRecord(d["_id"], d["kind"], d["name"], d.get("museum_id"), d.get("payout"))


def _asset(d: Doc) -> AssetRecord:
    return AssetRecord(
        d["_id"],
        d["museum_id"],
        d.get("relic_id"),
        d.get("title", ""),
        tuple(_ownership(e) for e in d["ownership"]),
        d["opened_at"],
        d.get("kind", "relic"),
        d.get("version", 1),
    )


def asset_doc(a: AssetRecord) -> Doc:
    return {
        "_id": a.asset_id,
        "kind": a.kind,
        "relic_id": a.relic_id,
        "museum_id": a.museum_id,
        "title": a.title,
        "ownership": [ownership_doc(e) for e in a.ownership],
        "opened_at": a.opened_at,
        "version": a.version,
    }


def _registration(d: Doc) -> RegistrationRecord:
    return RegistrationRecord(
        registration_id=d["_id"],
        asset_id=d["asset_id"],
        museum_id=d["museum_id"],
        kind=d["kind"],
        number=d["number"],
        jurisdiction=d["jurisdiction"],
        title=d.get("title", ""),
        nice_class=d.get("nice_class"),
        registered_at=d["registered_at"],
        expires_at=d["expires_at"],
    )


def license_doc(lic: LicenseRecord) -> Doc:
    s = lic.scope
    return {
        "_id": lic.license_id,
        "status": lic.status,
        "version": lic.version,
        "museum_id": lic.museum_id,
        "licensee_id": s.licensee_id,
        "asset_ids": sorted(s.asset_ids),
        "relic_ids": list(lic.relic_ids),
        "categories": sorted(s.categories),
        "territory": s.territory,
        "channels": sorted(s.channels),
        "starts_at": s.starts_at,
        "ends_at": s.ends_at,
        "exclusivity": s.exclusivity,
        "terms": terms_doc(lic.terms),
        "counter_terms": terms_doc(lic.counter_terms) if lic.counter_terms else None,
        "applied_at": lic.applied_at,
        "granted_at": lic.granted_at,
        "ended_at": lic.ended_at,
        "history": list(lic.history),
    }


def _license(d: Doc) -> LicenseRecord:
    return LicenseRecord(
        license_id=d["_id"],
        status=d["status"],
        version=d["version"],
        museum_id=d["museum_id"],
        scope=LicenseScope(
            licensee_id=d["licensee_id"],
            asset_ids=frozenset(d["asset_ids"]),
            categories=frozenset(d["categories"]),
            territory=d["territory"],
            channels=frozenset(d["channels"]),
            starts_at=d["starts_at"],
            ends_at=d["ends_at"],
            exclusivity=d["exclusivity"],
            license_id=d["_id"],
        ),
        relic_ids=tuple(d["relic_ids"]),
        terms=_terms(d["terms"]),
        counter_terms=_terms(d["counter_terms"]) if d.get("counter_terms") else None,
        applied_at=d["applied_at"],
        granted_at=d.get("granted_at"),
        ended_at=d.get("ended_at"),
        history=tuple(d.get("history", [])),
    )


def _amounts_doc(a: PostedAmounts) -> Doc:
    return {
        "quantity": a.quantity,
        "net_sales_fen": a.net_sales_fen,
        "royalty_fen": a.royalty_fen,
        "payable_fen": a.payable_fen,
        "recouped_fen": a.recouped_fen,
    }


def posting_doc(p: Posting) -> Doc:
    return {
        "_id": p.posting_id,
        "kind": p.kind,
        "source_key": p.source_key,
        "chain_key": p.chain_key,
        "period": p.period,
        "posted_at": p.posted_at,
        "entries": [
            {
                "account": e.account,
                "party_id": e.party_id,
                "party_kind": e.party_kind,
                "amount_fen": e.amount_fen,
                # copied into each entry: FerretDB 1.24 drops a document's other
                # fields after $unwind, so per-license sums group on this one
                "license_id": p.license_id,
            }
            for e in p.entries
        ],
        "accounts": sorted({e.account for e in p.entries}),
        "license_id": p.license_id,
        "licensee_id": p.licensee_id,
        "museum_id": p.museum_id,
        "order_id": p.order_id,
        "line_id": p.line_id,
        "product_id": p.product_id,
        "refund_id": p.refund_id,
        "reference": p.reference,
        "relic_ids": list(p.relic_ids),
        **_amounts_doc(p.amounts),
        "license_seq": p.license_seq,
        "cum_after": (
            {
                "units": p.cum_after.units,
                "net_sales_fen": p.cum_after.net_sales_fen,
                "recouped_fen": p.cum_after.recouped_fen,
            }
            if p.cum_after
            else None
        ),
        "accrual_id": p.accrual_id,
    }


def _cumulative(cum: Doc) -> Cumulative:
    return Cumulative(cum["units"], cum["net_sales_fen"], cum["recouped_fen"])


def _posting(d: Doc) -> Posting:
    cum = d.get("cum_after")
    return Posting(
        posting_id=d["_id"],
        kind=d["kind"],
        source_key=d["source_key"],
        chain_key=d["chain_key"],
        period=d["period"],
        posted_at=d["posted_at"],
        entries=tuple(
            Entry(e["account"], e["party_id"], e["party_kind"], e["amount_fen"])
            for e in d["entries"]
        ),
        license_id=d.get("license_id"),
        licensee_id=d.get("licensee_id"),
        museum_id=d.get("museum_id"),
        order_id=d.get("order_id"),
        line_id=d.get("line_id"),
        product_id=d.get("product_id"),
        refund_id=d.get("refund_id"),
        reference=d.get("reference"),
        relic_ids=tuple(d.get("relic_ids", [])),
        amounts=PostedAmounts(
            d["quantity"], d["net_sales_fen"], d["royalty_fen"], d["payable_fen"], d["recouped_fen"]
        ),
        license_seq=d.get("license_seq"),
        cum_after=_cumulative(cum) if cum else None,
        accrual_id=d.get("accrual_id"),
    )


_SECTION_FIELDS = (
    "opening_balance_fen",
    "accrued_fen",
    "reversed_fen",
    "shortfall_fen",
    "advance_fen",
    "payouts_fen",
)


def _section_doc(s: StatementSection) -> Doc:
    return {
        "license_id": s.license_id,
        **{name: getattr(s, name) for name in _SECTION_FIELDS},
        "closing_balance_fen": s.closing_balance_fen,
    }


def _section(d: Doc) -> StatementSection:
    return StatementSection(d.get("license_id"), *(d[name] for name in _SECTION_FIELDS))


def statement_doc(r: StatementRecord) -> Doc:
    totals = _section_doc(r.totals)
    totals.pop("license_id")
    return {
        "_id": r.statement_id,
        "holder_id": r.holder_id,
        "holder_kind": r.holder_kind,
        "museum_id": r.museum_id,
        "period": r.period,
        "period_start": r.period_start,
        "period_end": r.period_end,
        **totals,
        "sections": [_section_doc(x) for x in r.sections],
        "issued_at": r.issued_at,
    }


def _statement(d: Doc) -> StatementRecord:
    return StatementRecord(
        statement_id=d["_id"],
        holder_id=d["holder_id"],
        holder_kind=d["holder_kind"],
        museum_id=d.get("museum_id"),
        period=d["period"],
        period_start=d["period_start"],
        period_end=d["period_end"],
        totals=_section(d),
        sections=tuple(_section(x) for x in d["sections"]),
        issued_at=d["issued_at"],
    )


# --- the store -----------------------------------------------------------------


async def ensure_indexes(db: AsyncDatabase[Doc]) -> None:
    await db.holders.create_index([("museum_id", ASCENDING)])
    await db.assets.create_index([("relic_id", ASCENDING)])
    await db.assets.create_index([("museum_id", ASCENDING)])
    await db.registrations.create_index([("expires_at", ASCENDING)])
    await db.licenses.create_index([("museum_id", ASCENDING)])
    await db.licenses.create_index([("licensee_id", ASCENDING)])
    await db.licenses.create_index([("asset_ids", ASCENDING)])
    await db.licenses.create_index([("status", ASCENDING), ("ends_at", ASCENDING)])
    await db.journal.create_index([("source_key", ASCENDING)], unique=True)
    await db.journal.create_index([("chain_key", ASCENDING)], unique=True)
    await db.journal.create_index([("license_id", ASCENDING), ("license_seq", DESCENDING)])
    await db.journal.create_index([("accounts", ASCENDING), ("period", ASCENDING)])
    await db.journal.create_index([("accrual_id", ASCENDING)])
    await db.journal.create_index([("period", ASCENDING), ("kind", ASCENDING)])
    await db.statements.create_index([("holder_id", ASCENDING), ("period", ASCENDING)])


class Store:
    """Typed access to the ip database."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.db = db
        self.holders: AsyncCollection[Doc] = db.holders
        self.assets: AsyncCollection[Doc] = db.assets
        self.registrations: AsyncCollection[Doc] = db.registrations
        self.licenses: AsyncCollection[Doc] = db.licenses
        self.journal: AsyncCollection[Doc] = db.journal
        self.heads: AsyncCollection[Doc] = db.license_heads  # license -> its chain's head
        self.statements: AsyncCollection[Doc] = db.statements
        self.periods: AsyncCollection[Doc] = db.periods
        self.unmatched: AsyncCollection[Doc] = db.unmatched
        self.locks: AsyncCollection[Doc] = db.locks

    # holders
    async def holder(self, holder_id: str) -> HolderRecord | None:
        doc = await self.holders.find_one({"_id": holder_id})
        return _holder(doc) if doc else None

    async def holders_of(self, museum_id: str | None) -> list[HolderRecord]:
        query = {} if museum_id is None else {"museum_id": museum_id}
        return [_holder(d) async for d in self.holders.find(query).sort("_id", ASCENDING)]

    async def upsert_museum(
        self, museum_id: str, *, name: str, name_en: str, city: str, province: str
    ) -> None:
        """A museum holder, created or refreshed from catalog (idempotent)."""
        fields = {"name": name, "name_en": name_en, "city": city, "province": province}
        await self.holders.update_one(
            {"_id": museum_id},
            {"$set": {"kind": "museum", "museum_id": museum_id, **fields}},
            upsert=True,
        )

    async def ensure_holder(self, holder: HolderRecord) -> None:
        """Create the holder unless it exists (an existing one is left as it is)."""
        await self.holders.update_one(
            {"_id": holder.holder_id},
            {"$setOnInsert": _holder_doc(holder)},
            upsert=True,
        )

    async def insert_holder(self, holder: HolderRecord) -> bool:
        try:
            await self.holders.insert_one({"_id": holder.holder_id, **_holder_doc(holder)})
        except DuplicateKeyError:
            return False
        return True

    async def set_payout_details(self, holder_id: str, details: dict[str, str]) -> None:
        await self.holders.update_one({"_id": holder_id}, {"$set": {"payout": details}})

    # assets
    async def insert_asset(self, asset: AssetRecord, outbox: list[Doc]) -> bool:
        """Insert once (keyed by asset id), with its events; False if it existed."""
        doc = {**asset_doc(asset), "_outbox": outbox}
        try:
            await self.assets.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def add_ownership(
        self, asset: AssetRecord, entry: OwnershipEntry, outbox: list[Doc]
    ) -> bool:
        """Append an ownership entry if the asset is still at `asset.version`."""
        result = await self.assets.update_one(
            {"_id": asset.asset_id, "version": asset.version},
            push_events(
                {"$push": {"ownership": ownership_doc(entry)}, "$inc": {"version": 1}}, outbox
            ),
        )
        return result.modified_count == 1

    async def asset(self, asset_id: str) -> AssetRecord | None:
        doc = await self.assets.find_one({"_id": asset_id})
        return _asset(doc) if doc else None

    async def assets_by_ids(self, asset_ids: Sequence[str]) -> list[AssetRecord]:
        cursor = self.assets.find({"_id": {"$in": list(asset_ids)}})
        return [_asset(d) async for d in cursor]

    async def assets_of(self, museum_id: str | None) -> list[AssetRecord]:
        query = {} if museum_id is None else {"museum_id": museum_id}
        return [_asset(d) async for d in self.assets.find(query).sort("_id", ASCENDING)]

    # registrations
    async def insert_registration(self, r: RegistrationRecord) -> None:
        await self.registrations.insert_one(
            {
                "_id": r.registration_id,
                "asset_id": r.asset_id,
                "museum_id": r.museum_id,
                "kind": r.kind,
                "number": r.number,
                "jurisdiction": r.jurisdiction,
                "title": r.title,
                "nice_class": r.nice_class,
                "registered_at": r.registered_at,
                "expires_at": r.expires_at,
            }
        )

    async def registrations_expiring(
        self, start: datetime, end: datetime, museum_id: str | None
    ) -> list[RegistrationRecord]:
        query: Doc = {"expires_at": {"$gte": start, "$lte": end}}
        if museum_id is not None:
            query["museum_id"] = museum_id
        cursor = self.registrations.find(query).sort("expires_at", ASCENDING)
        return [_registration(d) async for d in cursor]

    # licenses
    async def insert_license(self, lic: LicenseRecord) -> None:
        await self.licenses.insert_one(license_doc(lic))

    async def update_license(
        self,
        lic: LicenseRecord,
        *,
        status: str,
        history: dict[str, str],
        outbox: list[Doc],
        terms: RoyaltyTerms | None = None,
        counter_terms: RoyaltyTerms | None = None,
        granted_at: datetime | None = None,
        ended_at: datetime | None = None,
    ) -> bool:
        """Move a license on from `lic.version`, with its events; False if it moved."""
        fields: Doc = {"status": status, "version": lic.version + 1}
        if terms is not None:
            fields["terms"] = terms_doc(terms)
        if counter_terms is not None:
            fields["counter_terms"] = terms_doc(counter_terms)
        if granted_at is not None:
            fields["granted_at"] = granted_at
        if ended_at is not None:
            fields["ended_at"] = ended_at
        result = await self.licenses.update_one(
            {"_id": lic.license_id, "version": lic.version},
            push_events({"$set": fields, "$push": {"history": history}}, outbox),
        )
        return result.modified_count == 1

    async def licenses_for(
        self,
        *,
        museum_id: str | None = None,
        licensee_id: str | None = None,
        status: str | None = None,
    ) -> list[LicenseRecord]:
        query: Doc = {}
        if museum_id is not None:
            query["museum_id"] = museum_id
        if licensee_id is not None:
            query["licensee_id"] = licensee_id
        if status is not None:
            query["status"] = status
        return await self.licenses_where(query)

    async def licenses_due(self, now: datetime) -> list[LicenseRecord]:
        """Live licenses whose term has ended."""
        return await self.licenses_where(
            {"status": {"$in": ["active", "suspended"]}, "ends_at": {"$lte": now}}
        )

    async def licenses_with_advance(self) -> list[LicenseRecord]:
        return await self.licenses_where(
            {"terms.advance_fen": {"$gt": 0}, "granted_at": {"$ne": None}}
        )

    async def guaranteed_licenses(self, start: datetime, end: datetime) -> list[LicenseRecord]:
        """Granted licenses with a minimum guarantee whose term overlaps [start, end)."""
        return await self.licenses_where(
            {
                "terms.minimum_guarantee_fen": {"$gt": 0},
                "status": {"$in": ["active", "suspended", "revoked", "expired"]},
                "starts_at": {"$lt": end},
                "ends_at": {"$gt": start},
            }
        )

    async def lock_assets(
        self, asset_ids: Sequence[str], *, owner: str, now: datetime, until: datetime
    ) -> bool:
        """Lease a grant lock on every asset (all or none); False if one is held.
        Grants of overlapping assets are thereby serialized: the exclusivity
        check and the grant happen under the lock. An expired lease (a holder
        that crashed) is taken over."""
        taken: list[str] = []
        for asset_id in sorted(asset_ids):
            key = f"grant:{asset_id}"
            try:
                await self.locks.insert_one({"_id": key, "owner": owner, "until": until})
            except DuplicateKeyError:
                stale = await self.locks.update_one(
                    {"_id": key, "until": {"$lt": now}}, {"$set": {"owner": owner, "until": until}}
                )
                if stale.modified_count != 1:
                    await self.unlock_assets(taken, owner=owner)
                    return False
            taken.append(asset_id)
        return True

    async def unlock_assets(self, asset_ids: Sequence[str], *, owner: str) -> None:
        keys = [f"grant:{asset_id}" for asset_id in asset_ids]
        await self.locks.delete_many({"_id": {"$in": keys}, "owner": owner})

    async def license(self, license_id: str) -> LicenseRecord | None:
        doc = await self.licenses.find_one({"_id": license_id})
        return _license(doc) if doc else None

    async def licenses_where(self, query: Doc) -> list[LicenseRecord]:
        return [_license(d) async for d in self.licenses.find(query).sort("_id", ASCENDING)]

    async def live_licenses_on(self, asset_ids: Sequence[str]) -> list[LicenseRecord]:
        return await self.licenses_where(
            {"asset_ids": {"$in": list(asset_ids)}, "status": {"$in": ["active", "suspended"]}}
        )

    # journal
    async def insert_posting(self, posting: Posting, outbox: list[Doc]) -> InsertResult:
        if sum(e.amount_fen for e in posting.entries) != 0:
            raise AssertionError(f"posting {posting.posting_id} is not balanced")
        doc = posting_doc(posting)
        if outbox:
            doc["_outbox"] = outbox
        try:
            await self.journal.insert_one(doc)
        except DuplicateKeyError:
            if await self.journal.find_one({"_id": posting.posting_id}) is not None:
                return InsertResult.EXISTS
            if await self.journal.find_one({"source_key": posting.source_key}) is not None:
                return InsertResult.EXISTS
            return InsertResult.CHAIN_TAKEN
        if posting.license_id and posting.license_seq:
            await advance(
                self.heads, posting.license_id, posting.license_seq, {"cum_after": doc["cum_after"]}
            )
        return InsertResult.INSERTED

    async def posting(self, posting_id: str) -> Posting | None:
        doc = await self.journal.find_one({"_id": posting_id})
        return _posting(doc) if doc else None

    async def license_head(self, license_id: str, *, exact: bool = False) -> tuple[int, Cumulative]:
        """A position in a license's chain and the cumulative state after it:
        the last one when `exact` (read from the journal, which FerretDB
        answers by reading the whole collection), else the head pointer (one
        lookup by _id). The pointer is written after each posting, not with
        it, so it may lag: a posting built on it then collides on the chain's
        unique key, and the caller retries with `exact`."""
        if not exact:
            head = await self.heads.find_one({"_id": license_id})
            if head is not None:
                return head["seq"], _cumulative(head["cum_after"])
        doc = await self.journal.find_one(
            {"license_id": license_id, "license_seq": {"$gt": 0}},
            sort=[("license_seq", DESCENDING)],
        )
        if doc is None:
            return 0, Cumulative()
        await advance(self.heads, license_id, doc["license_seq"], {"cum_after": doc["cum_after"]})
        return doc["license_seq"], _cumulative(doc["cum_after"])

    async def reversals_of(self, accrual_id: str) -> list[Posting]:
        return [_posting(d) async for d in self.journal.find({"accrual_id": accrual_id})]

    async def postings(self, query: Doc, *, limit: int = 0) -> list[Posting]:
        cursor = self.journal.find(query).sort([("posted_at", ASCENDING), ("_id", ASCENDING)])
        if limit:
            cursor = cursor.limit(limit)
        return [_posting(d) async for d in cursor]

    async def count_postings(self, query: Doc) -> int:
        return await self.journal.count_documents(query)

    async def postings_of_account(
        self, account: str, *, period: str | None = None, limit: int = 0
    ) -> list[Posting]:
        query: Doc = {"accounts": account}
        if period is not None:
            query["period"] = period
        return await self.postings(query, limit=limit)

    async def earnings_postings(self, license_id: str, period: str) -> list[Posting]:
        """A license's accruals and reversals in one period."""
        return await self.postings(
            {"license_id": license_id, "period": period, "kind": {"$in": ["accrual", "reversal"]}}
        )

    async def count_payouts(self, account: str) -> int:
        return await self.count_postings({"kind": "payout", "accounts": account})

    async def unmatched_lines(self, limit: int = 1000) -> list[tuple[str, str, str | None]]:
        """(posting id, reason, event id) of lines that could not be posted."""
        cursor = self.unmatched.find({}).sort("_id", ASCENDING).limit(limit)
        return [(d["_id"], d["reason"], d.get("event_id")) async for d in cursor]

    async def balances(self, match: Doc, group_by: str = "$entries.account") -> dict[Any, int]:
        """Sum of entry amounts by `group_by` (a field of the entry: FerretDB
        1.24 loses the posting's own fields after $unwind), over postings
        matching `match`; only entries whose account matches `match['accounts']`."""
        pipeline: list[Doc] = [{"$match": match}, {"$unwind": "$entries"}]
        if "accounts" in match:
            pipeline.append({"$match": {"entries.account": match["accounts"]}})
        pipeline.append({"$group": {"_id": group_by, "total": {"$sum": "$entries.amount_fen"}}})
        result: dict[Any, int] = {}
        async for row in await self.journal.aggregate(pipeline):
            result[row["_id"]] = int(row["total"])
        return result

    async def insert_statement(self, record: StatementRecord, outbox: list[Doc]) -> bool:
        doc = statement_doc(record)
        if outbox:
            doc["_outbox"] = outbox
        try:
            await self.statements.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def statement(self, statement_id: str) -> StatementRecord | None:
        doc = await self.statements.find_one({"_id": statement_id})
        return _statement(doc) if doc else None

    async def statements_of(self, holder_id: str) -> list[StatementRecord]:
        cursor = self.statements.find({"holder_id": holder_id}).sort("period", ASCENDING)
        return [_statement(d) async for d in cursor]

    async def account_balance(self, account: str) -> int:
        """An account's raw sum (debits positive)."""
        return (await self.balances({"accounts": account})).get(account, 0)

    async def account_sums(self, *, up_to_period: str | None = None) -> dict[str, int]:
        """Every account's raw sum, over all postings or those up to a period."""
        match: Doc = {} if up_to_period is None else {"period": {"$lte": up_to_period}}
        return {str(k): v for k, v in (await self.balances(match)).items()}

    async def sums_by_license(self, account: str, *, before_period: str) -> dict[str | None, int]:
        """An account's raw sums per license over the periods before one."""
        rows = await self.balances(
            {"accounts": account, "period": {"$lt": before_period}},
            group_by="$entries.license_id",
        )
        return {(None if k is None else str(k)): v for k, v in rows.items()}

    # periods
    async def last_closed(self) -> str | None:
        doc = await self.periods.find_one({"_id": "close"})
        return doc["last_closed"] if doc else None

    async def advance_last_closed(self, expected: str | None, period: str) -> bool:
        """Move the close watermark from `expected` to `period`; False if it moved meanwhile."""
        if expected is None:
            try:
                await self.periods.insert_one({"_id": "close", "last_closed": period})
            except DuplicateKeyError:
                return False
            return True
        result = await self.periods.update_one(
            {"_id": "close", "last_closed": expected}, {"$set": {"last_closed": period}}
        )
        return result.modified_count == 1

    async def record_unmatched(self, key: str, reason: str, detail: Doc) -> None:
        try:
            await self.unmatched.insert_one({"_id": key, "reason": reason, **detail})
        except DuplicateKeyError:
            pass
