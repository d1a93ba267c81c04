"""What changed, found by `_id`: the search index's change feed.

Each catalog process keeps its search index in memory and refreshes it about
once a second while requests come (catalog.search_index). Finding what
changed by `updated_at` read the whole products and stock collections each
time (the local store serves only filters that name `_id`), a cost that grew
with the catalog and, through stock, with every order.

Now every change is announced, BEFORE it lands, in a per-second bucket
document (`index_feed`, `_id` = the epoch second of the writer's clock; `n`
counts its writes). A refresh reads the buckets of the last `WINDOW` seconds
with one `$in` of their ids and reloads, by `_id`, the products and balances
named in buckets that are new to it, changed since it last read them (`n`)
or younger than `SETTLE` (the change they announce may still be landing). A
crash between an announcement and its change costs one harmless re-read.

The full load (the first refresh, then about once a minute) reads the
product directory (`catalog_directory`, `_id` "products": every product id,
added before the product is inserted) and then the products and balances by
`$in`: bounded by the catalog, never by orders.
"""

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from catalog.filters import by_id, by_ids

__all__ = [
    "DIRECTORY",
    "FEED",
    "PRODUCTS_DIRECTORY",
    "SETTLE",
    "WINDOW",
    "ChangeFeed",
    "Changed",
    "FeedPosition",
    "bucket_id",
    "pick_changed",
    "window_ids",
]

Doc = dict[str, Any]
FEED = "index_feed"
DIRECTORY = "catalog_directory"
PRODUCTS_DIRECTORY = "products"  # the directory document listing every product id
WINDOW = 30  # seconds of buckets a read covers: late writes, clocks a little apart
SETTLE = 5  # a bucket younger than this is read again: its changes may be landing
MAX_GAP = 120  # a reader further behind than this loads everything instead


def bucket_id(second: int) -> str:
    return f"{second:011d}"


@dataclass(frozen=True)
class FeedPosition:
    """Where a reader is: its clock (epoch second) at its last read, and the
    write count of every settled bucket it read then."""

    second: int
    counts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Changed:
    products: frozenset[str]
    stock: frozenset[str]
    position: FeedPosition


def window_ids(position: FeedPosition, now_second: int) -> list[str] | None:
    """The bucket ids to read (oldest first), or None when the reader is too
    far behind for a bounded read (it loads everything instead)."""
    if now_second - position.second > MAX_GAP:
        return None
    return [bucket_id(s) for s in range(position.second - WINDOW, now_second + 1)]


def pick_changed(docs: Iterable[Doc], position: FeedPosition, now_second: int) -> Changed:
    """The ids to reload from the buckets read, and the reader's next position."""
    products: set[str] = set()
    stock: set[str] = set()
    counts: dict[str, int] = {}
    for doc in docs:
        second, n = int(doc["_id"]), int(doc.get("n", 0))
        settled = second < now_second - SETTLE
        if not (settled and position.counts.get(doc["_id"]) == n):
            products.update(doc.get("products", ()))
            stock.update(doc.get("stock", ()))
        if settled and second >= now_second - WINDOW:
            counts[doc["_id"]] = n
    return Changed(frozenset(products), frozenset(stock), FeedPosition(now_second, counts))


class ChangeFeed:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.buckets: AsyncCollection[Doc] = db[FEED]
        self.directory: AsyncCollection[Doc] = db[DIRECTORY]

    async def announce(
        self,
        *,
        products: Sequence[str] = (),
        stock: Sequence[str] = (),
        second: int | None = None,
    ) -> None:
        """One write by `_id`, before the change it announces."""
        second = int(time.time()) if second is None else second
        added: Doc = {}
        if products:
            added["products"] = {"$each": list(products)}
        if stock:
            added["stock"] = {"$each": list(stock)}
        if added:
            await _upsert(self.buckets, bucket_id(second), {"$addToSet": added, "$inc": {"n": 1}})

    async def read(self, position: FeedPosition, now_second: int) -> Changed | None:
        ids = window_ids(position, now_second)
        if ids is None:
            return None
        docs = [d async for d in self.buckets.find(by_ids(ids))]
        return pick_changed(docs, position, now_second)

    async def list_product(self, product_id: str) -> None:
        """Add a product to the directory (before inserting it)."""
        await _upsert(
            self.directory, PRODUCTS_DIRECTORY, {"$addToSet": {"ids": {"$each": [product_id]}}}
        )

    async def product_ids(self) -> list[str]:
        doc = await self.directory.find_one(by_id(PRODUCTS_DIRECTORY))
        return list(doc.get("ids", [])) if doc else []


async def _upsert(collection: AsyncCollection[Doc], doc_id: str, update: Doc) -> None:
    try:
        await collection.update_one(by_id(doc_id), update, upsert=True)
    except DuplicateKeyError:  # a concurrent upsert created it first: now it exists
        await collection.update_one(by_id(doc_id), update)
