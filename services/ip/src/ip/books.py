"""The ledger's `_id`-keyed read side: per-account day buckets and balances.

The journal (one document per posting) is the truth, but reading it by
account, holder or licensee is a scan on the local store. So every posting is
also projected, once, into two kinds of documents found by `_id` only:

- a day bucket per account, `_id` = `<account>/<UTC day>/<period>`: the
  postings of that account that day in that period (id, time, amount), with
  their count `n` and sum; a posting is appended only if its id is not there
  yet (`ids: {$ne: id}` in the same single-document update), so a redelivered
  or repeated projection changes nothing;
- a balance per account, `_id` = the account: per bucket key the last
  snapshot `{n, sum_fen, payouts}` it copied from that bucket, moved only
  forward (a snapshot with a larger `n`). The balance is the sum of the
  snapshots: exact whatever the order of concurrent projections, and it reads
  one document.

A posting is projected right after its insert and again whenever its cause is
redelivered (ip.ledger), so a crash between the two writes heals on the next
delivery. Pages walk the bucket keys listed in the balance document in order
and read buckets by `$in` on `_id`: a page costs what it shows, not history.
The cursor is opaque: base64 of the last posting's (time, id).
"""

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ip.errors import Contention

__all__ = [
    "BUCKETS",
    "BALANCES",
    "AccountBook",
    "BookLine",
    "Books",
    "Page",
    "balance_key",
    "bucket_id",
    "bucket_update",
    "by_id",
    "by_ids",
    "new_bucket",
    "snapshot_update",
    "day_of",
    "decode_cursor",
    "encode_cursor",
    "fold",
    "folded_append",
    "stamp",
]

Doc = dict[str, Any]
BUCKETS = "ledger_days"
BALANCES = "ledger_balances"
PAGE_BUCKETS = 16
MAX_APPEND_ROUNDS = 20  # bucket documents read per round trip while filling a page


@dataclass(frozen=True)
class BookLine:
    """One posting as one account sees it (raw amount: debit positive)."""

    posting_id: str
    at: str  # posted_at, ISO UTC to the millisecond (sorts as text)
    period: str
    kind: str
    amount_fen: int


@dataclass(frozen=True)
class AccountBook:
    """An account's balance document: raw sum, payouts and where its buckets are."""

    account: str
    sum_fen: int
    payouts: int
    keys: tuple[str, ...]  # "<day>_<period>", sorted


@dataclass(frozen=True)
class Page:
    lines: list[BookLine]
    next_cursor: str | None


def by_id(doc_id: str) -> Doc:
    return {"_id": doc_id}


def by_ids(doc_ids: Sequence[str]) -> Doc:
    return {"_id": {"$in": list(doc_ids)}}


def stamp(at: datetime) -> str:
    """posted_at as stored (BSON keeps milliseconds), as sortable text."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds")


def day_of(at: datetime) -> str:
    return stamp(at)[:10]


def balance_key(day: str, period: str) -> str:
    return f"{day}_{period}"


def bucket_id(account: str, day: str, period: str) -> str:
    return f"{account}/{day}/{period}"


def encode_cursor(line: BookLine) -> str:
    raw = f"{line.at}|{line.posting_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """(time, posting id) after which the next page starts; ValueError if malformed."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("malformed cursor") from exc
    at, sep, posting_id = raw.partition("|")
    if not sep or len(at) < 10 or not posting_id:
        raise ValueError("malformed cursor")
    return at, posting_id


def _book(doc: Doc | None, account: str) -> AccountBook:
    days: dict[str, Doc] = (doc or {}).get("days") or {}
    return AccountBook(
        account=account,
        sum_fen=sum(int(d.get("sum_fen", 0)) for d in days.values()),
        payouts=sum(int(d.get("payouts", 0)) for d in days.values()),
        keys=tuple(sorted(days)),
    )


def new_bucket(account: str, day: str, period: str) -> Doc:
    return {
        "$setOnInsert": {
            "account": account,
            "day": day,
            "period": period,
            "n": 0,
            "sum_fen": 0,
            "payouts": 0,
            "ids": [],
            "items": [],
        }
    }


