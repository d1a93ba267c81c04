"""The outbox relay: publishes pending events and marks them sent.

Which documents to relay: with `hints` (servicekit.outbox_hints, on the
service's own client), the ones its writes just gave events, at once; and
every `sweep_interval`, the documents named by the pending markers of each
outbox database (servicekit.outbox: written before each write that adds
events, so a crashed replica's events are never hidden; the sweep reads only
what is pending, never the history). Without hints, only the sweep.

Documents go out in batches (up to `batch` of one collection), in five
commands whatever the batch's size, each naming its documents by `_id`:
lease them (one bulk update), read the ones this round leased (one `$in`
find), publish their events (per topic, each document's in order), then
pull exactly those events out, uncount their writes and release the leases
(one bulk update), uncount the same writes on the markers (one bulk update)
and drop each marker that counts no write left (one bulk delete).

Scaled-out replicas share the work safely: the lease is a field of the
document (`_outbox_lease`, until when, and `_outbox_lease_by`, whose round),
taken only when absent or expired, so one aggregate's events go out in order
from one replica at a time while different aggregates go out in parallel. A
document that gets events while it is being relayed is hinted again, so the
next round takes those. A crash after publishing and before the pull
republishes them: delivery is at least once and consumers are idempotent by
event id. While Kafka is down the events
wait in their documents.
"""

import asyncio
import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import DeleteOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from servicekit.bus import Publisher
from servicekit.envelope import encode
from servicekit.outbox import MARKERS, MARKS, OUTBOX, envelope_of, marker_id
from servicekit.outbox_hints import OutboxHints

__all__ = ["LEASE", "LEASE_BY", "OutboxRelay", "lease_filter", "marker_filter", "still_marked"]

log = logging.getLogger(__name__)
LEASE = "_outbox_lease"
LEASE_BY = "_outbox_lease_by"
Doc = dict[str, Any]


