"""Use case: product search, served from the in-memory index (catalog.search_index)."""

import dataclasses

from catalog.domain import Product
from catalog.search import (
    Cursor,
    ProductQuery,
    SortOrder,
    decode_cursor,
    encode_cursor,
    fingerprint,
    query_tokens,
)
from catalog.search_index import SearchIndex, run_query
from catalog.store import CatalogStore

__all__ = ["search_products"]


async def search_products(
    *,
    store: CatalogStore,
    index: SearchIndex,
    q: str | None,
    sort: SortOrder,
    limit: int,
    cursor: str | None = None,
    museum_id: str | None = None,
    relic_id: str | None = None,
    category: str | None = None,
    min_price_fen: int | None = None,
    max_price_fen: int | None = None,
    in_stock: bool | None = None,
) -> tuple[list[Product], str | None]:
    tokens = query_tokens(q)
    query = ProductQuery(
        tokens=tokens,
        sort=sort,
        museum_id=museum_id,
        relic_id=relic_id,
        category=category,
        min_price_fen=min_price_fen,
        max_price_fen=max_price_fen,
        in_stock=in_stock,
    )
    digest = fingerprint(
        [tokens, sort, museum_id, relic_id, category, min_price_fen, max_price_fen, in_stock]
    )
    after = decode_cursor(cursor, sort=sort, expected_fingerprint=digest) if cursor else None
    if q and not tokens:
        return [], None  # nothing searchable in the query
    await index.fresh(store.index_entries)
    found = run_query(
        index.entries.values(),
        index.stock,
        query,
        segment=after.segment if after else 0,
        after=after.key if after else None,
        limit=limit + 1,
    )
    page = found[:limit]
    next_cursor = None
    if len(found) > limit and page:
        segment, _, key = page[-1]
        next_cursor = encode_cursor(Cursor(sort, digest, segment, key))
    products = [
        dataclasses.replace(product, stock=index.stock.get(product_id, 0))
        for _, product_id, _ in page
        if (product := index.entries[product_id].product) is not None
    ]
    return products, next_cursor
