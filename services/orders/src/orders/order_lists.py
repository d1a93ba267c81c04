"""Order lists as `_id`-keyed buckets, so listing costs what a page holds,
not what history holds (the local store scans for any filter without `_id`).

Each list is a small tree of documents, walked newest first:

    tourist:<subject>   periods:<list> → one bucket per month
                        (`list:tourist:t1:2026-05`)
    licensee:<id>, all  periods:<list> → day → hour → one bucket per second
                        (`idx:all:2026-05-01`, `idx:all:2026-05-01/10`,
                        `list:all:2026-05-01/10/15:37`)

A tourist places a few orders a month; the platform and a licensee up to
hundreds a second, and every write rewrites its whole document: a bucket of
one second and an index of one hour stay a few KB however busy the day
(day-long buckets grew to 260 KB and stalled checkout). A bucket holds
`{id, at}` entries (order id, placed_at); each index document lists the
`periods` under it that exist.

Entries are written BEFORE the order is inserted, with `$addToSet` (a retry
adds nothing): a crash can leave an entry whose order never landed, never an
order missing from its lists. Readers skip an entry whose order is absent or
was placed at another time (a retry under the same key that lost, or wrote
its entry at another instant). A process remembers the index entries it has
written, so a busy second costs one index write, not one per order.

The cursor is opaque to clients: the last (placed_at, order id) a page
returned; the next page continues strictly before it, newest first.
"""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from collections.abc import AsyncGenerator, Collection, Iterable, Sequence
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
    "node_id",
    "path_of",
    "periods_id",
    "scopes_of",
]

LISTS = "order_lists"
ListKind = Literal["tourist", "licensee", "all"]
TreePath = tuple[str, ...]  # a bucket's place in its tree: ("2026-05-01", "10", "15:37")
# the tree's levels, coarsest first; the last one names the bucket
_LEVELS: dict[ListKind, tuple[str, ...]] = {
    "tourist": ("%Y-%m",),
    "licensee": ("%Y-%m-%d", "%H", "%M:%S"),
    "all": ("%Y-%m-%d", "%H", "%M:%S"),
}
_BUCKETS_PER_READ = 16  # buckets fetched by one `$in`
_NODES_PER_READ = 4  # index documents fetched by one `$in` (an hour's may hold 3,600 seconds)
_REMEMBERED = 50_000  # index entries a process remembers having written

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


def path_of(scope: Scope, at: datetime) -> TreePath:
    utc = at.astimezone(UTC)
    return tuple(utc.strftime(level) for level in _LEVELS[scope.kind])


def bucket_id(scope: Scope, path: TreePath) -> str:
    return f"list:{scope.name}:{'/'.join(path)}"


def periods_id(scope: Scope) -> str:
    return f"periods:{scope.name}"


def node_id(scope: Scope, prefix: TreePath) -> str:
    """The index document listing what exists under `prefix` (the root: periods)."""
    return f"idx:{scope.name}:{'/'.join(prefix)}" if prefix else periods_id(scope)


def group_entries(orders: Iterable[Order]) -> tuple[dict[str, list[Doc]], dict[str, set[str]]]:
    """The orders' entries by bucket id, and the periods each index document
    must list, by its id."""
    entries: dict[str, list[Doc]] = defaultdict(list)
    index: dict[str, set[str]] = defaultdict(set)
    for order in orders:
        for scope in scopes_of(order):
            path = path_of(scope, order.placed_at)
            entries[bucket_id(scope, path)].append({"id": order.order_id, "at": order.placed_at})
            for depth, period in enumerate(path):
                index[node_id(scope, path[:depth])].add(period)
    return entries, index


def entry_updates(
    orders: Iterable[Order], *, known: Collection[tuple[str, str]] = ()
) -> tuple[list[UpdateOne], set[tuple[str, str]]]:
    """The list writes for these orders: one `$addToSet` per bucket and per
    index document that does not list its periods yet as far as `known`
    says; and the (index id, period) pairs those writes add."""
    entries, index = group_entries(orders)
    adding = {(doc_id, p) for doc_id, periods in index.items() for p in periods} - set(known)
    missing: dict[str, list[str]] = defaultdict(list)
    for doc_id, period in sorted(adding):
        missing[doc_id].append(period)
    writes = [
        UpdateOne(by_id(b), {"$addToSet": {"entries": {"$each": e}}}, upsert=True)
        for b, e in entries.items()
    ] + [
        UpdateOne(by_id(i), {"$addToSet": {"periods": {"$each": p}}}, upsert=True)
        for i, p in missing.items()
    ]
    return writes, adding


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


# a place in the walk: a path, and the cursor's path while the walk is still on it
_Step = tuple[TreePath, TreePath | None]


class OrderLists:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._lists: AsyncCollection[Doc] = db[LISTS]
        self._indexed: set[tuple[str, str]] = set()

    async def add(self, orders: Sequence[Order]) -> None:
        """Put the orders in their lists (before they are inserted): one command."""
        writes, adding = entry_updates(orders, known=self._indexed)
        if writes:
            await self._lists.bulk_write(writes, ordered=True)
        if len(self._indexed) > _REMEMBERED:
            self._indexed.clear()
        self._indexed |= adding

    async def walk(self, scope: Scope, before: Position | None) -> AsyncGenerator[Position, None]:
        """The list's entries newest first, strictly before `before`: the tree
        level by level, a few documents by `_id` per read, as the page needs them."""
        bound = path_of(scope, before.at) if before else None
        steps = _one(((), bound))
        for _ in _LEVELS[scope.kind]:
            steps = self._children(scope, steps)
        async for chunk in _chunks(steps, _BUCKETS_PER_READ):
            found = await self._read([bucket_id(scope, path) for path, _ in chunk])
            for path, _ in chunk:
                entries = found.get(bucket_id(scope, path), {}).get("entries", [])
                for position in sorted({Position(e["at"], e["id"]) for e in entries}, reverse=True):
                    if before is None or position < before:
                        yield position

    async def _children(
        self, scope: Scope, parents: AsyncGenerator[_Step, None]
    ) -> AsyncGenerator[_Step, None]:
        """Each parent's periods, newest first, none after the cursor's."""
        async for chunk in _chunks(parents, _NODES_PER_READ):
            found = await self._read([node_id(scope, prefix) for prefix, _ in chunk])
            for prefix, bound in chunk:
                depth = len(prefix)
                periods = found.get(node_id(scope, prefix), {}).get("periods", [])
                for period in sorted(periods, reverse=True):
                    if bound is None or period < bound[depth]:
                        yield (*prefix, period), None
                    elif period == bound[depth]:
                        yield (*prefix, period), bound

    async def _read(self, ids: list[str]) -> dict[str, Doc]:
        query = self._lists.find(ids_in(ids), batch_size=len(ids) + 1)
        return {doc["_id"]: doc async for doc in query}


async def _one(step: _Step) -> AsyncGenerator[_Step, None]:
    yield step


async def _chunks(steps: AsyncGenerator[_Step, None], n: int) -> AsyncGenerator[list[_Step], None]:
    chunk: list[_Step] = []
    async for step in steps:
        chunk.append(step)
        if len(chunk) == n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
