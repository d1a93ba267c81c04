"""The ledger's `_id`-keyed read side: day chunks, month indexes, balances
(the documents are described in ip.book_docs).

The journal (one document per posting) is the truth, but reading it by
account, holder or licensee is a scan on the local store. So every posting is
also projected into its accounts' books, found by `_id` only, once per
posting and again whenever its cause is redelivered (ip.ledger), so a crash
between the insert and the projection heals on the next delivery.

A projection round reads the day's chunks (ids, by `$in`; the full ones,
frozen, only once per process), appends what is missing to the last chunk
under an exact-count guard (`n` as read: the content is the one read, so
nothing can be appended twice) and opens the next chunk only behind a full
one; then it copies the chunks' totals into their month indexes and the
months' totals into the balances. In the usual case: one read and one write
of chunks, one write and one read of months, one write of balances, whatever
the batch size.

Pages (ip.book_pages) read the balance, the month indexes from the cursor on
and then only the chunks the page needs: a page decodes at most a few
chunks of `CHUNK` postings, not a day, not history.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache
from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ip.book_docs import (
    BALANCES,
    BUCKETS,
    CHUNK,
    MONTHS,
    BookLine,
    ChunkMeta,
    ChunkState,
    Plan,
    by_id,
    by_ids,
    chunk_doc,
    chunk_id,
    chunk_metas,
    chunk_state,
    fill_update,
    group_lines,
    month_chunks,
    month_id,
    month_snapshot,
    month_totals,
    plan_appends,
    snapshot_update,
)
from ip.errors import Contention
from ip.kept_months import KeptMonths

__all__ = ["AccountBook", "Books", "MonthTotals"]

Doc = dict[str, Any]
MAX_ROUNDS = 20
PROBE = 3  # chunk ids asked beyond the last one known, per day
FROZEN = 512  # full chunks kept (their posting ids), least recently used out
COPIED = 4096  # chunk counts known copied into month indexes
_TOTALS = {"account": 1, "day": 1, "period": 1, "k": 1, "n": 1, "sum_fen": 1, "payouts": 1}


@dataclass(frozen=True)
class MonthTotals:
    n: int
    sum_fen: int
    payouts: int
    periods: tuple[str, ...]


@dataclass(frozen=True)
class AccountBook:
    """An account's balance document: raw sum, payouts and its months."""

    account: str
    sum_fen: int
    payouts: int
    months: dict[str, MonthTotals]  # UTC month -> its totals


def book_of(doc: Doc | None, account: str) -> AccountBook:
    months = {
        m: MonthTotals(
            int(t["n"]), int(t["sum_fen"]), int(t.get("payouts", 0)), tuple(t.get("periods", ()))
        )
        for m, t in ((doc or {}).get("months") or {}).items()
    }
    return AccountBook(
        account=account,
        sum_fen=sum(t.sum_fen for t in months.values()),
        payouts=sum(t.payouts for t in months.values()),
        months=dict(sorted(months.items())),
    )


