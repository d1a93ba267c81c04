"""A pending set kept by `_id`: entries (ids) filed under the minute they fall
due, so a periodic job costs what is pending, not what is stored. The expiry
queue, the payment checks (reconciliation) and the sandbox provider's webhook
deliveries are each one of these, in their own collection:

    <prefix>:<YYYY-MM-DDTHH:MM>#<shard>   the ids that fall due in that minute
                                          whose hash falls in that shard
    <prefix>:index                        the minutes that still have buckets

A minute is cut into `shards` buckets by a hash of the entry: every write
rewrites its whole document, and one bucket per minute held 1,200 entries
(84 KB) at 20 payments a second. A shape with one shard keeps the plain
`<prefix>:<minute>` id.

An entry is written BEFORE the change it announces (bucket first, then the
index), so nothing it announces can be missing; an entry whose change never
landed is dropped by the job that finds it. A job reads the index, the due
minutes' buckets by `$in`, and takes out only the entries it handled
(`$pullAll`); a bucket is deleted, and its minute leaves the index, only once
its minute is closed (older than `CLOSED_AFTER`: no writer still adds to it)
and all its buckets are empty. Writers only ever file entries at or after
their own clock's minute.
"""

from __future__ import annotations

import zlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import DeleteOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from orders.filters import by_id, ids_in

__all__ = [
    "CLOSED_AFTER",
    "DueBucket",
    "MinuteQueue",
    "QueueShape",
    "minute_of",
]

# past this, a minute takes no more entries (replicas' clocks agree far better)
CLOSED_AFTER = timedelta(minutes=2)
_MINUTES_PER_READ = 16  # minutes whose buckets one `$in` reads

Doc = dict[str, Any]


def minute_of(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


@dataclass(frozen=True)
class DueBucket:
    minute: str
    order_ids: tuple[str, ...]  # the entries (order ids, or other ids: see the queue)
    closed: bool  # no entries can still arrive
    exists: bool  # False: the index names it, the buckets are gone
    stored: tuple[str, ...] = ()  # the ids of the minute's buckets that exist

    @property
    def ids(self) -> tuple[str, ...]:
        return self.order_ids


@dataclass(frozen=True)
class QueueShape:
    """A queue's names: `prefix` names its documents, `field` holds the
    entries, `shards` buckets per minute."""

    prefix: str
    field: str
    shards: int = 1

    @property
    def index_id(self) -> str:
        return f"{self.prefix}:index"

    def shard_of(self, entry: str) -> int:
        return zlib.crc32(entry.encode()) % self.shards

    def bucket_id(self, minute: str, shard: int = 0) -> str:
        base = f"{self.prefix}:{minute}"
        return base if self.shards == 1 else f"{base}#{shard:02d}"

    def bucket_of(self, minute: str, entry: str) -> str:
        return self.bucket_id(minute, self.shard_of(entry))

    def minute_buckets(self, minute: str) -> list[str]:
        return [self.bucket_id(minute, k) for k in range(self.shards)]

    def buckets_filter(self, minutes: Sequence[str]) -> Doc:
        return ids_in([b for m in minutes for b in self.minute_buckets(m)])

    def emptied_filter(self, bucket_id: str) -> Doc:
        """The bucket, only while it holds nothing."""
        return {"_id": bucket_id, self.field: {"$size": 0}}

    def enqueue_updates(self, entries: Iterable[tuple[str, datetime]]) -> list[UpdateOne]:
        """(id, due at) -> the bucket writes, then the index's."""
        by_bucket: dict[str, list[str]] = {}
        minutes: set[str] = set()
        for entry_id, due_at in entries:
            minute = minute_of(due_at)
            minutes.add(minute)
            by_bucket.setdefault(self.bucket_of(minute, entry_id), []).append(entry_id)
        if not by_bucket:
            return []
        writes = [
            UpdateOne(by_id(b), {"$addToSet": {self.field: {"$each": ids}}}, upsert=True)
            for b, ids in by_bucket.items()
        ]
        index = {"$addToSet": {"minutes": {"$each": sorted(minutes)}}}
        return [*writes, UpdateOne(by_id(self.index_id), index, upsert=True)]


class MinuteQueue:
    """One pending set in `collection`, shaped by `shape`."""

    def __init__(self, collection: AsyncCollection[Doc], shape: QueueShape) -> None:
        self._queue = collection
        self.shape = shape

    async def enqueue(self, entries: Sequence[tuple[str, datetime]]) -> None:
        """Before the change it announces: one ordered write, buckets before index."""
        if writes := self.shape.enqueue_updates(entries):
            await self._queue.bulk_write(writes, ordered=True)

    async def due(self, now: datetime, *, limit: int) -> list[DueBucket]:
        """The minutes up to `now` with their entries, oldest first, at most `limit`."""
        index = await self._queue.find_one(by_id(self.shape.index_id))
        current = minute_of(now)
        minutes = sorted(m for m in (index or {}).get("minutes", []) if m <= current)[:limit]
        found: dict[str, Doc] = {}
        for start in range(0, len(minutes), _MINUTES_PER_READ):
            chunk = minutes[start : start + _MINUTES_PER_READ]
            query = self._queue.find(
                self.shape.buckets_filter(chunk), batch_size=len(chunk) * self.shape.shards + 1
            )
            found.update({d["_id"]: d async for d in query})
        closed_before = minute_of(now - CLOSED_AFTER)
        buckets = []
        for minute in minutes:
            docs = [found[b] for b in self.shape.minute_buckets(minute) if b in found]
            ids = tuple(i for d in docs for i in d.get(self.shape.field, []))
            stored = tuple(d["_id"] for d in docs)
            buckets.append(DueBucket(minute, ids, minute < closed_before, bool(docs), stored))
        return buckets

    async def settle(self, bucket: DueBucket, handled: Collection[str]) -> None:
        """Take the handled entries out; retire a closed minute left empty."""
        pulls: dict[str, list[str]] = {}
        for entry in handled:
            pulls.setdefault(self.shape.bucket_of(bucket.minute, entry), []).append(entry)
        writes = [
            UpdateOne(by_id(b), {"$pullAll": {self.shape.field: ids}})
            for b, ids in pulls.items()
            if b in bucket.stored
        ]
        if writes:
            await self._queue.bulk_write(writes, ordered=False)
        if not bucket.closed or not set(bucket.ids) <= set(handled):
            return
        deleted = 0
        if bucket.stored:
            result = await self._queue.bulk_write(
                [DeleteOne(self.shape.emptied_filter(b)) for b in bucket.stored], ordered=False
            )
            deleted = result.deleted_count
        if deleted == len(bucket.stored):
            # the buckets are gone: the minute leaves the index (if an entry
            # came late, a delete above refused and the minute stays)
            await self._queue.update_one(
                by_id(self.shape.index_id), {"$pull": {"minutes": bucket.minute}}
            )
