"""The analytics store: versioned projection collections and their state.

Projections live in a namespace per *projection version*: `v3_museum_days`,
`v3_licenses`... Exactly one version is active (`projection_state`); reads go
there, and the live consumer group `<group>-v3` feeds it. A replay builds
version 4 from the beginning of the topics beside it, then activates it.

Writes are exact under redelivery: the live projector folds a batch into one
guarded upsert per document, each checking and advancing that document's
per-partition high-water marks in the same update (`apply_batch`; the rule
of `servicekit.idempotency.apply_once`, for a batch: see batch.py), and every
applied event id is recorded (`seen.py`) after its effects, so a copy of an
event republished at a new offset is skipped too.

Every command names its documents by `_id` (`filters.py`): the dashboards
read museum-day buckets by `$in` over the days shown and the few aligned
blocks covering them (`changes.block_cover`), the overview one
all-time document, today's and the last hour's buckets. Only `drop` (a replay
emptying a fresh version) touches whole collections.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, WriteError

from analytics.batch import DocFold, GuardedChange
from analytics.block_cache import BlockCache, Marks, merged_marks
from analytics.changes import (
    ASSETS,
    LICENSES,
    MUSEUM_BLOCKS,
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
    block_cover,
    museum_block_id,
    museum_day_ids,
)
from analytics.filters import ACTIVE, HWM, by_id, by_ids, guarded, newer_than
from analytics.seen import SeenLog
from servicekit.errors import Unavailable

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
_DUPLICATE_KEY = 11000


def _guarded_upsert(g: GuardedChange) -> dict[str, Any]:
    """One document's batch: applied while its marks are below the batch's
    first offsets, the marks moved to the last ones; created when missing."""
    change = g.change
    update: dict[str, Any] = {
        "$set": {**change.set, **{f"{HWM}.{k}": last for k, (_, last) in g.marks.items()}}
    }
    if change.inc:
        update["$inc"] = change.inc
    if change.on_insert:
        update["$setOnInsert"] = change.on_insert
    firsts = {k: first for k, (first, _) in g.marks.items()}
    return {"q": guarded(change.doc_id, firsts), "u": update, "upsert": True}


def replay_id(version: int) -> str:
    """A replay's record is keyed by a string: the local store finds only
    string and ObjectId `_id`s through its index."""
    return str(version)


def collection_name(logical: str, version: int) -> str:
    return f"v{version}_{logical}"


def _now() -> datetime:
    return datetime.now(UTC)


def _marks_of(hwm: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in (hwm or {}).items()}


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
        blocks: BlockCache | None = None,
    ) -> None:
        self.db = db
        self.version = version
        self.blocks = blocks  # the dashboards' kept blocks (None: read each time)
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

    # --- writes: live, a batch at a time (see batch.py) ------------------------

    async def seen_among(self, event_ids: Sequence[str]) -> set[str]:
        return await self.seen_log.known(event_ids)

    async def seen(self, event_id: str) -> bool:
        return await self.seen_log.contains(event_id)

    async def mark_seen_many(self, ids: Sequence[str]) -> None:
        await self.seen_log.add(ids)

    async def prune_seen(self, *, before: datetime) -> int:
        """Forget event ids recorded before `before` (no TTL indexes here)."""
        return await self.seen_log.prune(before=before)

    async def apply_batch(self, docs: Sequence[DocFold]) -> None:
        """Every document's guarded change, one `update` command per collection
        (collections concurrently). Each settles before this returns, so a
        failure never races the one-at-a-time retry of the batch."""
        by_collection: dict[str, list[DocFold]] = {}
        for doc in docs:
            by_collection.setdefault(doc.collection, []).append(doc)
        outcomes = await asyncio.gather(
            *(self._apply_guarded(name, folds) for name, folds in by_collection.items()),
            return_exceptions=True,
        )
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:
            raise failures[0]

    async def _apply_guarded(self, logical: str, folds: Sequence[DocFold]) -> None:
        """Guarded upserts of whole batches; a refused one (its marks reached
        the batch: a redelivery) sends its document and the rest of the
        command to the slow path: read their marks, apply what is past them."""
        whole = [(f, g) for f in folds if (g := f.after({})) is not None]
        refused = await self._guarded_updates(logical, [g for _, g in whole])
        if refused is None:
            return
        rest = [f for f, _ in whole[refused:]]
        marks = await self._marks(logical, [f.doc_id for f in rest])
        remaining = [g for f in rest if (g := f.after(marks.get(f.doc_id, {}))) is not None]
        if await self._guarded_updates(logical, remaining) is not None:
            # a mark moved between the read and the write: another consumer
            # held the partition a moment ago (a rebalance); the batch again
            raise Unavailable(f"high-water marks of {logical} moved under the projector")

    async def _guarded_updates(self, logical: str, changes: Sequence[GuardedChange]) -> int | None:
        """Send the upserts in order; the index of the first one refused (the
        rest were not sent), or None when all applied.

        Ordered on purpose: FerretDB 1.24 stops an `update` command at its
        first error even when unordered (MongoDB would go on), so ordered
        gives both stores the same meaning. The raw command, because
        pymongo's bulk_write cannot read FerretDB's reply to a failed one."""
        for start in range(0, len(changes), _CHUNK):
            chunk = changes[start : start + _CHUNK]
            reply = await self.db.command(
                {
                    "update": collection_name(logical, self.version),
                    "updates": [_guarded_upsert(g) for g in chunk],
                    "ordered": True,
                }
            )
            errors = reply.get("writeErrors") or []
            if errors:
                first = min(errors, key=lambda e: int(e["index"]))
                if first.get("code") != _DUPLICATE_KEY:
                    raise WriteError(str(first.get("errmsg")), first.get("code"), first)
                return start + int(first["index"])
        return None

    async def _marks(self, logical: str, ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """The documents' marks by `_id` (missing documents have none)."""
        found: dict[str, dict[str, int]] = {}
        for i in range(0, len(ids), _IDS):
            cursor = self.collection(logical).find(by_ids(ids[i : i + _IDS]), projection={HWM: 1})
            async for doc in cursor:
                found[str(doc["_id"])] = {k: int(v) for k, v in (doc.get(HWM) or {}).items()}
        return found

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

    async def by_ids(
        self, logical: str, ids: Sequence[str], *, marks: bool = False
    ) -> dict[str, Row]:
        """Point reads, `_IDS` at a time; missing documents are simply absent.
        With `marks`, each keeps its high-water marks (`_hwm`)."""
        chunks = [list(ids[i : i + _IDS]) for i in range(0, len(ids), _IDS)]
        projection = None if marks else {HWM: 0}
        found = await asyncio.gather(
            *(
                self.collection(logical).find(by_ids(c), projection=projection).to_list()
                for c in chunks
            )
        )
        return {str(doc["_id"]): doc for docs in found for doc in docs}

    async def museum_days(
        self, museum_id: str, *, start: date, end: date
    ) -> tuple[list[Row], dict[str, Marks]]:
        """The museum's day buckets in [start, end] (one point read per day),
        and each one's high-water marks by `_id` (what `museum_blocks` needs)."""
        by_day = await self.by_ids(MUSEUM_DAYS, museum_day_ids(museum_id, start, end), marks=True)
        marks: dict[str, Marks] = {d: _marks_of(row.pop(HWM, None)) for d, row in by_day.items()}
        return list(by_day.values()), marks

    async def museum_blocks(
        self, museum_id: str, *, start: date, end: date, day_marks: Mapping[str, Marks]
    ) -> list[Row]:
        """The aligned blocks whose days are exactly [start, end] (a few): a
        kept copy (block_cache.py) for each block none of whose days moved
        past it, by `day_marks` (from `museum_days`); the others by `$in`."""
        cover = block_cover(start, end)
        ids = [museum_block_id(museum_id, first, span) for first, span in cover]
        if self.blocks is None:
            return list((await self.by_ids(MUSEUM_BLOCKS, ids)).values())
        name = self.collection(MUSEUM_BLOCKS).name
        found: dict[str, Row] = {}
        for block_id, (first, span) in zip(ids, cover, strict=True):
            days = museum_day_ids(museum_id, first, first + timedelta(days=span - 1))
            kept = self.blocks.get(name, block_id, merged_marks(day_marks.get(d, {}) for d in days))
            if kept is not None:
                found[block_id] = kept
        missing = [i for i in ids if i not in found]
        read = await self.by_ids(MUSEUM_BLOCKS, missing, marks=True) if missing else {}
        for block_id in missing:
            # a block not written yet is kept too, as empty: its days have no marks
            row = read.get(block_id, {})
            self.blocks.put(name, block_id, row, _marks_of(row.pop(HWM, None)))
            found[block_id] = row
        return [found[i] for i in ids if found[i]]

    async def museum(self, museum_id: str) -> Row | None:
        return await self.collection(MUSEUMS).find_one(by_id(museum_id))

    async def products(self, ids: Sequence[str]) -> dict[str, Row]:
        return await self.by_ids(PRODUCTS, ids)

    async def relics(self, ids: Sequence[str]) -> dict[str, Row]:
        return await self.by_ids(RELICS, ids)

    async def assets(self, ids: Sequence[str]) -> dict[str, Row]:
        return await self.by_ids(ASSETS, ids)

    async def licenses(self, ids: Sequence[str]) -> dict[str, Row]:
        return await self.by_ids(LICENSES, ids)

    async def platform_totals(self) -> Row:
        return await self.collection(PLATFORM_TOTALS).find_one(by_id(PLATFORM_TOTAL_ID)) or {}

    async def platform_day(self, day: str) -> Row:
        return await self.collection(PLATFORM_DAYS).find_one(by_id(day)) or {}

    async def platform_minutes(self, minutes: Sequence[str]) -> dict[str, Row]:
        return await self.by_ids(PLATFORM_MINUTES, minutes)
