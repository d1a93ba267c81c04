"""Order lists as `_id`-keyed buckets, so listing costs what a page holds,
not what history holds (the local store scans for any filter without `_id`).

Three kinds of list, each cut into period buckets:

    tourist:<subject>     one bucket per month     (`list:tourist:t1:2026-05`)
    licensee:<id>         one bucket per day       (`list:licensee:lee1:2026-05-01`)
    all                   one bucket per day       (the operator's list)

A bucket holds `{id, at}` entries (order id, placed_at); a `periods:<list>`
document holds which buckets exist, so a page walks back from the newest one
without guessing. Entries are written BEFORE the order is inserted, with
`$addToSet` (a retry adds nothing): a crash can leave an entry whose order
never landed, never an order missing from its lists. Readers skip an entry
whose order is absent or was placed at another time (a retry under the same
key that lost, or wrote its entry at another instant).

The cursor is opaque to clients: the last (placed_at, order id) a page
returned; the next page continues strictly before it, newest first.
"""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from collections.abc import AsyncGenerator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from orders.domain import Order
from orders.errors import InvalidCursor
from orders.filters import by_id, ids_in

__all__ = [
    "LISTS",
    "ListKind",
    "OrderLists",
    "Position",
    "Scope",
    "bucket_id",
    "decode_cursor",
    "encode_cursor",
    "entry_updates",
    "group_entries",
    "period_of",
    "periods_id",
    "scopes_of",
]

LISTS = "order_lists"
ListKind = Literal["tourist", "licensee", "all"]
# a tourist places a few orders a month; licensees and the platform many a day
_PERIOD_FORMAT: dict[ListKind, str] = {
    "tourist": "%Y-%m",
    "licensee": "%Y-%m-%d",
    "all": "%Y-%m-%d",
}
_BUCKETS_PER_READ = 16  # buckets fetched by one `$in`

Doc = dict[str, Any]


@dataclass(frozen=True)
class Scope:
    """One list: whose orders."""

    kind: ListKind
    key: str = ""  # the tourist's subject or the licensee id; "" for all

    @property
    def name(self) -> str:
        return self.kind if self.kind == "all" else f"{self.kind}:{self.key}"


@dataclass(frozen=True, order=True)
class Position:
    """Where an entry sits in its list: ordered by placed_at, then order id."""

    at: datetime
    order_id: str


def scopes_of(order: Order) -> list[Scope]:
    """Every list the order appears in (guests list nothing: they hold a token)."""
    scopes = [Scope("all")]
    if order.customer.kind == "tourist":
        scopes.append(Scope("tourist", order.customer.id))
    scopes += [Scope("licensee", licensee) for licensee in order.licensee_ids]
    return scopes


def period_of(scope: Scope, at: datetime) -> str:
    return at.astimezone(UTC).strftime(_PERIOD_FORMAT[scope.kind])


def bucket_id(scope: Scope, period: str) -> str:
    return f"list:{scope.name}:{period}"


def periods_id(scope: Scope) -> str:
    return f"periods:{scope.name}"


def group_entries(orders: Iterable[Order]) -> tuple[dict[str, list[Doc]], dict[str, set[str]]]:
    """The orders' entries by bucket id, and the periods by periods-document id."""
    entries: dict[str, list[Doc]] = defaultdict(list)
    periods: dict[str, set[str]] = defaultdict(set)
    for order in orders:
        for scope in scopes_of(order):
            period = period_of(scope, order.placed_at)
            entries[bucket_id(scope, period)].append({"id": order.order_id, "at": order.placed_at})
            periods[periods_id(scope)].add(period)
    return entries, periods


def entry_updates(orders: Iterable[Order]) -> list[UpdateOne]:
    """The list writes for these orders: one `$addToSet` per bucket, then one
    per periods document (a bucket is never listed before it holds its entry)."""
    entries, periods = group_entries(orders)
    return [
        UpdateOne(by_id(b), {"$addToSet": {"entries": {"$each": e}}}, upsert=True)
        for b, e in entries.items()
    ] + [
        UpdateOne(by_id(p), {"$addToSet": {"periods": {"$each": sorted(s)}}}, upsert=True)
        for p, s in periods.items()
    ]


def encode_cursor(position: Position) -> str:
    raw = f"{position.at.astimezone(UTC).isoformat()}|{position.order_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, order_id = raw.split("|", 1)
        when = datetime.fromisoformat(at)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor(cursor) from exc
    if when.tzinfo is None or not order_id:
        raise InvalidCursor(cursor)
    return Position(when, order_id)


class OrderLists:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._lists: AsyncCollection[Doc] = db[LISTS]

    async def add(self, orders: Sequence[Order]) -> None:
        """Put the orders in their lists (before they are inserted)."""
        # one command (buckets before their periods documents: ordered)
        if writes := entry_updates(orders):
            await self._lists.bulk_write(writes, ordered=True)

    async def walk(self, scope: Scope, before: Position | None) -> AsyncGenerator[Position, None]:
        """The list's entries newest first, strictly before `before`: one read
        of the periods document, then buckets by `_id` a few at a time."""
        doc = await self._lists.find_one(by_id(periods_id(scope)))
        periods = sorted(doc["periods"] if doc else [], reverse=True)
        if before is not None:
            last = period_of(scope, before.at)
            periods = [p for p in periods if p <= last]
        for start in range(0, len(periods), _BUCKETS_PER_READ):
            chunk = periods[start : start + _BUCKETS_PER_READ]
            ids = [bucket_id(scope, p) for p in chunk]
            found = {
                d["_id"]: d async for d in self._lists.find(ids_in(ids), batch_size=len(ids) + 1)
            }
            for bucket in ids:
                entries = found.get(bucket, {}).get("entries", [])
                positions = sorted({Position(e["at"], e["id"]) for e in entries}, reverse=True)
                for position in positions:
                    if before is None or position < before:
                        yield position
