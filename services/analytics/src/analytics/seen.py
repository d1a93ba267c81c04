"""The ids of events applied lately, kept by `_id` and forgotten by `_id`.

The per-partition high-water marks skip a record delivered again at the same
offset, but not a copy of an event republished at a NEW offset (a relay that
crashed between publishing and marking sent): only the event id tells those
apart. So every applied id is recorded (`seen`, `_id` = event id; a batch
looks its ids up with one `$in` and records the new ones with one bulk
insert) for `SEEN_RETENTION_HOURS`.

Forgetting must not scan: each id is also listed in the bucket of the UTC
second it was recorded in (`seen_buckets`, `_id` = `2026-11-20T10:05:03`),
written BEFORE the id itself, so no recorded id is ever missing from a
bucket. The pruning walks the seconds from a saved pointer (`_id` = `~next`)
up to the retention cutoff, reads those buckets by `$in`, deletes their ids
and them by `$in`, and moves the pointer: its cost is the time elapsed since
the last prune and the ids that expired, never the history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from analytics.filters import by_id, by_ids

__all__ = ["POINTER", "SeenLog", "bucket_chunks", "bucket_of"]

POINTER = "~next"  # sorts after every second: never a bucket's id
_CHUNK = 1_000  # ids per `$in`

Clock = Callable[[], datetime]


def bucket_of(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _parse(bucket: str) -> datetime:
    return datetime.strptime(bucket, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)


def bucket_chunks(first: str, stop: datetime, size: int = _CHUNK) -> Iterator[list[str]]:
    """The bucket ids from `first` up to (not including) the second of `stop`,
    `size` at a time (computed, not read: most seconds have no bucket)."""
    start, end = _parse(first), _parse(bucket_of(stop))
    total = int((end - start).total_seconds())
    for i in range(0, max(total, 0), size):
        count = min(size, total - i)
        yield [bucket_of(start + timedelta(seconds=i + k)) for k in range(count)]


class SeenLog:
    def __init__(
        self,
        ids: AsyncCollection[dict[str, Any]],
        buckets: AsyncCollection[dict[str, Any]],
        clock: Clock,
    ) -> None:
        self._ids = ids
        self._buckets = buckets
        self._clock = clock

    async def start(self) -> None:
        """Place the pruning pointer at the first second anything can be recorded in."""
        await self._upsert(POINTER, {"$setOnInsert": {"bucket": bucket_of(self._clock())}})

    async def contains(self, event_id: str) -> bool:
        return await self._ids.find_one(by_id(event_id)) is not None

    async def known(self, event_ids: Sequence[str]) -> set[str]:
        """Which of `event_ids` are recorded: one `$in` read per `_CHUNK` ids."""
        found: set[str] = set()
        for i in range(0, len(event_ids), _CHUNK):
            chunk = list(event_ids[i : i + _CHUNK])
            found.update([str(d["_id"]) async for d in self._ids.find(by_ids(chunk))])
        return found

    async def add(self, event_ids: Sequence[str]) -> None:
        """Record ids: listed in this second's bucket first, then each by `_id`."""
        if not event_ids:
            return
        bucket = bucket_of(self._clock())
        # `$push`, not `$addToSet`: a repeated id costs nothing when pruned, and a
        # replay pushes thousands at once into a bucket that may hold many more
        await self._upsert(bucket, {"$push": {"ids": {"$each": list(event_ids)}}})
        try:
            await self._ids.insert_many([{"_id": i} for i in event_ids], ordered=False)
        except BulkWriteError as exc:  # ids already recorded are fine, nothing else is
            errors = exc.details.get("writeErrors", [])
            if not errors or any(e.get("code") != 11000 for e in errors):
                raise

    async def prune(self, *, before: datetime) -> int:
        """Forget the ids recorded before `before`; returns how many."""
        pointer = await self._buckets.find_one(by_id(POINTER))
        if pointer is None:  # never started: nothing can be older than now
            await self.start()
            return 0
        forgotten = 0
        for chunk in bucket_chunks(str(pointer["bucket"]), before):
            found = [doc async for doc in self._buckets.find(by_ids(chunk))]
            ids = list(dict.fromkeys(i for doc in found for i in doc.get("ids", ())))
            for j in range(0, len(ids), _CHUNK):
                result = await self._ids.delete_many(by_ids(ids[j : j + _CHUNK]))
                forgotten += result.deleted_count
            if found:
                await self._buckets.delete_many(by_ids([doc["_id"] for doc in found]))
            # moved only after the deletes: a crash repeats them, never skips one
            next_second = bucket_of(_parse(chunk[-1]) + timedelta(seconds=1))
            await self._buckets.update_one(by_id(POINTER), {"$set": {"bucket": next_second}})
        return forgotten

    async def _upsert(self, doc_id: str, update: dict[str, Any]) -> None:
        try:
            await self._buckets.update_one(by_id(doc_id), update, upsert=True)
        except DuplicateKeyError:  # another replica created it a moment ago
            await self._buckets.update_one(by_id(doc_id), update)
