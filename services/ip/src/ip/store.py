"""The ip service's collections, indexes and document mapping.

Records and their mapping live in ip.records (re-exported here).

Collections: holders, assets, registrations, licenses, journal, statements,
periods, unmatched. Documents that carry outbox events: assets, licenses,
journal, statements. No Mongo type leaves this module; callers get records.

The journal is the ledger: one append-only document per posting, holding all
its balanced entries and its outgoing event (see `ip.ledger` for why this is
exactly once without transactions). Two unique keys guard it besides `_id`:
`source_key` (the cause: event id + line, payout reference...) and
`chain_key` (the posting's position in its license's or holder's chain).

Hot paths read by `_id` only (see ip.hot_queries): the journal by posting id,
a license's chain head from `license_heads`, an accrual's reversals from
`accrual_reversals` (the ids, then `$in`), balances and ledger pages from the
books (ip.books). The order consumer's batch reads and writes are in
ip.journal. Methods that filter on anything else say so: they serve
the operator's month close, admin lists or tests, never a request, a consumer
or the scheduler.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ip.book_docs import by_id, by_ids
from ip.books import Books
from ip.domain import ApprovalReference, OwnershipEntry, RoyaltyTerms
from ip.recent_postings import RecentPostings
from ip.records import (
    AssetRecord,
    Entry,
    HolderRecord,
    InsertResult,
    LicenseRecord,
    Posting,
    RegistrationRecord,
    StatementRecord,
    approval_doc,
    asset_doc,
    license_doc,
    ownership_doc,
    terms_doc,
)
from ip.records import asset_of as _asset
from ip.records import holder_doc as _holder_doc
from ip.records import holder_of as _holder
from ip.records import license_of as _license
from ip.records import registration_of as _registration
from ip.store_journal import CLOSE, JournalStore, book_lines, close_at
from servicekit.outbox import attach_events, mark_pending, push_events

__all__ = [
    "CLOSE",
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
    "at_version",
    "book_lines",
    "by_id",
    "by_ids",
    "close_at",
    "owned_locks",
    "stale_lock",
    "ensure_indexes",
]

OUTBOX_COLLECTIONS = ["assets", "licenses", "journal", "statements"]
Doc = dict[str, Any]


# --- filters (ip.hot_queries lists the hot ones, built by these) ------------------


def at_version(doc_id: str, version: int) -> Doc:
    """The document, unless another write moved it past `version`."""
    return {"_id": doc_id, "version": version}


def stale_lock(key: str, now: datetime) -> Doc:
    """A grant lock whose lease has run out (its holder crashed)."""
    return {"_id": key, "until": {"$lt": now}}


def owned_locks(keys: Sequence[str], owner: str) -> Doc:
    return {"_id": {"$in": list(keys)}, "owner": owner}


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


class Store(JournalStore):
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
        # accrual id -> the ids of its reversals, noted before each is inserted
        self.reversal_index: AsyncCollection[Doc] = db.accrual_reversals
        # order id -> the ids of its postings (accruals, reversals): by-order reads
        self.order_index: AsyncCollection[Doc] = db.order_postings
        self.books = Books(db)
        self.recent_postings = RecentPostings()  # ledger pages read again

    # holders
    async def holder(self, holder_id: str) -> HolderRecord | None:
        doc = await self.holders.find_one(by_id(holder_id))
        return _holder(doc) if doc else None

    async def holders_of(self, museum_id: str | None) -> list[HolderRecord]:
        # admin list: holders do not grow with orders (a scan of the catalog)
        query = {} if museum_id is None else {"museum_id": museum_id}
        return [_holder(d) async for d in self.holders.find(query).sort("_id", ASCENDING)]

    async def upsert_museum(
        self, museum_id: str, *, name: str, name_en: str, city: str, province: str
    ) -> None:
        """A museum holder, created or refreshed from catalog (idempotent)."""
        fields = {"name": name, "name_en": name_en, "city": city, "province": province}
        await self.holders.update_one(
            by_id(museum_id),
            {"$set": {"kind": "museum", "museum_id": museum_id, **fields}},
            upsert=True,
        )

    async def ensure_holder(self, holder: HolderRecord) -> None:
        """Create the holder unless it exists (an existing one is left as it is)."""
        await self.holders.update_one(
            by_id(holder.holder_id),
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
        await self.holders.update_one(by_id(holder_id), {"$set": {"payout": details}})

    # assets
    async def insert_asset(self, asset: AssetRecord, outbox: list[Doc]) -> bool:
        """Insert once (keyed by asset id), with its events; False if it existed."""
        await mark_pending(self.assets, asset.asset_id)
        doc = attach_events(asset_doc(asset), outbox)
        try:
            await self.assets.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def add_ownership(
        self, asset: AssetRecord, entry: OwnershipEntry, outbox: list[Doc]
    ) -> bool:
        """Append an ownership entry if the asset is still at `asset.version`."""
        await mark_pending(self.assets, asset.asset_id)
        result = await self.assets.update_one(
            at_version(asset.asset_id, asset.version),
            push_events(
                {"$push": {"ownership": ownership_doc(entry)}, "$inc": {"version": 1}}, outbox
            ),
        )
        return result.modified_count == 1

    async def revise_asset(
        self,
        asset: AssetRecord,
        *,
        grade: str | None,
        titles: tuple[str, str | None],
        entry: OwnershipEntry | None,
        outbox: list[Doc],
    ) -> bool:
        """Set a relic's grade and names (Chinese, English) and append an
        ownership entry (if any), if the asset is still at `asset.version`,
        with its events."""
        title, title_en = titles
        changes = {"protection_grade": grade, "title": title, "title_en": title_en}
        update: Doc = {"$set": changes, "$inc": {"version": 1}}
        if entry is not None:
            update["$push"] = {"ownership": ownership_doc(entry)}
        if outbox:
            await mark_pending(self.assets, asset.asset_id)
            update = push_events(update, outbox)
        result = await self.assets.update_one(at_version(asset.asset_id, asset.version), update)
        return result.modified_count == 1

    async def asset(self, asset_id: str) -> AssetRecord | None:
        doc = await self.assets.find_one(by_id(asset_id))
        return _asset(doc) if doc else None

    async def assets_by_ids(self, asset_ids: Sequence[str]) -> list[AssetRecord]:
        cursor = self.assets.find(by_ids(asset_ids))
        return [_asset(d) async for d in cursor]

    async def assets_of(self, museum_id: str | None) -> list[AssetRecord]:
        # admin list: assets do not grow with orders (a scan of the catalog)
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
        # admin list over registrations, which do not grow with orders
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
        if outbox:
            await mark_pending(self.licenses, lic.license_id)
        result = await self.licenses.update_one(
            at_version(lic.license_id, lic.version),
            push_events({"$set": fields, "$push": {"history": history}}, outbox),
        )
        return result.modified_count == 1

    async def set_approval(
        self, lic: LicenseRecord, approval: ApprovalReference, history: dict[str, str]
    ) -> bool:
        """Record the approval reference on a license still at `lic.version`."""
        result = await self.licenses.update_one(
            at_version(lic.license_id, lic.version),
            {
                "$set": {"approval": approval_doc(approval), "version": lic.version + 1},
                "$push": {"history": history},
            },
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
                    stale_lock(key, now), {"$set": {"owner": owner, "until": until}}
                )
                if stale.modified_count != 1:
                    await self.unlock_assets(taken, owner=owner)
                    return False
            taken.append(asset_id)
        return True

    async def unlock_assets(self, asset_ids: Sequence[str], *, owner: str) -> None:
        keys = [f"grant:{asset_id}" for asset_id in asset_ids]
        await self.locks.delete_many(owned_locks(keys, owner))

    async def license(self, license_id: str) -> LicenseRecord | None:
        doc = await self.licenses.find_one(by_id(license_id))
        return _license(doc) if doc else None

    async def licenses_where(self, query: Doc) -> list[LicenseRecord]:
        # a scan of licenses (they do not grow with orders): admin lists, the
        # month close and the license marketplace, never the order consumer
        return [_license(d) async for d in self.licenses.find(query).sort("_id", ASCENDING)]

    async def live_licenses_on(self, asset_ids: Sequence[str]) -> list[LicenseRecord]:
        return await self.licenses_where(
            {"asset_ids": {"$in": list(asset_ids)}, "status": {"$in": ["active", "suspended"]}}
        )
