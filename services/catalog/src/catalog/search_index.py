"""The search index each catalog process keeps in memory.

Why: the local store (FerretDB 1.24 on SQLite) answers every query that is
not a primary-key lookup by scanning and decoding the whole collection
(~250 ms for 550 products on the dev machine), one at a time, so searching
in the store itself served about 1 request/s at concurrency 32. Here the
products (and their shown stock) live in memory and a query is answered
from them without touching the store, and so is GET /products/{id} for a
public product. Memory grows with the catalog (~2 KB a product).

Freshness: the index reloads what changed since its last refresh, as the
store's change feed names it (catalog.feed: per-second buckets read by `_id`,
so a refresh costs what changed, never what is stored), in the background,
when a request finds it older than `max_staleness`, and reloads everything
(the catalog, by `_id`) every `full_every`. A write in this process makes the
next search wait for a refresh that began after it (read-your-writes);
another replica's writes show up within about `max_staleness` plus one
refresh.

The query rules (`run_query`) are pure and unit-tested.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from catalog.domain import Product
from catalog.feed import FeedPosition
from catalog.search import ProductQuery, SortKey

__all__ = ["Entry", "IndexDelta", "Loader", "SearchIndex", "run_query"]


@dataclass(frozen=True)
class Entry:
    id: str
    tokens: frozenset[str]
    title_tokens: frozenset[str]
    museum_ids: tuple[str, ...]
    relic_ids: tuple[str, ...]
    category: str
    price_fen: int
    created_ms: int
    visible: bool  # active and sellable
    product: Product | None = None  # what a result page shows


def _key(entry: Entry, by_price: bool) -> SortKey:
    return (entry.price_fen if by_price else entry.created_ms, entry.id)


def _matches(entry: Entry, query: ProductQuery, stock: Mapping[str, int]) -> bool:
    if not entry.visible:
        return False
    if query.tokens and not entry.tokens.issuperset(query.tokens):
        return False
    if query.museum_id and query.museum_id not in entry.museum_ids:
        return False
    if query.relic_id and query.relic_id not in entry.relic_ids:
        return False
    if query.category and entry.category != query.category:
        return False
    if query.min_price_fen is not None and entry.price_fen < query.min_price_fen:
        return False
    if query.max_price_fen is not None and entry.price_fen > query.max_price_fen:
        return False
    if query.in_stock is not None and (stock.get(entry.id, 0) > 0) != query.in_stock:
        return False
    return True


def run_query(
    entries: Iterable[Entry],
    stock: Mapping[str, int],
    query: ProductQuery,
    *,
    segment: int,
    after: SortKey | None,
    limit: int,
) -> list[tuple[int, str, SortKey]]:
    """Up to `limit` (segment, product id, sort key) after the cursor.

    Relevance sorts in two tiers (every query token in a title, then the
    rest), each newest first; the other sorts have one tier. Keys are unique
    (value, id) pairs, so a cursor neither skips nor repeats an item, and
    items added later land before it (newest) or in their place."""
    by_price = query.sort in ("price_asc", "price_desc")
    descending = query.sort != "price_asc"
    found = [e for e in entries if _matches(e, query, stock)]
    tiers: list[list[Entry]]
    if query.tokens and query.sort == "relevance":
        wanted = set(query.tokens)
        tiers = [[e for e in found if wanted <= e.title_tokens], []]
        tiers[1] = [e for e in found if not wanted <= e.title_tokens]
    else:
        tiers = [found]
    page: list[tuple[int, str, SortKey]] = []
    for index in range(segment, len(tiers)):
        ordered = sorted(tiers[index], key=lambda e: _key(e, by_price), reverse=descending)
        for entry in ordered:
            key = _key(entry, by_price)
            if index == segment and after is not None:
                if (descending and key >= after) or (not descending and key <= after):
                    continue
            page.append((index, entry.id, key))
            if len(page) == limit:
                return page
    return page


@dataclass(frozen=True)
class IndexDelta:
    """What a load found: entries and shown stock, where the feed reader is
    now, and whether it is everything (then it replaces the index)."""

    entries: list[Entry]
    stock: dict[str, int]
    position: FeedPosition
    full: bool


# loads everything for None, else what changed since the position
Loader = Callable[[FeedPosition | None], Awaitable[IndexDelta]]


class SearchIndex:
    def __init__(
        self,
        *,
        max_staleness: float = 1.0,
        full_every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.entries: dict[str, Entry] = {}
        self.stock: dict[str, int] = {}
        self._max_staleness = max_staleness
        self._full_every = full_every
        self._clock = clock
        self._refreshed_at: float | None = None  # monotonic, when the last refresh began
        self._full_at: float | None = None
        self._position: FeedPosition | None = None
        self._written = 0  # bumped by every local write
        self._covered = -1  # the writes the last finished refresh started after
        self._refreshing: asyncio.Task[None] | None = None

    def invalidate(self) -> None:
        """A write here: the next search waits for a refresh that saw it."""
        self._written += 1

    async def fresh(self, load: Loader) -> None:
        """Serve from memory; refresh in the background once older than
        `max_staleness`, and wait only for a refresh that covers this
        process's own writes (or the very first one)."""
        while self._covered < self._written:
            await asyncio.shield(self._start(load))
        stale = self._refreshed_at is None or (
            self._clock() - self._refreshed_at >= self._max_staleness
        )
        if stale:
            self._start(load)

    def _start(self, load: Loader) -> "asyncio.Task[None]":
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.ensure_future(self._refresh(load, self._written))
            self._refreshing.add_done_callback(_consume)
        return self._refreshing

    async def _refresh(self, load: Loader, written: int) -> None:
        started = self._clock()
        full = self._full_at is None or started - self._full_at >= self._full_every
        delta = await load(None if full else self._position)
        if delta.full:
            self.entries = {e.id: e for e in delta.entries}
            self.stock = dict(delta.stock)
            self._full_at = started
        else:
            self.entries.update((e.id, e) for e in delta.entries)
            self.stock.update(delta.stock)
        self._position = delta.position
        self._refreshed_at = started
        self._covered = max(self._covered, written)


def _consume(task: "asyncio.Task[None]") -> None:
    """A background refresh that failed (the store is down) is retried by
    the next request; its error must not linger unretrieved."""
    if not task.cancelled():
        task.exception()
