"""The analytics store: versioned projection collections and their state.

Projections live in a namespace per *projection version*: `v3_museum_days`,
`v3_licenses`... Exactly one version is active (`projection_state`); reads go
there, and the live consumer group `<group>-v3` feeds it. A replay builds
version 4 from the beginning of the topics beside it, then activates it.

Writes are exact under redelivery: each document carries a per-partition
high-water mark checked and advanced in the same single-document update
(`ProjectionStore.apply`: the rule of `servicekit.idempotency.apply_once`),
and every applied event id is recorded (`seen`) after its effects, so a copy
of an event republished at a new offset (a relay crash between publish and
mark-sent) is skipped too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from analytics.domain import (
    LICENSEE_DAYS,
    LICENSES,
    MUSEUM_DAYS,
    MUSEUMS,
    PLATFORM_DAYS,
    PLATFORM_MINUTES,
    PRODUCT_DAYS,
    PRODUCTS,
    RELIC_DAYS,
    RELICS,
    ROLLUPS,
    Change,
)
from servicekit.consumer import EventMeta
from servicekit.idempotency import hwm_field, insert_once

__all__ = ["ProjectionState", "ProjectionStore", "Row"]

Row = dict[str, Any]
SEEN = "seen"
_CHUNK = 100  # upserts per bulk write
_PARALLEL = 8  # bulk writes in flight
_INSERT_CHUNK = 1_000
_DAILY = (MUSEUM_DAYS, PRODUCT_DAYS, RELIC_DAYS, LICENSEE_DAYS)


class ProjectionState:
    """Which projection version is live, and the record of replays."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.db = db
        self._state: AsyncCollection[dict[str, Any]] = db["projection_state"]
        self._replays: AsyncCollection[dict[str, Any]] = db["replays"]

    async def active_version(self) -> int:
        doc = await self._state.find_one({"_id": "active"})
        if doc is None:
            try:
                await self._state.update_one(
                    {"_id": "active"}, {"$setOnInsert": {"version": 1}}, upsert=True
                )
            except DuplicateKeyError:
                pass
            doc = await self._state.find_one({"_id": "active"})
        return int(doc["version"]) if doc else 1

    async def allocate_version(self) -> int:
        """A version number no projection used before."""
        active = await self.active_version()
        try:
            await self._state.update_one(
                {"_id": "next"}, {"$setOnInsert": {"version": active}}, upsert=True
            )
        except DuplicateKeyError:
            pass
        doc = await self._state.find_one_and_update(
            {"_id": "next"}, {"$inc": {"version": 1}}, return_document=ReturnDocument.AFTER
        )
        assert doc is not None
        return int(doc["version"])

    async def activate(self, version: int) -> bool:
        """Make `version` live, unless a newer one already is."""
        result = await self._state.update_one(
            {"_id": "active", "version": {"$lt": version}}, {"$set": {"version": version}}
        )
        return result.modified_count == 1

    async def save_replay(self, version: int, **fields: Any) -> None:
        await self._replays.update_one(
            {"_id": version},
            {"$set": {**fields, "version": version, "updated_at": datetime.now(UTC)}},
            upsert=True,
        )

    async def replay(self, version: int) -> Row | None:
        return await self._replays.find_one({"_id": version})


