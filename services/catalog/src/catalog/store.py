"""The catalog's collections, indexes and document mapping. No Mongo type
leaves this module: callers get domain objects. Stock lives apart, in the
append-only ledger (catalog.ledger)."""

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from catalog.domain import (
    Asset,
    Donor,
    Image,
    License,
    LicenseStatus,
    Museum,
    Product,
    Provenance,
    Relic,
    SiteLocation,
)
from catalog.errors import ConcurrentChange, DuplicateSku
from catalog.ledger import StockLedger, ensure_ledger_indexes
from catalog.search import document_tokens
from catalog.search_index import Entry
from contracts import Event
from servicekit.consumer import EventMeta
from servicekit.idempotency import apply_once
from servicekit.outbox import OUTBOX, outbox_entry

__all__ = [
    "OUTBOX_COLLECTIONS",
    "CatalogStore",
    "ensure_indexes",
]

SOURCE = "catalog"
OUTBOX_COLLECTIONS = ["museums", "relics", "products", "changes", "reservations"]
Doc = dict[str, Any]


async def ensure_indexes(db: AsyncDatabase[Doc]) -> None:
    products = db["products"]
    await products.create_index([("sku", ASCENDING)], unique=True, name="sku_unique")
    await products.create_index([("tokens", ASCENDING)], name="tokens")
    await products.create_index([("license_id", ASCENDING)], name="license")
    await products.create_index(
        [("status", ASCENDING), ("created_ms", DESCENDING), ("_id", DESCENDING)], name="newest"
    )
    await products.create_index(
        [("status", ASCENDING), ("price_fen", ASCENDING), ("_id", ASCENDING)], name="price"
    )
    await products.create_index([("museum_ids", ASCENDING)], name="museums")
    await products.create_index([("relic_ids", ASCENDING)], name="relics")
    await products.create_index([("updated_at", ASCENDING)], name="changed")
    await ensure_ledger_indexes(db)
    await db["relics"].create_index([("museum_id", ASCENDING), ("_id", ASCENDING)], name="museum")


def _change_id(kind: str, entity_id: str, version: int) -> str:
    return f"{kind}:{entity_id}@{version:010d}"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _plain(entity: object, skip: frozenset[str] = frozenset({"events"})) -> Doc:
    doc: Doc = dataclasses.asdict(entity)  # type: ignore[call-overload]
    for name in skip:
        doc.pop(name, None)
    doc["_id"] = doc.pop("id")
    return doc


def _outbox(events: Sequence[Event]) -> list[Doc]:
    return [outbox_entry(e, source=SOURCE) for e in events]


# --- mapping ---------------------------------------------------------------------


def museum_from_doc(doc: Doc) -> Museum:
    return Museum(
        id=doc["_id"],
        name_zh=doc["name_zh"],
        name_en=doc["name_en"],
        city=doc["city"],
        province=doc["province"],
        kind=doc["kind"],
        state_owned=doc["state_owned"],
        heritage_level=doc.get("heritage_level"),
        created_at=_aware(doc["created_at"]),
        updated_at=_aware(doc["updated_at"]),
        version=doc["version"],
    )


def relic_from_doc(doc: Doc) -> Relic:
    provenance = doc.get("provenance")
    site = doc.get("site")
    return Relic(
        id=doc["_id"],
        museum_id=doc["museum_id"],
        name_zh=doc["name_zh"],
        name_en=doc["name_en"],
        period=doc.get("period"),
        category=doc["category"],
        description=doc.get("description"),
        protection_grade=doc["protection_grade"],
        immovable=doc["immovable"],
        site=SiteLocation(**site) if site else None,
        images=[Image(**i) for i in doc.get("images", [])],
        provenance=Provenance(
            acquisition=provenance.get("acquisition"),
            acquired_year=provenance.get("acquired_year"),
            donor=Donor(**provenance["donor"]) if provenance.get("donor") else None,
            notes=provenance.get("notes"),
        )
        if provenance
        else None,
        assets=[Asset(**a) for a in doc.get("assets", [])],
        created_at=_aware(doc["created_at"]),
        updated_at=_aware(doc["updated_at"]),
        version=doc["version"],
    )


