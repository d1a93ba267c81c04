"""The ip store's journal side: postings, their reads, statements and the
period watermark (a mixin of ip.store.Store; same collections, same rules:
hot paths by `_id`, the month close may scan and says so)."""

from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from ip.book_docs import BookLine, by_id, by_ids, stamp
from ip.books import Books
from ip.ledger_records import (
    InsertResult,
    Posting,
    StatementRecord,
    cumulative_of,
    posting_doc,
    posting_of,
    statement_doc,
    statement_of,
)
from ip.royalty import Cumulative
from servicekit.mongo import advance
from servicekit.outbox import attach_events, mark_pending

__all__ = ["CLOSE", "JournalStore", "book_lines", "close_at"]

Doc = dict[str, Any]
CLOSE = "close"


def close_at(expected: str) -> Doc:
    """The close watermark, unless it moved from `expected`."""
    return {"_id": CLOSE, "last_closed": expected}


class JournalStore:
    """The journal, statements and periods of the ip database."""

    journal: AsyncCollection[Doc]
    heads: AsyncCollection[Doc]
    statements: AsyncCollection[Doc]
    periods: AsyncCollection[Doc]
    unmatched: AsyncCollection[Doc]
    books: Books

    async def insert_posting(self, posting: Posting, outbox: list[Doc]) -> InsertResult:
        if sum(e.amount_fen for e in posting.entries) != 0:
            raise AssertionError(f"posting {posting.posting_id} is not balanced")
        doc = posting_doc(posting)
        if outbox:
            await mark_pending(self.journal, posting.posting_id)
            doc = attach_events(doc, outbox)
        try:
            await self.journal.insert_one(doc)
        except DuplicateKeyError:
            if await self.journal.find_one(by_id(posting.posting_id)) is not None:
                return InsertResult.EXISTS
            # the chain position (or, were an event id ever reused for another
            # order, the source key: the store does not say which index) is
            # taken; the caller recomputes from the chain's new head
            return InsertResult.CHAIN_TAKEN
        await self.posted(posting)
        return InsertResult.INSERTED

    async def posted(self, posting: Posting) -> None:
        """What follows a posting's insert: its license's head pointer and its
        lines in the books. Idempotent: run again for a posting found already
        there (a redelivery), so a crash between the insert and these heals."""
        if posting.license_id and posting.license_seq and posting.cum_after:
            await advance(
                self.heads,
                posting.license_id,
                posting.license_seq,
                {"cum_after": posting_doc(posting)["cum_after"]},
            )
        await self.books.project(book_lines(posting))

    async def posting(self, posting_id: str) -> Posting | None:
        doc = await self.journal.find_one(by_id(posting_id))
        return posting_of(doc) if doc else None

    async def postings_by_ids(self, posting_ids: Sequence[str]) -> list[Posting]:
        """Postings by id (point reads), in the order asked."""
        found: dict[str, Posting] = {}
        ids = list(dict.fromkeys(posting_ids))
        for i in range(0, len(ids), 1000):
            async for d in self.journal.find(by_ids(ids[i : i + 1000])):
                found[d["_id"]] = posting_of(d)
        return [found[x] for x in posting_ids if x in found]

    async def license_head(self, license_id: str, *, exact: bool = False) -> tuple[int, Cumulative]:
        """A position in a license's chain and the cumulative state after it:
        the head pointer (one lookup by `_id`; none yet: the chain is empty),
        or with `exact` the last posting in the journal. The pointer is moved
        after each posting, not with it, so it may lag: a posting built on it
        collides on the chain's unique key and the caller reads the pointer
        again. Only a pointer stuck behind (its writer crashed between the two
        writes, and no redelivery came yet) calls for `exact`: that reads the
        whole journal (FerretDB), a recovery path, not the usual one."""
        if not exact:
            head = await self.heads.find_one(by_id(license_id))
            if head is None:
                return 0, Cumulative()
            return head["seq"], cumulative_of(head["cum_after"])
        doc = await self.journal.find_one(
            {"license_id": license_id, "license_seq": {"$gt": 0}},
            sort=[("license_seq", DESCENDING)],
        )
        if doc is None:
            return 0, Cumulative()
        await advance(self.heads, license_id, doc["license_seq"], {"cum_after": doc["cum_after"]})
        return doc["license_seq"], cumulative_of(doc["cum_after"])

    async def postings(self, query: Doc, *, limit: int = 0) -> list[Posting]:
        """Postings matching any filter: a scan of the journal, for the
        operator's month close and tests only."""
        cursor = self.journal.find(query).sort([("posted_at", ASCENDING), ("_id", ASCENDING)])
        if limit:
            cursor = cursor.limit(limit)
        return [posting_of(d) async for d in cursor]

    async def count_postings(self, query: Doc) -> int:
        return await self.journal.count_documents(query)

    async def postings_of_account(
        self, account: str, *, period: str | None = None, limit: int = 0
    ) -> list[Posting]:
        query: Doc = {"accounts": account}
        if period is not None:
            query["period"] = period
        return await self.postings(query, limit=limit)

    async def earnings_postings(self, license_id: str, period: str) -> list[Posting]:
        """A license's accruals and reversals in one period."""
        return await self.postings(
            {"license_id": license_id, "period": period, "kind": {"$in": ["accrual", "reversal"]}}
        )

    async def count_payouts(self, account: str) -> int:
        """A scan of the journal: payouts' recovery path only (see ip.ledger)."""
        return await self.count_postings({"kind": "payout", "accounts": account})

    async def unmatched_lines(self, limit: int = 1000) -> list[tuple[str, str, str | None]]:
        """(posting id, reason, event id) of lines that could not be posted.
        Operators' list of what went wrong (rare by construction), read whole."""
        cursor = self.unmatched.find({}).sort("_id", ASCENDING).limit(limit)
        return [(d["_id"], d["reason"], d.get("event_id")) async for d in cursor]

    async def balances(self, match: Doc, group_by: str = "$entries.account") -> dict[Any, int]:
        """Sum of entry amounts by `group_by` (a field of the entry: FerretDB
        1.24 loses the posting's own fields after $unwind), over postings
        matching `match`; only entries whose account matches `match['accounts']`.
        Aggregates the journal: the operator's month close only."""
        pipeline: list[Doc] = [{"$match": match}, {"$unwind": "$entries"}]
        if "accounts" in match:
            pipeline.append({"$match": {"entries.account": match["accounts"]}})
        pipeline.append({"$group": {"_id": group_by, "total": {"$sum": "$entries.amount_fen"}}})
        result: dict[Any, int] = {}
        async for row in await self.journal.aggregate(pipeline):
            result[row["_id"]] = int(row["total"])
        return result

    async def insert_statement(self, record: StatementRecord, outbox: list[Doc]) -> bool:
        doc = statement_doc(record)
        if outbox:
            await mark_pending(self.statements, record.statement_id)
            doc = attach_events(doc, outbox)
        try:
            await self.statements.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def statement(self, statement_id: str) -> StatementRecord | None:
        doc = await self.statements.find_one(by_id(statement_id))
        return statement_of(doc) if doc else None

    async def statements_of(self, holder_id: str, periods: Sequence[str]) -> list[StatementRecord]:
        """The holder's statements of these periods (ids `<holder>:<period>`)."""
        if not periods:
            return []
        ids = [f"{holder_id}:{p}" for p in periods]
        found = [statement_of(d) async for d in self.statements.find(by_ids(ids))]
        return sorted(found, key=lambda r: r.period)

    async def account_balance(self, account: str) -> int:
        """An account's raw sum (debits positive), from its balance document."""
        return (await self.books.book(account)).sum_fen

    async def account_sums(self, *, up_to_period: str | None = None) -> dict[str, int]:
        """Every account's raw sum, over all postings or those up to a period
        (an aggregate over the journal: the month close; the trial balance
        reads the books)."""
        match: Doc = {} if up_to_period is None else {"period": {"$lte": up_to_period}}
        return {str(k): v for k, v in (await self.balances(match)).items()}

    async def sums_by_license(self, account: str, *, before_period: str) -> dict[str | None, int]:
        """An account's raw sums per license over the periods before one."""
        rows = await self.balances(
            {"accounts": account, "period": {"$lt": before_period}},
            group_by="$entries.license_id",
        )
        return {(None if k is None else str(k)): v for k, v in rows.items()}

    # periods
    async def last_closed(self) -> str | None:
        doc = await self.periods.find_one(by_id(CLOSE))
        return doc["last_closed"] if doc else None

    async def advance_last_closed(self, expected: str | None, period: str) -> bool:
        """Move the close watermark from `expected` to `period`; False if it moved meanwhile."""
        if expected is None:
            try:
                await self.periods.insert_one({"_id": CLOSE, "last_closed": period})
            except DuplicateKeyError:
                return False
            return True
        result = await self.periods.update_one(
            close_at(expected), {"$set": {"last_closed": period}}
        )
        return result.modified_count == 1


def book_lines(posting: Posting) -> list[tuple[str, BookLine]]:
    """The posting as each of its accounts' books see it."""
    amounts: dict[str, int] = {}
    for e in posting.entries:
        amounts[e.account] = amounts.get(e.account, 0) + e.amount_fen
    at = stamp(posting.posted_at)
    return [
        (
            account,
            BookLine(
                posting.posting_id, at, posting.period, posting.kind, amount, posting.license_id
            ),
        )
        for account, amount in amounts.items()
    ]
