"""Ledger pages from the books (ip.books), reading only what the page needs.

A page reads the account's balance (one key per month), then the month
indexes from the cursor's month on (only as many months as the page needs,
going by their counts; an index the process kept and the balance shows
current is not read again: ip.kept_months), then chunks in time order, a few
at a time: a day's chunks cover different postings but may overlap in time
(postings arrive out of order), so a line read is shown only once no chunk
still unread can hold an earlier one (its `lo`). Filters by period, time
range and license narrow which months and chunks are read; a license filter
that matches little stops after `MAX_READS` chunk reads and returns a short
page with a cursor to go on from, so no request reads more than a bounded
set.

The cursor is opaque: base64 of the last posting's (time, id) examined.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ip.book_docs import (
    BookLine,
    ChunkMeta,
    by_ids,
    chunk_id,
    decode_cursor,
    encode_cursor,
    line_of,
)
from ip.books import AccountBook, Books

__all__ = ["MAX_READS", "Page", "PageQuery", "lines_of_period", "read_page"]

Doc = dict[str, Any]
MAX_READS = 12  # chunk reads (round trips) per page at most
BIG = "~"  # sorts after any timestamp


@dataclass(frozen=True)
class PageQuery:
    limit: int
    cursor: str | None = None
    period: str | None = None
    since: str | None = None  # posted_at >= since (stamp text)
    until: str | None = None  # posted_at < until
    license_id: str | None = None


@dataclass(frozen=True)
class Page:
    lines: list[BookLine]
    next_cursor: str | None


class _Walk:
    """One page's state: chunks known but unread, lines read but not yet
    shown, lines shown (in order)."""

    def __init__(self, q: PageQuery) -> None:
        self.q = q
        self.after = decode_cursor(q.cursor) if q.cursor else None
        self.pending: list[ChunkMeta] = []
        self.buffer: list[BookLine] = []
        self.shown: list[BookLine] = []  # final lines, all filters applied
        self.last_final: tuple[str, str] | None = None

    def start_month(self) -> str:
        starts = [x[:7] for x in (self.after and self.after[0], self.q.since) if x]
        return max(starts, default="")

    def wants_chunk(self, m: ChunkMeta) -> bool:
        q = self.q
        if q.period is not None and m.period != q.period:
            return False
        if self.after is not None and m.hi < self.after[0]:
            return False
        if q.since is not None and m.hi < q.since:
            return False
        return not (q.until is not None and m.lo >= q.until)

    def wants_line(self, line: BookLine) -> bool:
        q = self.q
        return (
            (self.after is None or line.key > self.after)
            and (q.since is None or line.at >= q.since)
            and (q.until is None or line.at < q.until)
        )

    def matches(self, line: BookLine) -> bool:
        return self.q.license_id is None or line.license_id == self.q.license_id

    def need(self) -> int:
        return self.q.limit + 1 - len(self.shown)

    def settle(self) -> None:
        """Show every buffered line no unread chunk can precede."""
        frontier = min((m.lo for m in self.pending), default=BIG)
        self.buffer.sort(key=lambda x: x.key)
        cut = 0
        while cut < len(self.buffer) and self.buffer[cut].at < frontier:
            cut += 1
        for line in self.buffer[:cut]:
            self.last_final = line.key
            if self.matches(line):
                self.shown.append(line)
        self.buffer = self.buffer[cut:]

    def next_reads(self) -> list[ChunkMeta]:
        """The next chunks to read: in time order until they may fill the
        page, and every unread chunk of those days overlapping them."""
        chosen: list[ChunkMeta] = []
        total = 0
        for m in self.pending:
            if chosen and total >= self.need():
                break
            chosen.append(m)
            total += m.n
        reach: dict[str, str] = {}
        for m in chosen:
            reach[m.day] = max(reach.get(m.day, ""), m.hi)
        chosen += [
            m for m in self.pending if m not in chosen and m.day in reach and m.lo <= reach[m.day]
        ]
        return chosen


async def read_page(
    books: Books, account: str, q: PageQuery, *, book: AccountBook | None = None
) -> Page:
    """Up to `q.limit` lines of the account in posting order (time, id);
    `book`, the account's balance document, when the caller has read it."""
    walk = _Walk(q)
    book = book or await books.book(account)
    months = [
        m
        for m, t in book.months.items()
        if m >= walk.start_month()
        and (q.period is None or q.period in t.periods)
        and (q.until is None or m <= q.until[:7])
    ]
    reads = 0
    exhausted = False
    while len(walk.shown) <= q.limit:
        known = sum(m.n for m in walk.pending) + len(walk.buffer)
        if months and (not walk.pending or known < walk.need()):
            take: list[str] = []
            count = 0
            while months and (not take or count < walk.need()):
                take.append(months.pop(0))
                count += book.months[take[-1]].n
            await _load_months(books, book, take, walk)
            continue
        if not walk.pending:
            walk.settle()
            exhausted = True
            break
        if reads >= MAX_READS:
            break
        chosen = walk.next_reads()
        walk.pending = [m for m in walk.pending if m not in chosen]
        walk.buffer += await _read_chunks(books, account, chosen, walk)
        reads += 1
        walk.settle()
    if len(walk.shown) > q.limit:
        return Page(walk.shown[: q.limit], encode_cursor(walk.shown[q.limit - 1].key))
    if exhausted or walk.last_final is None:
        return Page(walk.shown, None)
    # the read budget ran out on a sparse filter: go on from what was examined
    return Page(walk.shown, encode_cursor(walk.last_final))


async def _load_months(books: Books, book: AccountBook, months: Sequence[str], walk: _Walk) -> None:
    for metas in (await books.month_chunks(book, months)).values():
        walk.pending += [m for m in metas if walk.wants_chunk(m)]
    walk.pending.sort(key=lambda m: (m.lo, m.day, m.period, m.k))


async def _read_chunks(
    books: Books, account: str, chosen: Sequence[ChunkMeta], walk: _Walk
) -> list[BookLine]:
    ids = [chunk_id(account, m.day, m.period, m.k) for m in chosen]
    return [
        line
        async for doc in books.chunks.find(by_ids(ids), projection={"period": 1, "items": 1})
        for line in (line_of(i, doc["period"]) for i in doc.get("items", []))
        if walk.wants_line(line)
    ]


async def lines_of_period(books: Books, account: str, period: str) -> list[BookLine]:
    """All of an account's lines in one period (a statement): bounded by the
    months holding that period, not by history."""
    lines: list[BookLine] = []
    cursor: str | None = None
    while True:
        page = await read_page(books, account, PageQuery(5000, cursor=cursor, period=period))
        lines.extend(page.lines)
        if page.next_cursor is None:
            return lines
        cursor = page.next_cursor
