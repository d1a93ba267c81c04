"""The catalog's collections and indexes. No Mongo type leaves this module:
callers get domain objects (the mapping is catalog.docs). Stock lives apart,
in the append-only ledger (catalog.ledger).

Every command of a hot path names its documents by `_id` (catalog.filters,
listed in catalog.hot_queries): the local store serves nothing else from an
index. Writes that carry events announce them first (`mark_pending`, see
servicekit.outbox); product changes are announced to the search index's
change feed (catalog.feed) before they land.
"""

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from catalog.docs import (
    museum_from_doc,
    outbox,
    plain,
    product_from_doc,
    product_state_doc,
    relic_from_doc,
    to_ms,
)
from catalog.domain import Museum, Product, Relic
from catalog.errors import DuplicateSku
from catalog.feed import DIRECTORY, PRODUCTS_DIRECTORY, ChangeFeed, FeedPosition
from catalog.filters import by_id, by_ids
from catalog.ledger import StockLedger, ensure_ledger_indexes
from catalog.search_index import Entry, IndexDelta
from catalog.store_licenses import LicenseReplica
from catalog.store_versions import VersionedStore
from servicekit.outbox import OUTBOX, attach_events, mark_pending
from servicekit.relay import LEASE, LEASE_BY

__all__ = [
    "OUTBOX_COLLECTIONS",
    "CatalogStore",
    "ensure_indexes",
    "list_existing_products",
]

OUTBOX_COLLECTIONS = ["museums", "relics", "products", "changes", "reservations"]
Doc = dict[str, Any]
_BACKFILLED = "backfilled-v1"  # the directories were filled from the products once
_LOAD_BATCH = 500  # ids per `$in` of a full load
_NOT_SHOWN = {OUTBOX: 0, LEASE: 0, LEASE_BY: 0}  # what the relay keeps on a document


async def ensure_indexes(db: AsyncDatabase[Doc]) -> None:
    products = db["products"]
    # the only product index: SKUs are unique (an insert checks it). Searches
    # and lists read the in-memory index (catalog.search_index), not these
    await products.create_index([("sku", ASCENDING)], unique=True, name="sku_unique")
    await ensure_ledger_indexes(db)
    # relics by museum: an admin/browse list of the catalog (not history)
    await db["relics"].create_index([("museum_id", ASCENDING), ("_id", ASCENDING)], name="museum")
    await list_existing_products(db)


async def list_existing_products(db: AsyncDatabase[Doc]) -> None:
    """Startup, once per database: put products created before the
    directories existed into the product directory and their license's list.
    A scan of the products, on purpose (startup, not a hot path; the catalog
    is not history); new products are listed before they are inserted."""
    directory = db[DIRECTORY]
    if await directory.find_one(by_id(_BACKFILLED)) is not None:
        return
    pairs = [
        (d["_id"], d.get("license_id")) async for d in db["products"].find({}, {"license_id": 1})
    ]
    if pairs:
        await directory.update_one(
            by_id(PRODUCTS_DIRECTORY),
            {"$addToSet": {"ids": {"$each": [p for p, _ in pairs]}}},
            upsert=True,
        )
        by_license: dict[str, list[str]] = {}
        for product_id, license_id in pairs:
            if license_id:
                by_license.setdefault(license_id, []).append(product_id)
        if by_license:
            await db["licenses"].bulk_write(
                [
                    UpdateOne(by_id(lic), {"$addToSet": {"product_ids": {"$each": ids}}})
                    for lic, ids in by_license.items()
                ],
                ordered=False,
            )
    await directory.update_one(by_id(_BACKFILLED), {"$set": {"at": datetime.now(UTC)}}, upsert=True)


