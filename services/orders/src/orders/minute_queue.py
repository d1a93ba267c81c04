"""A pending set kept by `_id`: entries (ids) filed under the minute they fall
due, so a periodic job costs what is pending, not what is stored. The expiry
queue, the payment checks (reconciliation) and the sandbox provider's webhook
deliveries are each one of these, in their own collection:

    <prefix>:<YYYY-MM-DDTHH:MM>   the ids that fall due in that minute
    <prefix>:index                the minutes that still have a bucket

An entry is written BEFORE the change it announces (bucket first, then the
index), so nothing it announces can be missing; an entry whose change never
landed is dropped by the job that finds it. A job reads the index, the due
buckets by `$in`, and takes out only the entries it handled (`$pullAll`); a
bucket is deleted, and its minute leaves the index, only once its minute is
closed (older than `CLOSED_AFTER`: no writer still adds to it) and it is empty.
Writers only ever file entries at or after their own clock's minute.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import UpdateOne
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

Doc = dict[str, Any]


def minute_of(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


@dataclass(frozen=True)
class DueBucket:
    minute: str
    order_ids: tuple[str, ...]  # the entries (order ids, or other ids: see the queue)
    closed: bool  # no entries can still arrive
    exists: bool  # False: the index names it, the bucket is gone

    @property
    def ids(self) -> tuple[str, ...]:
        return self.order_ids


@dataclass(frozen=True)
class QueueShape:
    """A queue's names: `prefix` names its documents, `field` holds the entries."""

    prefix: str
    field: str

    @property
    def index_id(self) -> str:
        return f"{self.prefix}:index"

    def bucket_id(self, minute: str) -> str:
        return f"{self.prefix}:{minute}"

    def buckets_filter(self, minutes: Sequence[str]) -> Doc:
        return ids_in([self.bucket_id(m) for m in minutes])

    def emptied_filter(self, minute: str) -> Doc:
        """The bucket, only while it holds nothing."""
        return {"_id": self.bucket_id(minute), self.field: {"$size": 0}}

    def enqueue_updates(self, entries: Iterable[tuple[str, datetime]]) -> list[UpdateOne]:
        """(id, due at) -> the bucket writes, then the index's."""
        by_minute: dict[str, list[str]] = {}
        for entry_id, due_at in entries:
            by_minute.setdefault(minute_of(due_at), []).append(entry_id)
        if not by_minute:
            return []
        writes = [
            UpdateOne(
                by_id(self.bucket_id(m)), {"$addToSet": {self.field: {"$each": ids}}}, upsert=True
            )
            for m, ids in by_minute.items()
        ]
        index = {"$addToSet": {"minutes": {"$each": sorted(by_minute)}}}
        return [*writes, UpdateOne(by_id(self.index_id), index, upsert=True)]


class MinuteQueue:
    """One pending set in `collection`, shaped by `shape`."""

    def __init__(self, collection: AsyncCollection[Doc], shape: QueueShape) -> None:
        self._queue = collection
        self.shape = shape

    async def enqueue(self, entries: Sequence[tuple[str, datetime]]) -> None:
        """Before the change it announces: one ordered write, bucket before index."""
        if writes := self.shape.enqueue_updates(entries):
            await self._queue.bulk_write(writes, ordered=True)

    async def due(self, now: datetime, *, limit: int) -> list[DueBucket]:
        """The buckets of minutes up to `now`, oldest first, at most `limit`."""
        index = await self._queue.find_one(by_id(self.shape.index_id))
        current = minute_of(now)
        minutes = sorted(m for m in (index or {}).get("minutes", []) if m <= current)[:limit]
        if not minutes:
            return []
        found = {
            d["_id"]: d
            async for d in self._queue.find(
                self.shape.buckets_filter(minutes), batch_size=len(minutes) + 1
            )
        }
        closed_before = minute_of(now - CLOSED_AFTER)
        buckets = []
        for minute in minutes:
            doc = found.get(self.shape.bucket_id(minute))
            ids = tuple(doc.get(self.shape.field, [])) if doc else ()
            buckets.append(DueBucket(minute, ids, minute < closed_before, doc is not None))
        return buckets

    async def settle(self, bucket: DueBucket, handled: Collection[str]) -> None:
        """Take the handled entries out; retire a closed bucket left empty."""
        if handled and bucket.exists:
            await self._queue.update_one(
                by_id(self.shape.bucket_id(bucket.minute)),
                {"$pullAll": {self.shape.field: list(handled)}},
            )
        if not bucket.closed or not set(bucket.ids) <= set(handled):
            return
        deleted = await self._queue.delete_one(self.shape.emptied_filter(bucket.minute))
        if deleted.deleted_count == 1 or not bucket.exists:
            # the bucket is gone: its minute leaves the index (if an entry came
            # late, the delete above refused and the minute stays)
            await self._queue.update_one(
                by_id(self.shape.index_id), {"$pull": {"minutes": bucket.minute}}
            )
