"""The replica of catalog's products, fed by its product events; by `_id` only."""

from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from orders.domain import Product
from orders.filters import by_id, ids_in, version_guard

__all__ = ["ProductStore"]

Doc = dict[str, Any]


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


class ProductStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._products: AsyncCollection[Doc] = db["products"]

    async def apply(self, product: Product) -> bool:
        """Keep the newest version: an older or equal one changes nothing.
        True when this version was applied."""
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
        try:
            result = await self._products.update_one(
                version_guard(product.product_id, product.version),
                {"$set": fields},
                upsert=True,
            )
        except DuplicateKeyError:
            return False  # a newer (or the same) version is already there
        return result.modified_count == 1 or result.upserted_id is not None

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