class CatalogStore(LicenseReplica, VersionedStore):
    """Museums, relics and products (saved through the version log,
    catalog.store_versions), the license replica (catalog.store_licenses),
    and what the search index loads."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.museums: AsyncCollection[Doc] = db["museums"]
        self.relics: AsyncCollection[Doc] = db["relics"]
        self.products: AsyncCollection[Doc] = db["products"]
        self.licenses: AsyncCollection[Doc] = db["licenses"]
        self.changes: AsyncCollection[Doc] = db["changes"]
        self.ledger = StockLedger(db)
        self.feed = ChangeFeed(db)

    # --- museums ---------------------------------------------------------------

    async def add_museum(self, museum: Museum) -> None:
        doc = plain(museum)
        doc["created_ms"] = to_ms(museum.created_at)
        await self._insert_with_events(self.museums, doc, museum.events)

    async def museum(self, museum_id: str) -> Museum | None:
        doc = await self._current(self.museums, "museum", museum_id)
        return museum_from_doc(doc) if doc else None

    async def save_museum(self, museum: Museum, expected_version: int) -> None:
        doc = plain(museum)
        doc.pop("_id")
        await self._save(self.museums, "museum", museum.id, expected_version, doc, museum.events)

    async def list_museums(self, after: str | None, limit: int) -> list[Museum]:
        # not by `_id` on purpose: museums are the platform's catalog (a few
        # dozen), not history, so reading them does not grow with orders
        query: Doc = {"_id": {"$gt": after}} if after else {}
        cursor = self.museums.find(query).sort("_id", ASCENDING).limit(limit)
        docs = [await self._rolled(self.museums, "museum", d) async for d in cursor]
        return [museum_from_doc(d) for d in docs]

    # --- relics ----------------------------------------------------------------

    async def add_relic(self, relic: Relic) -> None:
        doc = plain(relic)
        doc["created_ms"] = to_ms(relic.created_at)
        await self._insert_with_events(self.relics, doc, relic.events)

    async def add_relics(self, relics: Sequence[Relic]) -> int:
        """Insert relics with deterministic ids; ones already there (an
        earlier, interrupted run of the same import) are left alone.
        Returns how many were new."""
        docs = []
        for relic in relics:
            doc = plain(relic)
            doc["created_ms"] = to_ms(relic.created_at)
            docs.append(attach_events(doc, outbox(relic.events)))
        if not docs:
            return 0
        await mark_pending(self.relics, *(d["_id"] for d in docs if OUTBOX in d))
        try:
            result = await self.relics.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != 11000 for e in errors):
                raise
            return int(exc.details.get("nInserted", len(docs) - len(errors)))
        return len(result.inserted_ids)

    async def relic(self, relic_id: str) -> Relic | None:
        doc = await self._current(self.relics, "relic", relic_id)
        return relic_from_doc(doc) if doc else None

    async def relics_by_id(self, relic_ids: Sequence[str]) -> dict[str, Relic]:
        if not relic_ids:
            return {}
        docs = self.relics.find(by_ids(relic_ids))
        return {d["_id"]: relic_from_doc(d) async for d in docs}

    async def save_relic(self, relic: Relic, expected_version: int) -> None:
        doc = plain(relic)
        doc.pop("_id")
        await self._save(self.relics, "relic", relic.id, expected_version, doc, relic.events)

    async def list_relics(
        self, museum_id: str | None, after: str | None, limit: int
    ) -> list[Relic]:
        # not by `_id` on purpose: relics are a museum's collection, not
        # history (they do not grow with orders); browsing reads them
        query: Doc = {}
        if museum_id:
            query["museum_id"] = museum_id
        if after:
            query["_id"] = {"$gt": after}
        cursor = self.relics.find(query).sort("_id", ASCENDING).limit(limit)
        docs = [await self._rolled(self.relics, "relic", d) async for d in cursor]
        return [relic_from_doc(d) for d in docs]

    # --- products --------------------------------------------------------------

    async def add_product(self, product: Product) -> None:
        """Listed first (the directory, its license's list, the change feed):
        an id listed whose insert then failed is skipped by every reader."""
        doc = product_state_doc(product)
        doc["_id"] = product.id
        doc["created_ms"] = to_ms(product.created_at)
        await self.feed.list_product(product.id)
        if product.license_id:
            await self.licenses.update_one(
                by_id(product.license_id), {"$addToSet": {"product_ids": product.id}}
            )
        await self.feed.announce(products=[product.id])
        try:
            await self._insert_with_events(self.products, doc, product.events)
        except DuplicateKeyError as exc:
            raise DuplicateSku(product.sku) from exc
        if product.stock:
            await self.ledger.set_to(product.id, product.stock, op=f"{product.id}:initial")

    async def product(self, product_id: str) -> Product | None:
        doc = await self._current(self.products, "product", product_id)
        if doc is None:
            return None
        product = product_from_doc(doc)
        product.stock = (await self.ledger.balances([product_id]))[product_id]
        return product

    async def products_of_license(self, license_id: str) -> list[Product]:
        """From the license's own list of product ids (kept by `add_product`),
        by `_id`: a license event never searches the products."""
        license = await self.licenses.find_one(by_id(license_id))
        ids = sorted(license.get("product_ids", [])) if license else []
        docs = await self._load_products(ids)
        return [product_from_doc(d) for d in docs if d.get("license_id") == license_id]

    async def save_product(self, product: Product, expected_version: int) -> None:
        doc = product_state_doc(product)
        await self._save(
            self.products, "product", product.id, expected_version, doc, product.events
        )

    async def _load_products(self, product_ids: Sequence[str]) -> list[Doc]:
        """Products by `$in` of ids (in batches), each rolled forward; in the
        order asked."""
        found: dict[str, Doc] = {}
        for start in range(0, len(product_ids), _LOAD_BATCH):
            batch = product_ids[start : start + _LOAD_BATCH]
            docs = [d async for d in self.products.find(by_ids(batch), _NOT_SHOWN)]
            for doc in await self._rolled_many(self.products, "product", docs):
                found[doc["_id"]] = doc
        return [found[p] for p in product_ids if p in found]

    # --- the search index's loads --------------------------------------------------

    async def index_entries(self, position: FeedPosition | None) -> IndexDelta:
        """Everything (no position, or a reader too far behind), else what the
        change feed names since `position`: all by `_id`."""
        now = int(time.time())
        changed = None if position is None else await self.feed.read(position, now)
        if changed is None:
            product_ids = await self.feed.product_ids()
            stock_ids, next_position, full = product_ids, FeedPosition(now), True
        else:
            product_ids, stock_ids = sorted(changed.products), sorted(changed.stock)
            next_position, full = changed.position, False
        entries = [_entry(d) for d in await self._load_products(product_ids)]
        stock: dict[str, int] = {}
        for start in range(0, len(stock_ids), _LOAD_BATCH):
            stock.update(await self.ledger.balances(stock_ids[start : start + _LOAD_BATCH]))
        return IndexDelta(entries=entries, stock=stock, position=next_position, full=full)


def _entry(doc: Doc) -> Entry:
    return Entry(
        id=doc["_id"],
        tokens=frozenset(doc.get("tokens", [])),
        title_tokens=frozenset(doc.get("title_tokens", [])),
        museum_ids=tuple(doc.get("museum_ids", [])),
        relic_ids=tuple(doc.get("relic_ids", [])),
        category=doc["category"],
        price_fen=int(doc["price_fen"]),
        created_ms=int(doc["created_ms"]),
        visible=doc["status"] == "active" and bool(doc["sellable"]),
        product=product_from_doc(doc),
    )