_PRODUCT_FIELDS = frozenset(f.name for f in dataclasses.fields(Product)) - {"id", "events"}


def product_from_doc(doc: Doc) -> Product:
    values = {name: doc[name] for name in _PRODUCT_FIELDS if name in doc}
    values["created_at"] = _aware(doc["created_at"])
    values["updated_at"] = _aware(doc["updated_at"])
    return Product(id=doc["_id"], **values)


def _product_state_doc(product: Product) -> Doc:
    """Every stored field except stock (kept in the stock ledger)."""
    doc = _plain(product, skip=frozenset({"events", "stock"}))
    doc.pop("_id")
    doc["tokens"] = document_tokens(
        product.title_zh,
        product.title_en,
        product.description_zh,
        product.description_en,
        product.category,
    )
    doc["title_tokens"] = document_tokens(product.title_zh, product.title_en)
    return doc


class CatalogStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.museums: AsyncCollection[Doc] = db["museums"]
        self.relics: AsyncCollection[Doc] = db["relics"]
        self.products: AsyncCollection[Doc] = db["products"]
        self.licenses: AsyncCollection[Doc] = db["licenses"]
        self.changes: AsyncCollection[Doc] = db["changes"]
        self.ledger = StockLedger(db)

    # --- museums ---------------------------------------------------------------

    async def add_museum(self, museum: Museum) -> None:
        doc = _plain(museum)
        doc["created_ms"] = _ms(museum.created_at)
        doc[OUTBOX] = _outbox(museum.events)
        await self.museums.insert_one(doc)

    async def museum(self, museum_id: str) -> Museum | None:
        doc = await self._current(self.museums, "museum", museum_id)
        return museum_from_doc(doc) if doc else None

    async def save_museum(self, museum: Museum, expected_version: int) -> None:
        doc = _plain(museum)
        doc.pop("_id")
        await self._save(self.museums, "museum", museum.id, expected_version, doc, museum.events)

    async def list_museums(self, after: str | None, limit: int) -> list[Museum]:
        query: Doc = {"_id": {"$gt": after}} if after else {}
        cursor = self.museums.find(query).sort("_id", ASCENDING).limit(limit)
        docs = [await self._rolled(self.museums, "museum", d) async for d in cursor]
        return [museum_from_doc(d) for d in docs]

    # --- relics ----------------------------------------------------------------

    async def add_relic(self, relic: Relic) -> None:
        doc = _plain(relic)
        doc["created_ms"] = _ms(relic.created_at)
        doc[OUTBOX] = _outbox(relic.events)
        await self.relics.insert_one(doc)

    async def add_relics(self, relics: Sequence[Relic]) -> int:
        """Insert relics with deterministic ids; ones already there (an
        earlier, interrupted run of the same import) are left alone.
        Returns how many were new."""
        docs = []
        for relic in relics:
            doc = _plain(relic)
            doc["created_ms"] = _ms(relic.created_at)
            doc[OUTBOX] = _outbox(relic.events)
            docs.append(doc)
        if not docs:
            return 0
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
        docs = self.relics.find({"_id": {"$in": list(relic_ids)}})
        return {d["_id"]: relic_from_doc(d) async for d in docs}

    async def save_relic(self, relic: Relic, expected_version: int) -> None:
        doc = _plain(relic)
        doc.pop("_id")
        await self._save(self.relics, "relic", relic.id, expected_version, doc, relic.events)

    async def list_relics(
        self, museum_id: str | None, after: str | None, limit: int
    ) -> list[Relic]:
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
        doc = _product_state_doc(product)
        doc["_id"] = product.id
        doc["created_ms"] = _ms(product.created_at)
        doc[OUTBOX] = _outbox(product.events)
        try:
            await self.products.insert_one(doc)
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
        cursor = self.products.find({"license_id": license_id}).sort("_id", ASCENDING)
        docs = [await self._rolled(self.products, "product", d) async for d in cursor]
        return [product_from_doc(d) for d in docs]

    async def _with_stock(self, products: list[Product]) -> list[Product]:
        stock = await self.ledger.balances([p.id for p in products])
        for product in products:
            product.stock = stock[product.id]
        return products

    async def save_product(self, product: Product, expected_version: int) -> None:
        doc = _product_state_doc(product)
        await self._save(
            self.products, "product", product.id, expected_version, doc, product.events
        )

    # --- changes: the version log ------------------------------------------------
    #
    # A change to an existing museum, relic or product is first inserted into
    # `changes` as `<kind>:<id>@<version>` with the whole new state and its
    # events (the outbox); that insert is the compare-and-swap on the version,
    # and the relay only ever rewrites those change records. The entity's own
    # document is then brought up to date. Why: FerretDB 1.24 rewrites whole
    # documents without isolation, so the relay pulling events out of an
    # entity document could silently undo a save that landed meanwhile (state
    # and events lost; seen in a test). Here a lagging document is rolled
    # forward from the log whenever it is read by id.

    async def _save(
        self,
        collection: AsyncCollection[Doc],
        kind: str,
        doc_id: str,
        expected_version: int,
        fields: Doc,
        events: Sequence[Event],
    ) -> None:
        version = int(fields["version"])
        if version <= expected_version:
            raise ConcurrentChange(kind)
        change: Doc = {
            "_id": _change_id(kind, doc_id, version),
            "kind": kind,
            "entity_id": doc_id,
            "version": version,
            "state": fields,
            "at": datetime.now(UTC),
        }
        if events:
            change[OUTBOX] = _outbox(events)
        try:
            await self.changes.insert_one(change)
        except DuplicateKeyError as exc:
            raise ConcurrentChange(kind) from exc
        await collection.update_one({"_id": doc_id}, {"$set": fields})

    async def _current(
        self, collection: AsyncCollection[Doc], kind: str, doc_id: str
    ) -> Doc | None:
        doc = await collection.find_one({"_id": doc_id})
        return None if doc is None else await self._rolled(collection, kind, doc)

    async def _rolled(self, collection: AsyncCollection[Doc], kind: str, doc: Doc) -> Doc:
        """The document with every logged change past its version applied."""
        latest: Doc | None = None
        version = int(doc.get("version", 1))
        while (
            change := await self.changes.find_one(
                {"_id": _change_id(kind, doc["_id"], version + 1)}
            )
        ) is not None:
            latest, version = change["state"], int(change["version"])
        if latest is None:
            return doc
        await collection.update_one(
            {"_id": doc["_id"], "version": {"$lt": version}}, {"$set": latest}
        )
        return {**doc, **latest}

    async def index_entries(self, since: datetime | None) -> tuple[list[Entry], dict[str, int]]:
        """Search entries (and shown stock) changed since `since`, or all."""
        changed: Doc = {} if since is None else {"updated_at": {"$gte": since}}
        docs = self.products.find(changed, {OUTBOX: 0, "_outbox_lease": 0})
        entries = [
            Entry(
                id=d["_id"],
                tokens=frozenset(d.get("tokens", [])),
                title_tokens=frozenset(d.get("title_tokens", [])),
                museum_ids=tuple(d.get("museum_ids", [])),
                relic_ids=tuple(d.get("relic_ids", [])),
                category=d["category"],
                price_fen=int(d["price_fen"]),
                created_ms=int(d["created_ms"]),
                visible=d["status"] == "active" and bool(d["sellable"]),
                product=product_from_doc(d),
            )
            async for d in docs
        ]
        return entries, await self.ledger.shown_since(since)

    # --- licenses --------------------------------------------------------------

    async def license(self, license_id: str) -> License | None:
        doc = await self.licenses.find_one({"_id": license_id})
        if doc is None or "status" not in doc:
            return None
        return License(
            id=doc["_id"],
            licensee_id=doc["licensee_id"],
            museum_id=doc["museum_id"],
            status=doc["status"],
            relic_ids=list(doc.get("relic_ids", [])),
        )

    async def record_license(
        self,
        meta: EventMeta,
        *,
        license_id: str,
        licensee_id: str,
        museum_id: str,
        status: LicenseStatus,
        relic_ids: list[str] | None,
    ) -> None:
        fields: Doc = {
            "licensee_id": licensee_id,
            "museum_id": museum_id,
            "status": status,
            "updated_at": datetime.now(UTC),
        }
        if relic_ids is not None:
            fields["relic_ids"] = relic_ids
        await apply_once(self.licenses, license_id, meta, {"$set": fields})
