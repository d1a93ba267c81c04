"""Reading an account's ledger for integrators: pages in posting order with
filters (order, line, license, period, time range) and an opaque cursor.

Every read names its documents by `_id`:

- by order (`order_id`, optionally `line_id`): the order's postings listed in
  the order index (`order_postings`, `_id` = the order id; posting ids are
  `accrual:<order>:<line>` and `reversal:<refund>:<line>`), then those
  postings by `$in`; a handful of documents whatever the history;
- otherwise the account's books (ip.book_pages): the months and chunks from
  the cursor on, narrowed by period and time range; a license filter reads
  the same chunks and keeps that license's lines (a page may come back short
  with a cursor when the license is sparse: the read is bounded);
- then the page's postings by `$in`, those not kept from an earlier page
  (ip.recent_postings).

The account's balance document is read once: it gives the page's months
and the balance shown beside the page.
"""

from dataclasses import dataclass
from datetime import datetime

from ip import journal
from ip.book_docs import decode_cursor, encode_cursor, stamp
from ip.book_pages import PageQuery, read_page
from ip.errors import BadInput
from ip.records import Posting
from ip.store import Store

__all__ = ["LedgerFilter", "LedgerPage", "read_ledger"]


@dataclass(frozen=True)
class LedgerFilter:
    limit: int
    cursor: str | None = None
    period: str | None = None
    order_id: str | None = None
    line_id: str | None = None
    license_id: str | None = None
    since: datetime | None = None  # posted_at >= since
    until: datetime | None = None  # posted_at < until

    def check(self) -> None:
        if self.line_id is not None and self.order_id is None:
            raise BadInput("line_id filters within an order: give order_id too")
        if self.since and self.until and self.until <= self.since:
            raise BadInput("`to` must be after `from`")
        if self.cursor:
            try:
                decode_cursor(self.cursor)
            except ValueError as exc:
                raise BadInput(str(exc)) from exc


@dataclass(frozen=True)
class LedgerPage:
    postings: list[Posting]
    next_cursor: str | None  # None on the last page
    account_sum_fen: int  # the account's raw sum now (debits positive)


def _keep(f: LedgerFilter, p: Posting, account: str) -> bool:
    return (
        any(e.account == account for e in p.entries)
        and (f.line_id is None or p.line_id == f.line_id)
        and (f.license_id is None or p.license_id == f.license_id)
        and (f.period is None or p.period == f.period)
        and (f.since is None or p.posted_at >= f.since)
        and (f.until is None or p.posted_at < f.until)
    )


async def read_ledger(store: Store, account: str, f: LedgerFilter) -> LedgerPage:
    """One page of the account's postings in posting order, the next page's
    cursor and the account's sum."""
    f.check()
    book = await store.books.book(account)
    if f.order_id is not None:
        ids = await journal.order_postings(store, f.order_id)
        postings = [p for p in await store.postings_by_ids(ids) if _keep(f, p, account)]
        postings.sort(key=lambda p: (stamp(p.posted_at), p.posting_id))
        if f.cursor:
            after = decode_cursor(f.cursor)
            postings = [p for p in postings if (stamp(p.posted_at), p.posting_id) > after]
        if len(postings) > f.limit:
            last = postings[f.limit - 1]
            cursor = encode_cursor((stamp(last.posted_at), last.posting_id))
            return LedgerPage(postings[: f.limit], cursor, book.sum_fen)
        return LedgerPage(postings, None, book.sum_fen)
    page = await read_page(
        store.books,
        account,
        PageQuery(
            f.limit,
            cursor=f.cursor,
            period=f.period,
            since=stamp(f.since) if f.since else None,
            until=stamp(f.until) if f.until else None,
            license_id=f.license_id,
        ),
        book=book,
    )
    postings = await store.recent_postings.get(
        [x.posting_id for x in page.lines], store.postings_by_ids
    )
    return LedgerPage(postings, page.next_cursor, book.sum_fen)
