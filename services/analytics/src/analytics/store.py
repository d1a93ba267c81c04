"""The analytics store: versioned projection collections and their state.

Projections live in a namespace per *projection version*: `v3_museum_days`,
`v3_licenses`... Exactly one version is active (`projection_state`); reads go
there, and the live consumer group `<group>-v3` feeds it. A replay builds
version 4 from the beginning of the topics beside it, then activates it.

Writes are exact under redelivery: each document carries a per-partition
high-water mark checked and advanced in the same single-document update
(`ProjectionStore.apply`: the rule of `servicekit.idempotency.apply_once`),
and every applied event id is recorded (`seen.py`) after its effects, so a
copy of an event republished at a new offset is skipped too.

Every command names its documents by `_id` (`filters.py`): the dashboards
read museum-day buckets by `$in` over the days shown, the overview one
all-time document, today's and the last hour's buckets. Only `drop` (a replay
emptying a fresh version) touches whole collections.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from analytics.changes import (
    LICENSES,
    MUSEUM_DAYS,
    MUSEUMS,
    PLATFORM_DAYS,
    PLATFORM_MINUTES,
    PLATFORM_TOTAL_ID,
    PLATFORM_TOTALS,
    PRODUCTS,
    RELICS,
    ROLLUPS,
    Change,
    museum_day_ids,
)
from analytics.filters import ACTIVE, by_id, by_ids, guarded, newer_than
from analytics.seen import SeenLog
from servicekit.consumer import EventMeta
from servicekit.idempotency import hwm_field

__all__ = [
    "SEEN",
    "SEEN_BUCKETS",
    "ProjectionState",
    "ProjectionStore",
    "Row",
    "collection_name",
    "replay_id",
]

Row = dict[str, Any]
SEEN = "seen"
SEEN_BUCKETS = "seen_buckets"
_CHUNK = 100  # upserts per bulk write
_PARALLEL = 8  # bulk writes in flight
_INSERT_CHUNK = 1_000
_IDS = 1_000  # ids per `$in` read


def replay_id(version: int) -> str:
    """A replay's record is keyed by a string: the local store finds only
    string and ObjectId `_id`s through its index."""
    return str(version)


def collection_name(logical: str, version: int) -> str:
    return f"v{version}_{logical}"


def _now() -> datetime:
    return datetime.now(UTC)


class ProjectionState:
    """Which projection version is live, and the record of replays."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.db = db
        self._state: AsyncCollection[dict[str, Any]] = db["projection_state"]
        self._replays: AsyncCollection[dict[str, Any]] = db["replays"]

    async def active_version(self) -> int:
        doc = await self._state.find_one(by_id(ACTIVE))
        if doc is None:
            try:
                await self._state.update_one(
                    by_id(ACTIVE), {"$setOnInsert": {"version": 1}}, upsert=True
                )
            except DuplicateKeyError:
                pass
            doc = await self._state.find_one(by_id(ACTIVE))
        return int(doc["version"]) if doc else 1

    async def allocate_version(self) -> int:
        """A version number no projection used before."""
        active = await self.active_version()
        try:
            await self._state.update_one(
                by_id("next"), {"$setOnInsert": {"version": active}}, upsert=True
            )
        except DuplicateKeyError:
            pass
        doc = await self._state.find_one_and_update(
            by_id("next"), {"$inc": {"version": 1}}, return_document=ReturnDocument.AFTER
        )
        assert doc is not None
        return int(doc["version"])

    async def activate(self, version: int) -> bool:
        """Make `version` live, unless a newer one already is."""
        result = await self._state.update_one(newer_than(version), {"$set": {"version": version}})
        return result.modified_count == 1

    async def save_replay(self, version: int, **fields: Any) -> None:
        await self._replays.update_one(
            by_id(replay_id(version)),
            {"$set": {**fields, "version": version, "updated_at": datetime.now(UTC)}},
            upsert=True,
        )

    async def replay(self, version: int) -> Row | None:
        return await self._replays.find_one(by_id(replay_id(version)))


