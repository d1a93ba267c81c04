"""The outbox relay: publishes pending events and marks them sent.

One drain finds the documents with pending events in ONE read, then relays
each: lease it, read it by `_id`, publish its events in order, pull exactly
those events out, release the lease. Every write goes by `_id`; FerretDB 1.24
turns any other filter into a scan of the whole collection, and a scan inside
a conditional write holds its (serialised) write path for all of it.

Scaled-out replicas share the work safely: a lease is a document in
`_outbox_leases` (`<collection>:<id>`, inserted once, taken over only once
expired), so one aggregate's events go out in order from one replica at a
time while different aggregates go out in parallel. A crash after publishing
and before the pull republishes them: delivery is at least once and consumers
are idempotent by event id. While Kafka is down the events wait in their
documents.
"""

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from servicekit.bus import Publisher
from servicekit.envelope import encode
from servicekit.outbox import OUTBOX, PENDING, envelope_of

__all__ = ["LEASES", "OutboxRelay"]

log = logging.getLogger(__name__)
LEASES = "_outbox_leases"
Doc = dict[str, Any]


class OutboxRelay:
    def __init__(
        self,
        *,
        collections: Sequence[AsyncCollection[Doc]],
        publisher: Publisher,
        poll_interval: float = 0.25,
        lease_seconds: float = 30.0,
        max_backoff: float = 5.0,
        concurrency: int = 8,
    ) -> None:
        self._collections = list(collections)
        self._publisher = publisher
        self._poll_interval = poll_interval
        self._lease = timedelta(seconds=lease_seconds)
        self._max_backoff = max_backoff
        self._slots = asyncio.Semaphore(concurrency)  # documents relayed at once
        self._wake = asyncio.Event()
        self._stopping = False

    def notify(self) -> None:
        """Wake the relay now instead of at the next poll (after a write)."""
        self._wake.set()

    async def run(self) -> None:
        backoff = self._poll_interval
        while not self._stopping:
            self._wake.clear()  # writes from here on wake the next round
            try:
                await self.drain()
                backoff = self._poll_interval
            except Exception as exc:  # Kafka or Mongo down: events wait, we retry
                log.warning("outbox relay paused: %s", exc, extra={"retry_in_s": backoff})
                backoff = min(backoff * 2, self._max_backoff)
            try:
                await asyncio.wait_for(self._wake.wait(), backoff)
            except TimeoutError:
                pass

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def drain(self) -> int:
        """Publish everything pending now; returns how many events went out."""
        sent = 0
        for collection in self._collections:
            ids = [doc["_id"] async for doc in collection.find(PENDING, {"_id": 1})]
            results = await asyncio.gather(
                *(self._relay(collection, doc_id) for doc_id in ids), return_exceptions=True
            )
            for result in results:
                if isinstance(result, BaseException):
                    raise result
                sent += result
        return sent

    async def _relay(self, collection: AsyncCollection[Doc], doc_id: Any) -> int:
        leases = collection.database[LEASES]
        key = f"{collection.name}:{doc_id}"
        async with self._slots:
            if not await self._take_lease(leases, key):
                return 0  # another replica is on it
            try:
                doc = await collection.find_one({"_id": doc_id})
                entries: list[Doc] = (doc or {}).get(OUTBOX) or []
                if entries:
                    await self._publish(entries)
                    await collection.update_one({"_id": doc_id}, {"$pullAll": {OUTBOX: entries}})
                return len(entries)
            finally:
                await leases.delete_one({"_id": key})

    async def _take_lease(self, leases: AsyncCollection[Doc], key: str) -> bool:
        now = datetime.now(UTC)
        for _ in range(2):
            try:
                await leases.insert_one({"_id": key, "until": now + self._lease})
                return True
            except DuplicateKeyError:
                # held: take it over only if its holder let it lapse (crashed)
                lapsed = await leases.delete_one({"_id": key, "until": {"$lt": now}})
                if lapsed.deleted_count == 0:
                    return False
        return False

    async def _publish(self, entries: list[Doc]) -> None:
        """Consecutive events of one topic go out as one ordered batch."""
        start = 0
        while start < len(entries):
            topic = entries[start]["topic"]
            end = start
            while end < len(entries) and entries[end]["topic"] == topic:
                end += 1
            await self._publisher.publish(
                topic, [encode(envelope_of(e)) for e in entries[start:end]]
            )
            start = end