def bucket_update(line: BookLine, account: str, day: str) -> tuple[Doc, Doc]:
    """(filter, update) that appends `line` to its bucket unless it is there."""
    item = {"id": line.posting_id, "at": line.at, "kind": line.kind, "amount_fen": line.amount_fen}
    return (
        {"_id": bucket_id(account, day, line.period), "ids": {"$ne": line.posting_id}},
        {
            "$push": {"ids": line.posting_id, "items": item},
            "$inc": {
                "n": 1,
                "sum_fen": line.amount_fen,
                "payouts": 1 if line.kind == "payout" else 0,
            },
        },
    )


def folded_append(bucket: Doc) -> tuple[Doc, Doc]:
    """(filter, update) that appends a folded bucket's lines (see `fold`) to
    its stored bucket, unless any of them is there already."""
    return (
        {"_id": bucket["_id"], "ids": {"$nin": bucket["ids"]}},
        {
            "$push": {"ids": {"$each": bucket["ids"]}, "items": {"$each": bucket["items"]}},
            "$inc": {"n": bucket["n"], "sum_fen": bucket["sum_fen"], "payouts": bucket["payouts"]},
        },
    )


def snapshot_update(bucket: Doc) -> tuple[Doc, Doc]:
    """(filter, update) copying a bucket's totals into its account's balance,
    unless the balance holds that bucket at the same count or later."""
    key = balance_key(bucket["day"], bucket["period"])
    n = int(bucket["n"])
    return (
        {"_id": bucket["account"], f"days.{key}.n": {"$not": {"$gte": n}}},
        {
            "$set": {
                f"days.{key}": {
                    "n": n,
                    "sum_fen": int(bucket["sum_fen"]),
                    "payouts": int(bucket.get("payouts", 0)),
                }
            }
        },
    )