class ProjectionStore:
    """One projection version's collections."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], version: int) -> None:
        self.db = db
        self.version = version

    def collection(self, logical: str) -> AsyncCollection[dict[str, Any]]:
        return self.db[f"v{self.version}_{logical}"]

    async def ensure_indexes(self) -> None:
        for logical in _DAILY:
            await self.collection(logical).create_index([("museum_id", 1), ("day", 1)])
        await self.collection(LICENSES).create_index([("museum_id", 1)])

    async def drop(self) -> None:
        for logical in (*ROLLUPS, SEEN):
            await self.collection(logical).drop()

    # --- writes: live, one event at a time ---------------------------------

    async def seen(self, event_id: str) -> bool:
        return await self.collection(SEEN).find_one({"_id": event_id}) is not None

    async def mark_seen(self, meta: EventMeta) -> None:
        await insert_once(
            self.collection(SEEN),
            {
                "_id": meta.id,
                "topic": meta.topic,
                "partition": meta.partition,
                "at": datetime.now(UTC),
            },
        )

    async def apply(self, change: Change, meta: EventMeta) -> bool:
        """Apply one document's change unless this partition's offset already
        reached it: servicekit's `apply_once` in one round trip instead of two.

        The guarded upsert inserts a missing document; when the document exists
        but the guard fails, the upsert's insert collides on `_id` (duplicate
        key). That also happens when another consumer created the document a
        moment ago, so the collision is settled by the guarded update alone."""
        field = hwm_field(meta)
        guard = {
            "_id": change.doc_id,
            "$or": [{field: {"$exists": False}}, {field: {"$lt": meta.offset}}],
        }
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
        """Upsert merged changes. Only a replay writes this way: it owns its
        fresh version alone, and the live group resumes after its last offset."""
        by_collection: dict[str, list[UpdateOne]] = {}
        for change in changes:
            update: dict[str, Any] = {}
            if change.inc:
                update["$inc"] = change.inc
            if change.set:
                update["$set"] = change.set
            update["$setOnInsert"] = {**change.on_insert, "_hwm": {}}
            by_collection.setdefault(change.collection, []).append(
                UpdateOne({"_id": change.doc_id}, update, upsert=True)
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
            doc = {**change.on_insert, **change.set, **change.inc, "_id": change.doc_id, "_hwm": {}}
            by_collection.setdefault(change.collection, []).append(doc)
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

    async def prune_seen(self, *, before: datetime) -> int:
        """Forget event ids recorded before `before` (no TTL indexes here)."""
        result = await self.collection(SEEN).delete_many({"at": {"$lt": before}})
        return result.deleted_count

    async def mark_seen_many(self, ids: Iterable[str]) -> None:
        now = datetime.now(UTC)
        docs = [{"_id": i, "at": now} for i in ids]
        if not docs:
            return
        try:
            await self.collection(SEEN).insert_many(docs, ordered=False)
        except BulkWriteError as exc:  # ids already recorded are fine, nothing else is
            errors = exc.details.get("writeErrors", [])
            if not errors or any(e.get("code") != 11000 for e in errors):
                raise

    # --- reads ---------------------------------------------------------------

    async def daily_rows(
        self, logical: str, *, museum_id: str, start: date, end: date
    ) -> list[Row]:
        cursor = self.collection(logical).find(
            {"museum_id": museum_id, "day": {"$gte": start.isoformat(), "$lte": end.isoformat()}},
            projection={"_hwm": 0},
        )
        return [doc async for doc in cursor]

    async def licenses_of(self, museum_id: str) -> list[Row]:
        cursor = self.collection(LICENSES).find({"museum_id": museum_id}, projection={"_hwm": 0})
        return [doc async for doc in cursor]

    async def by_ids(self, logical: str, ids: Sequence[str]) -> dict[str, Row]:
        if not ids:
            return {}
        cursor = self.collection(logical).find({"_id": {"$in": list(ids)}})
        return {str(doc["_id"]): doc async for doc in cursor}

    async def museum(self, museum_id: str) -> Row | None:
        return await self.collection(MUSEUMS).find_one({"_id": museum_id})

    async def products(self, ids: Sequence[str]) -> dict[str, Row]:
        return await self.by_ids(PRODUCTS, ids)

    async def relics(self, ids: Sequence[str]) -> dict[str, Row]:
        return await self.by_ids(RELICS, ids)

    async def platform_days(self) -> list[Row]:
        return [doc async for doc in self.collection(PLATFORM_DAYS).find({})]

    async def platform_minutes(self, since: str) -> list[Row]:
        cursor = self.collection(PLATFORM_MINUTES).find({"minute": {"$gte": since}})
        return [doc async for doc in cursor]