class ProjectionStore:
    """One projection version's collections."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        version: int,
        *,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.db = db
        self.version = version
        self.seen_log = SeenLog(self.collection(SEEN), self.collection(SEEN_BUCKETS), clock)

    def collection(self, logical: str) -> AsyncCollection[dict[str, Any]]:
        return self.db[collection_name(logical, self.version)]

    async def prepare(self) -> None:
        """What a version needs before events arrive (no secondary indexes:
        the local store serves only `_id`, and every read here names it)."""
        await self.seen_log.start()

    async def drop(self) -> None:
        """Empty a fresh version (a replay's start: not a hot path)."""
        for logical in (*ROLLUPS, SEEN, SEEN_BUCKETS):
            await self.collection(logical).drop()

    # --- writes: live, one event at a time ---------------------------------

    async def seen(self, event_id: str) -> bool:
        return await self.seen_log.contains(event_id)

    async def mark_seen(self, meta: EventMeta) -> None:
        await self.seen_log.add([meta.id])

    async def mark_seen_many(self, ids: Sequence[str]) -> None:
        await self.seen_log.add(ids)

    async def prune_seen(self, *, before: datetime) -> int:
        """Forget event ids recorded before `before` (no TTL indexes here)."""
        return await self.seen_log.prune(before=before)

    async def apply(self, change: Change, meta: EventMeta) -> bool:
        """Apply one document's change unless this partition's offset already
        reached it: servicekit's `apply_once` in one round trip instead of two.

        The guarded upsert inserts a missing document; when the document exists
        but the guard fails, the upsert's insert collides on `_id` (duplicate
        key). That also happens when another consumer created the document a
        moment ago, so the collision is settled by the guarded update alone."""
        field = hwm_field(meta)
        guard = guarded(change.doc_id, field, meta.offset)
        update: dict[str, Any] = {"$set": {**change.set, field: meta.offset}}
        if change.inc:
            update["$inc"] = change.inc
        collection = self.collection(change.collection)
        insert = {**update, "$setOnInsert": change.on_insert} if change.on_insert else update
        try:
            result = await collection.update_one(guard, insert, upsert=True)
            return result.upserted_id is not None or result.modified_count == 1
        except DuplicateKeyError:
            result = await collection.update_one(guard, update)
            return result.modified_count == 1

    # --- writes: replay, many events per document at once --------------------

    async def write_merged(self, changes: Sequence[Change]) -> None:
        """Upsert merged changes (`$inc` adds to what is there). A replay writes
        this way (it owns its fresh version alone, and the live group resumes
        after its last offset), and so does the history loader (past events,
        never delivered live: the high-water marks stay the live offsets')."""
        by_collection: dict[str, list[UpdateOne]] = {}
        for change in changes:
            update: dict[str, Any] = {}
            if change.inc:
                update["$inc"] = change.inc
            if change.set:
                update["$set"] = change.set
            update["$setOnInsert"] = {**change.on_insert, "_hwm": {}}
            by_collection.setdefault(change.collection, []).append(
                UpdateOne(by_id(change.doc_id), update, upsert=True)
            )
        # FerretDB slows down more than linearly with the size of one bulk
        # write: send small chunks, a few at a time
        chunks = [
            (logical, ops[i : i + _CHUNK])
            for logical, ops in by_collection.items()
            for i in range(0, len(ops), _CHUNK)
        ]
        for i in range(0, len(chunks), _PARALLEL):
            await asyncio.gather(
                *(
                    self.collection(logical).bulk_write(chunk, ordered=False)
                    for logical, chunk in chunks[i : i + _PARALLEL]
                )
            )

    async def insert_merged(self, changes: Sequence[Change]) -> None:
        """Insert documents that do not exist yet (a replay's first write)."""
        by_collection: dict[str, list[dict[str, Any]]] = {}
        for change in changes:
            by_collection.setdefault(change.collection, []).append(
                {**change.document(), "_hwm": {}}
            )
        chunks = [
            (logical, docs[i : i + _INSERT_CHUNK])
            for logical, docs in by_collection.items()
            for i in range(0, len(docs), _INSERT_CHUNK)
        ]
        for i in range(0, len(chunks), _PARALLEL):
            await asyncio.gather(
                *(
                    self.collection(logical).insert_many(docs, ordered=False)
                    for logical, docs in chunks[i : i + _PARALLEL]
                )
            )

    # --- reads: every one by `_id` --------------------------------------------

    async def by_ids(self, logical: str, ids: Sequence[str]) -> dict[str, Row]:
        """Point reads, `_IDS` at a time; missing documents are simply absent."""
        chunks = [list(ids[i : i + _IDS]) for i in range(0, len(ids), _IDS)]
        found = await asyncio.gather(
            *(
                self.collection(logical).find(by_ids(c), projection={"_hwm": 0}).to_list()
                for c in chunks
            )
        )
        return {str(doc["_id"]): doc for docs in found for doc in docs}

    async def museum_days(self, museum_id: str, *, start: date, end: date) -> list[Row]:
        """The museum's day buckets in [start, end]: one point read per day."""
        by_day = await self.by_ids(MUSEUM_DAYS, museum_day_ids(museum_id, start, end))
        return list(by_day.values())

    async def museum(self, museum_id: str) -> Row | None:
        return await self.collection(MUSEUMS).find_one(by_id(museum_id))

    async def products(self, ids: Sequence[str]) -> dict[str, Row]:
        return await self.by_ids(PRODUCTS, ids)

    async def relics(self, ids: Sequence[str]) -> dict[str, Row]:
        return await self.by_ids(RELICS, ids)

    async def licenses(self, ids: Sequence[str]) -> dict[str, Row]:
        return await self.by_ids(LICENSES, ids)

    async def platform_totals(self) -> Row:
        return await self.collection(PLATFORM_TOTALS).find_one(by_id(PLATFORM_TOTAL_ID)) or {}

    async def platform_day(self, day: str) -> Row:
        return await self.collection(PLATFORM_DAYS).find_one(by_id(day)) or {}

    async def platform_minutes(self, minutes: Sequence[str]) -> dict[str, Row]:
        return await self.by_ids(PLATFORM_MINUTES, minutes)
