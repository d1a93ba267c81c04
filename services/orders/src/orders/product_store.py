"""The replica of catalog's products, fed by its product events; by `_id` only."""

from collections.abc import Sequence
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from orders.domain import Product
from orders.filters import by_id, ids_in, version_guard

__all__ = ["ProductStore"]

Doc = dict[str, Any]
_DUPLICATE_KEY = 11000


def _product_from_doc(doc: Doc) -> Product:
    return Product(
        product_id=doc["_id"],
        sku=doc["sku"],
        title_zh=doc["title_zh"],
        title_en=doc["title_en"],
        price_fen=doc["price_fen"],
        relic_ids=tuple(doc["relic_ids"]),
        museum_ids=tuple(doc["museum_ids"]),
        license_id=doc["license_id"],
        licensee_id=doc["licensee_id"],
        status=doc["status"],
        sellable=doc["sellable"],
        version=doc["version"],
    )


def _upsert(product: Product) -> tuple[Doc, Doc]:
    """(filter, update) that keeps `product` unless a newer version is held."""
    fields = {
        "sku": product.sku,
        "title_zh": product.title_zh,
        "title_en": product.title_en,
        "price_fen": product.price_fen,
        "relic_ids": list(product.relic_ids),
        "museum_ids": list(product.museum_ids),
        "license_id": product.license_id,
        "licensee_id": product.licensee_id,
        "status": product.status,
        "sellable": product.sellable,
        "version": product.version,
    }
    return version_guard(product.product_id, product.version), {"$set": fields}


class ProductStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._products: AsyncCollection[Doc] = db["products"]

    async def apply(self, product: Product) -> bool:
        """Keep the newest version: an older or equal one changes nothing.
        True when this version was applied."""
        try:
            result = await self._products.update_one(*_upsert(product), upsert=True)
        except DuplicateKeyError:
            return False  # a newer (or the same) version is already there
        return result.modified_count == 1 or result.upserted_id is not None

    async def apply_many(self, products: Sequence[Product]) -> int:
        """`apply` for a batch (one version per product): the held versions by
        one `$in`, then one unordered bulk write of version-guarded updates,
        an upsert only for a product not held yet. Returns how many were
        applied; a version already held (a redelivery) or older is not sent.

        Why read first: a guarded upsert refused by a newer version fails as a
        duplicate `_id`, and FerretDB 1.24 answers an update command carrying
        such errors without `nModified`, which pymongo's bulk API cannot read
        (a KeyError). Reading the versions keeps the batch free of those."""
        if not products:
            return 0
        ids = [p.product_id for p in products]
        query = self._products.find(ids_in(ids), {"version": 1}, batch_size=len(ids) + 1)
        held = {doc["_id"]: doc["version"] async for doc in query}
        newer = [p for p in products if held.get(p.product_id, 0) < p.version]
        if not newer:
            return 0
        writes = [UpdateOne(*_upsert(p), upsert=p.product_id not in held) for p in newer]
        try:
            result = await self._products.bulk_write(writes, ordered=False)
        except BulkWriteError as exc:
            # another consumer inserted one of them meanwhile (a rebalance):
            # those are applied again alone, against what is held now
            errors = exc.details.get("writeErrors", [])
            if any(error.get("code") != _DUPLICATE_KEY for error in errors):
                raise
            landed = int(exc.details.get("nModified", 0)) + int(exc.details.get("nUpserted", 0))
            for error in errors:
                landed += await self.apply(newer[error["index"]])
            return landed
        return result.modified_count + result.upserted_count

    async def get(self, product_id: str) -> Product | None:
        doc = await self._products.find_one(by_id(product_id))
        return _product_from_doc(doc) if doc else None

    async def get_many(self, product_ids: Sequence[str]) -> dict[str, Product]:
        # one `$in` of ids: point reads by `_id` on the local store
        ids = list(dict.fromkeys(product_ids))
        if not ids:
            return {}
        found = self._products.find(ids_in(ids), batch_size=len(ids) + 1)
        return {doc["_id"]: _product_from_doc(doc) async for doc in found}
