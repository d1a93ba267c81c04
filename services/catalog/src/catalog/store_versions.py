"""The version log the catalog store saves through (see the comment below):
museums, relics and products change by inserting a change record, and are
read rolled forward from it. All by `_id`."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from catalog.docs import change_id, outbox
from catalog.errors import ConcurrentChange
from catalog.feed import ChangeFeed
from catalog.filters import by_id, by_ids, older_version
from contracts import Event
from servicekit.outbox import attach_events, mark_pending

__all__ = [
    "VersionedStore",
]

Doc = dict[str, Any]


class VersionedStore:
    # set by CatalogStore: the change records, and the search index's feed
    changes: AsyncCollection[Doc]
    feed: ChangeFeed

    async def _insert_with_events(
        self, collection: AsyncCollection[Doc], doc: Doc, events: Sequence[Event]
    ) -> None:
        if events:
            await mark_pending(collection, doc["_id"])
        await collection.insert_one(attach_events(doc, outbox(events)))

    # --- changes: the version log ------------------------------------------------
    #
    # A change to an existing museum, relic or product is first inserted into
    # `changes` as `<kind>:<id>@<version>` with the whole new state and its
    # events (the outbox); that insert is the compare-and-swap on the version,
    # and the relay only ever rewrites those change records. The entity's own
    # document is then brought up to date. Why: FerretDB 1.24 rewrites whole
    # documents without isolation, so the relay pulling events out of an
    # entity document could silently undo a save that landed meanwhile (state
    # and events lost; seen in a test). Here a lagging document is rolled
    # forward from the log whenever it is read by id.

    async def _save(
        self,
        collection: AsyncCollection[Doc],
        kind: str,
        doc_id: str,
        expected_version: int,
        fields: Doc,
        events: Sequence[Event],
    ) -> None:
        version = int(fields["version"])
        if version <= expected_version:
            raise ConcurrentChange(kind)
        change: Doc = {
            "_id": change_id(kind, doc_id, version),
            "kind": kind,
            "entity_id": doc_id,
            "version": version,
            "state": fields,
            "at": datetime.now(UTC),
        }
        if kind == "product":
            await self.feed.announce(products=[doc_id])
        try:
            await self._insert_with_events(self.changes, change, events)
        except DuplicateKeyError as exc:
            raise ConcurrentChange(kind) from exc
        await collection.update_one(by_id(doc_id), {"$set": fields})

    async def _current(
        self, collection: AsyncCollection[Doc], kind: str, doc_id: str
    ) -> Doc | None:
        doc = await collection.find_one(by_id(doc_id))
        return None if doc is None else await self._rolled(collection, kind, doc)

    async def _rolled(self, collection: AsyncCollection[Doc], kind: str, doc: Doc) -> Doc:
        """The document with every logged change past its version applied."""
        latest: Doc | None = None
        version = int(doc.get("version", 1))
        while (
            change := await self.changes.find_one(by_id(change_id(kind, doc["_id"], version + 1)))
        ) is not None:
            latest, version = change["state"], int(change["version"])
        if latest is None:
            return doc
        await collection.update_one(older_version(doc["_id"], version), {"$set": latest})
        return {**doc, **latest}

    async def _rolled_many(
        self, collection: AsyncCollection[Doc], kind: str, docs: Sequence[Doc]
    ) -> list[Doc]:
        """`_rolled` for many: one `$in` finds which have a next version."""
        if not docs:
            return []
        nexts = {change_id(kind, d["_id"], int(d.get("version", 1)) + 1): d for d in docs}
        behind = {c["entity_id"] async for c in self.changes.find(by_ids(nexts), {"entity_id": 1})}
        return [await self._rolled(collection, kind, d) if d["_id"] in behind else d for d in docs]
