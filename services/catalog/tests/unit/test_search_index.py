"""The in-memory search: filters, tiers, sorts, keyset paging, freshness."""

import asyncio

import pytest

from catalog.feed import FeedPosition
from catalog.search import ProductQuery, document_tokens, query_tokens
from catalog.search_index import Entry, IndexDelta, SearchIndex, run_query


def entry(
    pid: str, title: str, *, desc: str = "", price: int = 100, ms: int = 0, **kw: object
) -> Entry:
    values: dict[str, object] = {
        "id": pid,
        "tokens": frozenset(document_tokens(title, desc)),
        "title_tokens": frozenset(document_tokens(title)),
        "museum_ids": ("m1",),
        "relic_ids": ("r1",),
        "category": "home",
        "price_fen": price,
        "created_ms": ms,
        "visible": True,
        **kw,
    }
    return Entry(**values)  # type: ignore[arg-type]


ENTRIES = [
    entry("a", "青铜面具 bronze mask", price=300, ms=1),
    entry("b", "青铜神树 bronze tree", price=100, ms=2),
    entry("c", "金面具 gold mask", desc="青铜时代", price=200, ms=3),
    entry("d", "青铜草稿", price=50, ms=4, visible=False),
    entry("e", "玉琮 jade", price=100, ms=5, museum_ids=("m2",), category="jade"),
]


def ids(query: ProductQuery, stock: dict[str, int] | None = None) -> list[str]:
    page = run_query(ENTRIES, stock or {}, query, segment=0, after=None, limit=50)
    return [pid for _, pid, _ in page]


def q(text: str | None = None, sort: str = "relevance", **kw: object) -> ProductQuery:
    return ProductQuery(tokens=query_tokens(text), sort=sort, **kw)  # type: ignore[arg-type]


def test_relevance_puts_title_matches_first_newest_first_and_hides_the_invisible() -> None:
    assert ids(q("青铜")) == ["b", "a", "c"]
    assert ids(q("bronze mask")) == ["a"]


def test_filters_and_sorts() -> None:
    assert ids(q(sort="price_asc")) == ["b", "e", "c", "a"]  # ties by id
    assert ids(q(sort="price_desc")) == ["a", "c", "e", "b"]
    assert ids(q(sort="newest", museum_id="m2")) == ["e"]
    assert ids(q(sort="newest", category="jade")) == ["e"]
    assert ids(q(sort="price_asc", min_price_fen=150, max_price_fen=300)) == ["c", "a"]
    assert ids(q("mask", sort="newest", in_stock=True), {"a": 2}) == ["a"]
    assert ids(q("mask", sort="newest", in_stock=False), {"a": 2}) == ["c"]


@pytest.mark.parametrize("sort", ["relevance", "newest", "price_asc", "price_desc"])
def test_paging_by_key_visits_each_item_once_even_with_items_added(sort: str) -> None:
    entries = [entry(f"p{i:03d}", "青铜 item", desc="", price=i % 7, ms=i // 3) for i in range(60)]
    query = q("青铜" if sort == "relevance" else None, sort=sort)
    seen: list[str] = []
    segment, after = 0, None
    while True:
        page = run_query(entries, {}, query, segment=segment, after=after, limit=7)
        seen.extend(pid for _, pid, _ in page)
        entries.append(entry(f"new{len(entries)}", "青铜 item", price=3, ms=1000))
        if len(page) < 7:
            break
        segment, _, after = page[-1]
    originals = [f"p{i:03d}" for i in range(60)]
    assert len(seen) == len(set(seen))
    assert set(originals) <= set(seen)


def delta(pid: str, position: FeedPosition | None) -> IndexDelta:
    at = FeedPosition(second=(position.second + 1) if position else 1)
    return IndexDelta([entry(pid, "t")], {}, at, full=position is None)


def test_an_incremental_load_continues_from_the_last_position_and_a_full_one_replaces() -> None:
    calls: list[FeedPosition | None] = []

    async def load(position: FeedPosition | None) -> IndexDelta:
        calls.append(position)
        return delta(f"x{len(calls)}", position)

    now = [0.0]

    async def scenario() -> SearchIndex:
        index = SearchIndex(max_staleness=1, full_every=10, clock=lambda: now[0])
        for moment in (0.0, 2.0, 4.0):
            now[0] = moment
            index.invalidate()
            await index.fresh(load)
        assert set(index.entries) == {"x1", "x2", "x3"}
        now[0] = 20.0  # a full load is due: it replaces what was there
        index.invalidate()
        await index.fresh(load)
        return index

    index = asyncio.run(scenario())
    assert calls == [None, FeedPosition(1), FeedPosition(2), None]
    assert set(index.entries) == {"x4"}


def test_concurrent_requests_share_one_refresh_and_local_writes_are_seen() -> None:
    calls: list[FeedPosition | None] = []

    async def load(position: FeedPosition | None) -> IndexDelta:
        calls.append(position)
        await asyncio.sleep(0.01)
        return delta(f"x{len(calls)}", position)

    async def scenario() -> SearchIndex:
        index = SearchIndex(max_staleness=60)
        await asyncio.gather(*(index.fresh(load) for _ in range(10)))  # the first load
        await index.fresh(load)  # fresh enough: no load
        index.invalidate()
        await index.fresh(load)  # waits for an incremental load that saw the write
        return index

    index = asyncio.run(scenario())
    assert len(calls) == 2
    assert calls[0] is None
    assert calls[1] is not None
    assert set(index.entries) == {"x1", "x2"}


def test_a_stale_index_answers_at_once_and_refreshes_in_the_background() -> None:
    now = [0.0]
    calls: list[FeedPosition | None] = []
    release = asyncio.Event()

    async def load(position: FeedPosition | None) -> IndexDelta:
        calls.append(position)
        if len(calls) > 1:
            await release.wait()
        return delta(f"x{len(calls)}", position)

    async def scenario() -> SearchIndex:
        index = SearchIndex(max_staleness=1, clock=lambda: now[0])
        await index.fresh(load)
        now[0] = 5.0
        await asyncio.wait_for(index.fresh(load), 1)  # returns without waiting
        assert set(index.entries) == {"x1"}
        release.set()
        await asyncio.sleep(0.01)
        return index

    index = asyncio.run(scenario())
    assert set(index.entries) == {"x1", "x2"}