class Books:
    """The chunks, month indexes and balances of one ip database."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.chunks: AsyncCollection[Doc] = db[BUCKETS]
        self.months: AsyncCollection[Doc] = db[MONTHS]
        self.balances: AsyncCollection[Doc] = db[BALANCES]
        # per day, the last chunk seen (a hint: reads probe past it)
        self._last: dict[str, int] = {}
        # full chunks as read: full means frozen (only a day's last chunk
        # takes postings, while it has room), so a round reads only the rest
        self._frozen: LRUCache[str, tuple[ChunkState, set[str]]] = LRUCache(maxsize=FROZEN)
        self._kept_months = KeptMonths()  # the month indexes pages read
        # per chunk, the count this process copied into its month index (only
        # ever moved forward), and the month indexes and balances it knows exist
        self._copied: LRUCache[str, int] = LRUCache(maxsize=COPIED)
        self._made: LRUCache[str, bool] = LRUCache(maxsize=COPIED)

    # --- writing -------------------------------------------------------------

    async def project(self, lines: Sequence[tuple[str, BookLine]], *, fresh: bool = False) -> None:
        """Put each (account, line) into its day's chunks unless it is there,
        then move the month indexes and balances. `fresh` is accepted for
        callers that just inserted the postings; every round reads the day's
        chunks all the same (a rival may have projected them meanwhile)."""
        del fresh
        days = group_lines(lines)
        if not days:
            return
        for _ in range(MAX_ROUNDS):
            chunks = await self._read_days(list(days))
            if chunks is None:
                continue  # a torn read: read again
            plan = Plan()
            for day, lines_of_day in days.items():
                have = chunks[day]
                present = {x for c in have for x in c[1]}
                missing = [x for x in lines_of_day if x.posting_id not in present]
                plan_appends(day, [c[0] for c in have], missing, plan)
            if await self._write(plan) and not plan.deferred:
                await self._snapshot(plan.states)
                return
        raise Contention("day chunks stayed contended")

    async def _read_days(
        self, days: Sequence[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], list[tuple[ChunkState, set[str]]]] | None:
        """Every chunk of each day (state and posting ids), in order of k; None
        if a chunk before the last is not full (a read torn by a rival)."""
        found: dict[tuple[str, str, str], dict[int, tuple[ChunkState, set[str]]]] = {
            d: {} for d in days
        }
        asked: dict[tuple[str, str, str], int] = dict.fromkeys(days, 0)
        todo = list(days)
        while todo:
            ids = []
            for d in todo:
                upto = max(self._last.get("/".join(d), 0), asked[d] - 1) + PROBE
                for k in range(asked[d], upto + 1):
                    frozen = self._frozen.get(chunk_id(*d, k))
                    if frozen is None:
                        ids.append(chunk_id(*d, k))
                    else:
                        found[d][k] = frozen
                asked[d] = upto + 1
            projection = {**_TOTALS, "ids": 1, "lo": 1, "hi": 1}
            for doc in (
                await self.chunks.find(by_ids(ids), projection=projection).to_list() if ids else []
            ):
                state, posting_ids = chunk_state(doc), set(doc["ids"])
                found[(state.account, state.day, state.period)][state.k] = (state, posting_ids)
                if state.n >= CHUNK:
                    self._frozen[state.doc_id] = (state, posting_ids)
            # a day whose last asked chunk exists may have more
            todo = [d for d in todo if asked[d] - 1 in found[d]]
        result = {}
        for d, by_k in found.items():
            ordered = [by_k[k] for k in sorted(by_k)]
            if [c[0].k for c in ordered] != list(range(len(ordered))):
                return None
            if any(c[0].n < CHUNK for c in ordered[:-1]):
                return None
            if ordered:
                self._last["/".join(d)] = ordered[-1][0].k
            result[d] = ordered
        return result

    async def _write(self, plan: Plan) -> bool:
        """The plan's writes; True if every one of them landed."""
        if plan.first:
            result = await self.chunks.bulk_write(plan.first, ordered=True)
            if result.modified_count != plan.fills or result.upserted_count != plan.creates:
                return False
        if plan.after:
            result = await self.chunks.bulk_write(plan.after, ordered=True)
            if result.upserted_count != len(plan.after):
                return False
        return True

    async def _snapshot(self, states: Sequence[ChunkState]) -> None:
        """Chunks' totals into their month indexes, then the months' totals
        (read back whole) into the balances. A state this process already
        copied is not sent again (a month index only moves forward), so a
        round rewrites each month index once, for the chunks it moved, not
        for every chunk of the day."""
        fresh: dict[str, ChunkState] = {}
        for state in states:
            if self._copied.get(state.doc_id, -1) < state.n:
                fresh[state.doc_id] = state
        if not fresh:
            return
        by_month: dict[str, list[ChunkState]] = {}
        for state in fresh.values():
            by_month.setdefault(month_id(state.account, state.day), []).append(state)
        ops = [
            UpdateOne(by_id(m), {"$setOnInsert": {"chunks": {}}}, upsert=True)
            for m in by_month
            if m not in self._made
        ]
        moves = [UpdateOne(*snapshot_update(group)) for group in by_month.values()]
        result = await self.months.bulk_write([*ops, *moves], ordered=True)
        if result.modified_count < len(moves):  # a rival copied some chunk further: one by one
            await self.months.bulk_write(
                [UpdateOne(*snapshot_update([s])) for s in fresh.values()], ordered=False
            )
        await self._roll_up(list(by_month))
        for month in by_month:
            self._made[month] = True
        for state in fresh.values():
            self._copied[state.doc_id] = state.n

    async def _roll_up(self, month_ids: Sequence[str]) -> None:
        ops: list[UpdateOne] = []
        accounts: list[str] = []
        async for doc in self.months.find(by_ids(list(month_ids))):
            account, month = doc["_id"].rsplit("/", 1)
            if account not in accounts:
                accounts.append(account)
            ops.append(UpdateOne(*month_snapshot(account, month, month_totals(doc))))
        creates = [
            UpdateOne(by_id(a), {"$setOnInsert": {"months": {}}}, upsert=True)
            for a in accounts
            if a not in self._made
        ]
        if ops:
            await self.balances.bulk_write([*creates, *ops], ordered=True)
            for account in accounts:
                self._made[account] = True

    async def bulk_load(self, lines: Sequence[tuple[str, BookLine]], *, batch: int = 1000) -> None:
        """Append many lines new to the books (the history loader, before the
        services start: nobody else writes), in bulk. Each day's last chunk
        comes from its month index (by `_id`); then the chunks, the month
        indexes and the balances are written ~`batch` documents at a time."""
        days = group_lines(lines)
        month_ids = list(dict.fromkeys(month_id(d[0], d[1]) for d in days))
        last: dict[tuple[str, str, str], ChunkState] = {}
        for i in range(0, len(month_ids), batch):
            async for doc in self.months.find(by_ids(month_ids[i : i + batch])):
                for state in month_chunks(doc):
                    day = (state.account, state.day, state.period)
                    if day in days and (day not in last or state.k > last[day].k):
                        last[day] = state
        ops: list[UpdateOne] = []
        states: list[ChunkState] = []
        for day, lines_of_day in days.items():
            todo = sorted(lines_of_day, key=lambda x: x.key)
            cur = last.get(day)
            if cur is not None and cur.n < CHUNK:
                part, todo = todo[: CHUNK - cur.n], todo[CHUNK - cur.n :]
                ops.append(UpdateOne(*fill_update(cur, part)))
                cur = cur.plus(part)
                states.append(cur)
            while todo:
                part, todo = todo[:CHUNK], todo[CHUNK:]
                empty = ChunkState(*day, cur.k + 1 if cur else 0, 0, 0, 0, "", "")
                ops.append(
                    UpdateOne(
                        by_id(empty.doc_id), {"$setOnInsert": chunk_doc(empty, part)}, upsert=True
                    )
                )
                cur = empty.plus(part)
                states.append(cur)
        for i in range(0, len(ops), batch):
            await self.chunks.bulk_write(ops[i : i + batch], ordered=False)
        for i in range(0, len(states), batch):
            part_states = states[i : i + batch]
            months = list(dict.fromkeys(month_id(s.account, s.day) for s in part_states))
            await self.months.bulk_write(
                [
                    *(
                        UpdateOne(by_id(m), {"$setOnInsert": {"chunks": {}}}, upsert=True)
                        for m in months
                    ),
                    *(UpdateOne(*snapshot_update([s])) for s in part_states),
                ],
                ordered=True,
            )
        for i in range(0, len(month_ids), batch):
            await self._roll_up(month_ids[i : i + batch])

    # --- reading -------------------------------------------------------------

    async def book(self, account: str) -> AccountBook:
        return book_of(await self.balances.find_one(by_id(account)), account)

    async def month_chunks(
        self, book: AccountBook, months: Sequence[str]
    ) -> dict[str, list[ChunkMeta]]:
        """The chunks each month index lists, for pages: kept indexes that
        count what `book` (the balance just read) counts, the others by `$in`."""
        found: dict[str, list[ChunkMeta]] = {}
        for month in months:
            kept = self._kept_months.get(month_id(book.account, month), book.months[month].n)
            if kept is not None:
                found[month] = kept
        missing = [month_id(book.account, m) for m in months if m not in found]
        if missing:
            async for doc in self.months.find(by_ids(missing)):
                metas = chunk_metas(doc)
                self._kept_months.put(doc["_id"], month_totals(doc)["n"], metas)
                found[doc["_id"].rsplit("/", 1)[1]] = metas
        return found

    async def all_books(self) -> list[AccountBook]:
        """Every account's balance. Reads the whole balances collection: one
        document per account (holders and licensees), which does not grow with
        orders; for the operator's trial balance only."""
        return [book_of(d, d["_id"]) async for d in self.balances.find({})]
