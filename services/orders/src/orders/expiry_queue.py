"""The pending set of the expiry sweep: which confirmed orders fall due when,
kept by `_id`, so a sweep costs what is pending, not what is stored.

    expiry:<YYYY-MM-DDTHH:MM>   the ids of orders whose payment falls due in that minute
    expiry:index                the minutes that still have a bucket

An order's entry is written BEFORE the write that confirms it (bucket first,
then the index), so no CONFIRMED order can be missing from the queue; a
crash in between leaves an entry for an order that is not CONFIRMED, which
the sweep drops. The sweep reads the index, the due buckets and their orders
by `_id`, and takes out only the entries it handled (`$pullAll`); a bucket is
deleted, and its minute leaves the index, only once its minute is closed
(older than `CLOSED_AFTER`: no writer still adds to it) and it is empty.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from orders.filters import by_id, ids_in
from servicekit.queries import BOUNDED

__all__ = [
    "CLOSED_AFTER",
    "INDEX_ID",
    "QUEUE",
    "DueBucket",
    "ExpiryQueue",
    "bucket_id",
    "buckets_filter",
    "emptied_filter",
    "enqueue_updates",
    "minute_of",
]

QUEUE = "expiry_queue"
BOUNDED.add(QUEUE)  # holds only what is pending: reading it is never a scan of history
INDEX_ID = "expiry:index"
# writers add entries for minutes at or after their own clock's; past this,
# a minute takes no more entries (replicas' clocks agree far better than this)
CLOSED_AFTER = timedelta(minutes=2)

Doc = dict[str, Any]


def minute_of(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def bucket_id(minute: str) -> str:
    return f"expiry:{minute}"


def buckets_filter(minutes: Sequence[str]) -> Doc:
    return ids_in([bucket_id(m) for m in minutes])


def emptied_filter(minute: str) -> Doc:
    """The bucket, only while it holds nothing."""
    return {"_id": bucket_id(minute), "order_ids": {"$size": 0}}


def enqueue_updates(entries: Iterable[tuple[str, datetime]]) -> list[UpdateOne]:
    """(order id, payment due at) -> the bucket writes, then the index's."""
    by_minute: dict[str, list[str]] = {}
    for order_id, due_at in entries:
        by_minute.setdefault(minute_of(due_at), []).append(order_id)
    if not by_minute:
        return []
    writes = [
        UpdateOne(by_id(bucket_id(m)), {"$addToSet": {"order_ids": {"$each": ids}}}, upsert=True)
        for m, ids in by_minute.items()
    ]
    index = {"$addToSet": {"minutes": {"$each": sorted(by_minute)}}}
    return [*writes, UpdateOne(by_id(INDEX_ID), index, upsert=True)]


@dataclass(frozen=True)
class DueBucket:
    minute: str
    order_ids: tuple[str, ...]
    closed: bool  # no entries can still arrive
    exists: bool  # False: the index names it, the bucket is gone


class ExpiryQueue:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._queue: AsyncCollection[Doc] = db[QUEUE]

    async def enqueue(self, entries: Sequence[tuple[str, datetime]]) -> None:
        """Before the orders are confirmed: ordered, bucket before index."""
        if writes := enqueue_updates(entries):
            await self._queue.bulk_write(writes, ordered=True)

    async def due(self, now: datetime, *, limit: int) -> list[DueBucket]:
        """The buckets of minutes up to `now`, oldest first, at most `limit`."""
        index = await self._queue.find_one(by_id(INDEX_ID))
        current = minute_of(now)
        minutes = sorted(m for m in (index or {}).get("minutes", []) if m <= current)[:limit]
        if not minutes:
            return []
        found = {
            d["_id"]: d
            async for d in self._queue.find(buckets_filter(minutes), batch_size=len(minutes) + 1)
        }
        closed_before = minute_of(now - CLOSED_AFTER)
        buckets = []
        for minute in minutes:
            doc = found.get(bucket_id(minute))
            ids = tuple(doc.get("order_ids", [])) if doc else ()
            buckets.append(DueBucket(minute, ids, minute < closed_before, doc is not None))
        return buckets

    async def settle(self, bucket: DueBucket, handled: Collection[str]) -> None:
        """Take the handled entries out; retire a closed bucket left empty."""
        if handled and bucket.exists:
            await self._queue.update_one(
                by_id(bucket_id(bucket.minute)), {"$pullAll": {"order_ids": list(handled)}}
            )
        if not bucket.closed or not set(bucket.order_ids) <= set(handled):
            return
        deleted = await self._queue.delete_one(emptied_filter(bucket.minute))
        if deleted.deleted_count == 1 or not bucket.exists:
            # the bucket is gone: its minute leaves the index (if an entry came
            # late, the delete above refused and the minute stays)
            await self._queue.update_one(by_id(INDEX_ID), {"$pull": {"minutes": bucket.minute}})