class Books:
    """The buckets and balances of one ip database."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.buckets: AsyncCollection[Doc] = db[BUCKETS]
        self.balances: AsyncCollection[Doc] = db[BALANCES]

    async def project(self, lines: Sequence[tuple[str, BookLine]], *, fresh: bool = False) -> None:
        """Append each (account, line) to its bucket unless it is there, then
        move the balances; each round trip names its documents by `_id`.

        Each bucket gets ONE append of all its missing lines, guarded on none
        of them being there (many updates of one document in one command can
        stall the local store). `fresh`: the lines are of postings the caller
        has just inserted, so none can be in a bucket yet unless a rival
        projected it meanwhile: the first round skips reading the buckets.
        Should a guard fail (a rival appended some), the buckets are read and
        what is still missing is appended: three commands in the usual case."""
        if not lines:
            return
        ids = list(dict.fromkeys(bucket_id(a, x.at[:10], x.period) for a, x in lines))
        missing = list(lines)
        for attempt in range(MAX_APPEND_ROUNDS):
            if attempt > 0 or not fresh:
                present = await self._present(ids)
                missing = [
                    (a, x)
                    for a, x in missing
                    if x.posting_id not in present.get(bucket_id(a, x.at[:10], x.period), ())
                ]
            if not missing:
                break
            folded = fold(missing)
            ops = [
                UpdateOne(
                    by_id(b["_id"]), new_bucket(b["account"], b["day"], b["period"]), upsert=True
                )
                for b in folded
            ]
            ops.extend(UpdateOne(*folded_append(b)) for b in folded)
            # an existing bucket's create is matched, not modified: every
            # append landed iff as many documents were modified as appended
            result = await self.buckets.bulk_write(ops, ordered=True)
            if result.modified_count == len(folded):
                break
        else:
            raise Contention("day buckets stayed contended")
        buckets = [
            b
            async for b in self.buckets.find(
                by_ids(ids),
                projection={
                    "account": 1,
                    "day": 1,
                    "period": 1,
                    "n": 1,
                    "sum_fen": 1,
                    "payouts": 1,
                },
            )
        ]
        await self._snapshot(buckets)

    async def _present(self, ids: Sequence[str]) -> dict[str, set[str]]:
        """The posting ids in each of these buckets (a heal path: redelivery)."""
        return {
            b["_id"]: set(b.get("ids", []))
            async for b in self.buckets.find(by_ids(list(ids)), projection={"ids": 1})
        }

    async def _snapshot(self, buckets: Sequence[Doc]) -> None:
        ops = []
        for account in dict.fromkeys(b["account"] for b in buckets):
            ops.append(UpdateOne(by_id(account), {"$setOnInsert": {"days": {}}}, upsert=True))
        ops.extend(UpdateOne(*snapshot_update(b)) for b in buckets)
        if buckets:
            await self.balances.bulk_write(ops, ordered=True)

    async def book(self, account: str) -> AccountBook:
        return _book(await self.balances.find_one(by_id(account)), account)

    async def all_books(self) -> list[AccountBook]:
        """Every account's balance. Reads the whole balances collection: one
        document per account (holders and licensees), which does not grow with
        orders; for the operator's trial balance only."""
        return [_book(d, d["_id"]) async for d in self.balances.find({})]

    async def page(
        self,
        account: str,
        *,
        limit: int,
        cursor: str | None = None,
        period: str | None = None,
    ) -> Page:
        """Up to `limit` lines of the account in posting order (time, id),
        after `cursor`, optionally only those of one period."""
        after = decode_cursor(cursor) if cursor else None
        book = await self.book(account)
        keys = [k for k in book.keys if period is None or k.endswith(f"_{period}")]
        if after is not None:
            keys = [k for k in keys if k[:10] >= after[0][:10]]
        found: list[BookLine] = []
        # buckets are read a few days at a time; a day's buckets (one per period)
        # are merged whole, so the order holds across them
        start = 0
        while start < len(keys) and len(found) <= limit:
            end = min(start + PAGE_BUCKETS, len(keys))
            while end < len(keys) and keys[end][:10] == keys[end - 1][:10]:
                end += 1
            chunk = keys[start:end]
            start = end
            wanted = [bucket_id(account, k[:10], k[11:]) for k in chunk]
            lines = [
                BookLine(i["id"], i["at"], b["period"], i["kind"], int(i["amount_fen"]))
                async for b in self.buckets.find(by_ids(wanted))
                for i in b.get("items", [])
            ]
            lines.sort(key=lambda x: (x.at, x.posting_id))
            found.extend(x for x in lines if after is None or (x.at, x.posting_id) > after)
        if len(found) > limit:
            return Page(found[:limit], encode_cursor(found[limit - 1]))
        return Page(found, None)

    async def lines_of_period(self, account: str, period: str) -> list[BookLine]:
        """All of an account's lines in one period (a statement): bounded by
        the period's days, not by history."""
        lines: list[BookLine] = []
        cursor: str | None = None
        while True:
            page = await self.page(account, limit=5000, cursor=cursor, period=period)
            lines.extend(page.lines)
            if page.next_cursor is None:
                return lines
            cursor = page.next_cursor

    async def bulk_load(self, lines: Sequence[tuple[str, BookLine]], *, batch: int = 1000) -> None:
        """Append many lines (the history loader: postings new to the books),
        one update per bucket, then move the balances."""
        folded = fold(lines)
        for i in range(0, len(folded), batch):
            part = folded[i : i + batch]
            await self.buckets.bulk_write(
                [
                    UpdateOne(
                        by_id(b["_id"]),
                        {
                            "$setOnInsert": {
                                "account": b["account"],
                                "day": b["day"],
                                "period": b["period"],
                            },
                            "$push": {"ids": {"$each": b["ids"]}, "items": {"$each": b["items"]}},
                            "$inc": {"n": b["n"], "sum_fen": b["sum_fen"], "payouts": b["payouts"]},
                        },
                        upsert=True,
                    )
                    for b in part
                ],
                ordered=False,
            )
            totals = [
                b
                async for b in self.buckets.find(
                    by_ids([b["_id"] for b in part]),
                    projection={
                        "account": 1,
                        "day": 1,
                        "period": 1,
                        "n": 1,
                        "sum_fen": 1,
                        "payouts": 1,
                    },
                )
            ]
            await self._snapshot(totals)


def fold(lines: Sequence[tuple[str, BookLine]]) -> list[Doc]:
    """The lines grouped into whole buckets (the bulk form of `Books.project`)."""
    buckets: dict[str, Doc] = {}
    seen: set[tuple[str, str]] = set()
    for account, line in lines:
        day = line.at[:10]
        key = bucket_id(account, day, line.period)
        if (key, line.posting_id) in seen:
            continue
        seen.add((key, line.posting_id))
        b = buckets.get(key)
        if b is None:
            b = buckets[key] = {"_id": key, **new_bucket(account, day, line.period)["$setOnInsert"]}
        update = bucket_update(line, account, day)[1]
        b["ids"].append(line.posting_id)
        b["items"].append(update["$push"]["items"])
        for name, inc in update["$inc"].items():
            b[name] += inc
    return list(buckets.values())