class OutboxRelay:
    def __init__(
        self,
        *,
        collections: Sequence[AsyncCollection[Doc]],
        publisher: Publisher,
        hints: OutboxHints | None = None,
        sweep_interval: float = 0.25,
        lease_seconds: float = 30.0,
        max_backoff: float = 5.0,
        batch: int = 256,
        marker_grace_seconds: float = 300.0,
        sweep_batch: int = 1000,
    ) -> None:
        self._collections = list(collections)
        self._by_key = {(c.database.name, c.name): c for c in self._collections}
        self._databases = {c.database.name: c.database for c in self._collections}
        # a marker whose write never landed (it failed, or its writer died
        # before writing) is dropped once this old: longer than any write takes
        self._marker_grace = timedelta(seconds=marker_grace_seconds)
        self._sweep_batch = sweep_batch
        self._publisher = publisher
        self._hints = hints
        self._sweep_interval = sweep_interval
        self._lease = timedelta(seconds=lease_seconds)
        self._max_backoff = max_backoff
        self._batch = batch  # documents relayed in one round of four commands
        self._wake = asyncio.Event()
        self._stopping = False
        if hints is not None:
            hints.on_hint = self._wake.set

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        sweep_at = loop.time()  # the first round sweeps: whatever a crash left
        backoff = 0.0
        while not self._stopping:
            self._wake.clear()  # writes from here on wake the next round
            try:
                scan_requested = self._hints is not None and self._hints.take_scan_request()
                if loop.time() >= sweep_at or scan_requested:
                    sweep_at = loop.time() + self._sweep_interval
                    await self.drain()
                else:
                    await self._relay_hinted()
                backoff = 0.0
            except Exception as exc:  # Kafka or Mongo down: events wait, we retry
                backoff = min(max(backoff * 2, 0.1), self._max_backoff)
                log.warning("outbox relay paused: %s", exc, extra={"retry_in_s": backoff})
                sweep_at = loop.time() + backoff  # hints taken are not lost: the sweep finds them
            try:
                await asyncio.wait_for(self._wake.wait(), max(sweep_at - loop.time(), 0))
            except TimeoutError:
                pass

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def drain(self) -> int:
        """Publish everything pending now; returns how many events went out."""
        if self._hints is not None:
            self._hints.take()  # the sweep covers them
        sent = 0
        for database in self._databases.values():
            while True:
                markers = await database[MARKERS].find({}).to_list(self._sweep_batch)
                docs = [
                    (self._by_key[(database.name, m["collection"])], m["doc_id"])
                    for m in markers
                    if (database.name, m["collection"]) in self._by_key
                ]
                relayed = await self._relay_all(docs)
                await self._drop_abandoned(database[MARKERS], markers)
                sent += relayed
                if len(markers) < self._sweep_batch or not relayed:
                    break  # the rest wait for their writes, or the next sweep
        return sent

    async def _drop_abandoned(self, markers: AsyncCollection[Doc], seen: list[Doc]) -> None:
        """Markers still there after their document was relayed, older than
        the grace: their write never landed. Unchanged since read, or kept."""
        cutoff = datetime.now(UTC) - self._marker_grace
        for marker in seen:
            at = marker["at"] if marker["at"].tzinfo else marker["at"].replace(tzinfo=UTC)
            if at < cutoff:
                await markers.delete_one({"_id": marker["_id"], "marks": marker["marks"]})

    async def _relay_hinted(self) -> int:
        if self._hints is None:
            return 0
        docs = [
            (self._by_key[(database, name)], doc_id)
            for database, name, doc_id in self._hints.take()
            if (database, name) in self._by_key
        ]
        return await self._relay_all(docs)

    async def _relay_all(self, docs: list[tuple[AsyncCollection[Doc], Any]]) -> int:
        """Collection by collection in the order the service lists them, and
        each collection's documents in the order given (their writes'): a
        service whose aggregate spans documents (catalog's relic and its
        change log) lists the first document's collection first."""
        by_key: dict[tuple[str, str], dict[Any, None]] = {}
        for collection, doc_id in docs:
            by_key.setdefault((collection.database.name, collection.name), {})[doc_id] = None
        sent = 0
        for key, collection in self._by_key.items():
            ids = list(by_key.get(key, ()))
            for start in range(0, len(ids), self._batch):
                sent += await self._relay_batch(collection, ids[start : start + self._batch])
        return sent

    async def _relay_batch(self, collection: AsyncCollection[Doc], ids: list[Any]) -> int:
        now, round_id = datetime.now(UTC), uuid.uuid4().hex
        taken = {"$set": {LEASE: now + self._lease, LEASE_BY: round_id}}
        await collection.bulk_write(
            [UpdateOne(lease_filter(doc_id, now), taken) for doc_id in ids], ordered=False
        )
        # not written yet, gone, or another replica's: not ours this round
        docs = [
            d async for d in collection.find({"_id": {"$in": ids}}) if d.get(LEASE_BY) == round_id
        ]
        if not docs:
            return 0
        published = False
        try:
            await self._publish([doc.get(OUTBOX) or [] for doc in docs])
            published = True
        finally:
            await collection.bulk_write(
                [UpdateOne({"_id": d["_id"]}, _release(d, published)) for d in docs],
                ordered=False,
            )
        # the writes this round saw landed and went out: drop each marker
        # that counts no other write, then uncount them on the markers that
        # do (in that order: usually the drop is the only write, and the
        # uncount matches nothing)
        seen = [(marker_id(collection.name, d["_id"]), d.get(MARKS, 0)) for d in docs]
        await collection.database[MARKERS].bulk_write(
            [DeleteOne(marker_filter(m, n)) for m, n in seen]
            + [UpdateOne(still_marked(m, n), {"$inc": {"marks": -n}}) for m, n in seen if n],
            ordered=True,
        )
        return sum(len(doc.get(OUTBOX) or []) for doc in docs)

    async def _publish(self, outboxes: list[list[Doc]]) -> None:
        """One ordered batch per topic: each document's events keep their
        order (they share a key, hence a partition); documents are
        independent aggregates."""
        by_topic: dict[str, list[Doc]] = {}
        for entries in outboxes:
            for entry in entries:
                by_topic.setdefault(entry["topic"], []).append(entry)
        for topic, entries in by_topic.items():
            await self._publisher.publish(topic, [encode(envelope_of(e)) for e in entries])


def lease_filter(doc_id: Any, now: datetime) -> Doc:
    """The document, if its lease is free or its holder let it lapse (crashed)."""
    return {"_id": doc_id, "$or": [{LEASE: {"$exists": False}}, {LEASE: {"$lt": now}}]}


def marker_filter(marker: str, relayed: int) -> Doc:
    """The marker, if it counts no write beyond the `relayed` ones (none still
    to land, or to relay)."""
    return {"_id": marker, "marks": {"$lte": relayed}}


def still_marked(marker: str, relayed: int) -> Doc:
    """The marker, if it counts writes beyond the `relayed` ones."""
    return {"_id": marker, "marks": {"$gt": relayed}}


def _release(doc: Doc, published: bool) -> Doc:
    """Free the lease; once published, pull exactly the events read and
    uncount the writes that brought them (servicekit.outbox)."""
    update: Doc = {"$unset": {LEASE: "", LEASE_BY: ""}}
    if published and doc.get(OUTBOX):
        update["$pullAll"] = {OUTBOX: doc[OUTBOX]}
    if published and doc.get(MARKS):
        update["$inc"] = {MARKS: -doc[MARKS]}
    return update
