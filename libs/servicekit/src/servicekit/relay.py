"""The outbox relay: publishes pending events and marks them sent.

Scaled-out replicas share the work safely: a replica leases one document at a
time (`_outbox_lease`), publishes its events in order, then pulls exactly those
events out. A crash after publishing and before the pull republishes them:
delivery is at least once and consumers are idempotent by event id.
While Kafka is down the events simply wait in their documents.
"""

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from servicekit.bus import Publisher
from servicekit.envelope import encode
from servicekit.outbox import OUTBOX, PENDING, envelope_of

__all__ = ["OutboxRelay"]

log = logging.getLogger(__name__)
LEASE = "_outbox_lease"


class OutboxRelay:
    def __init__(
        self,
        *,
        collections: Sequence[AsyncCollection[dict[str, Any]]],
        publisher: Publisher,
        poll_interval: float = 0.25,
        lease_seconds: float = 30.0,
        max_backoff: float = 5.0,
    ) -> None:
        self._collections = list(collections)
        self._publisher = publisher
        self._poll_interval = poll_interval
        self._lease = timedelta(seconds=lease_seconds)
        self._max_backoff = max_backoff
        self._wake = asyncio.Event()
        self._stopping = False

    def notify(self) -> None:
        """Wake the relay now instead of at the next poll (after a write)."""
        self._wake.set()

    async def run(self) -> None:
        backoff = self._poll_interval
        while not self._stopping:
            try:
                await self.drain()
                backoff = self._poll_interval
            except Exception as exc:  # Kafka or Mongo down: events wait, we retry
                log.warning("outbox relay paused: %s", exc, extra={"retry_in_s": backoff})
                backoff = min(backoff * 2, self._max_backoff)
            self._wake.clear()
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
            while (doc := await self._lease_one(collection)) is not None:
                sent += await self._publish(collection, doc)
        return sent

    async def _lease_one(
        self, collection: AsyncCollection[dict[str, Any]]
    ) -> dict[str, Any] | None:
        now = datetime.now(UTC)
        return await collection.find_one_and_update(
            {**PENDING, "$or": [{LEASE: {"$exists": False}}, {LEASE: {"$lt": now}}]},
            {"$set": {LEASE: now + self._lease}},
            return_document=ReturnDocument.AFTER,
        )

    async def _publish(
        self, collection: AsyncCollection[dict[str, Any]], doc: dict[str, Any]
    ) -> int:
        entries: list[dict[str, Any]] = doc[OUTBOX]
        try:
            # consecutive events of one topic go out as one ordered batch
            start = 0
            while start < len(entries):
                topic = entries[start]["topic"]
                end = start
                while end < len(entries) and entries[end]["topic"] == topic:
                    end += 1
                batch = entries[start:end]
                await self._publisher.publish(topic, [encode(envelope_of(e)) for e in batch])
                start = end
        except BaseException:
            await collection.update_one({"_id": doc["_id"]}, {"$unset": {LEASE: ""}})
            raise
        await collection.update_one(
            {"_id": doc["_id"]},
            {"$pullAll": {OUTBOX: entries}, "$unset": {LEASE: ""}},
        )
        return len(entries)
