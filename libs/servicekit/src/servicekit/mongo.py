"""MongoDB access through PyMongo's async API.

Motor is deprecated and past end of life; `AsyncMongoClient` is its official
successor. Code here and in the services uses only what both real MongoDB and
FerretDB 1.24 support: single-document atomicity, no transactions, no change
streams, no $text, no TTL indexes, no Decimal128.
"""

import asyncio
from typing import Any

from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError

from servicekit.metrics import STORE_COMMANDS, STORE_SCANS
from servicekit.queries import BOUNDED, filters_of, served_by_id
from servicekit.settings import ServiceSettings

__all__ = ["advance", "advance_guard", "connect", "ping"]


def connect(
    settings: ServiceSettings, *listeners: monitoring.CommandListener
) -> AsyncMongoClient[dict[str, object]]:
    """A lazy client: nothing connects until the first operation."""
    return AsyncMongoClient(
        settings.mongodb_url,
        tz_aware=True,
        serverSelectionTimeoutMS=2_000,
        connectTimeoutMS=2_000,
        appname=settings.service_name,
        event_listeners=[StoreCommandTimer(), *listeners],
    )


class StoreCommandTimer(monitoring.CommandListener):
    """Times every store command by name and collection (the
    `store_command_duration_seconds` histogram): where a request's or an
    event's time goes is mostly round trips to the store. Counts the commands
    whose filter is not served by `_id` (`store_scans_total`, see
    servicekit.queries): on a hot path there must be none."""

    def __init__(self) -> None:
        self._collections: dict[tuple[Any, int], str] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        collection = target if isinstance(target, str) else ""
        self._collections[(event.connection_id, event.request_id)] = collection
        if collection and collection not in BOUNDED:
            for query in filters_of(event.command_name, event.command):
                if not served_by_id(query):
                    STORE_SCANS.labels(event.command_name, collection).inc()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._observe(event)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._observe(event)

    def _observe(
        self, event: monitoring.CommandSucceededEvent | monitoring.CommandFailedEvent
    ) -> None:
        collection = self._collections.pop((event.connection_id, event.request_id), "")
        STORE_COMMANDS.labels(event.command_name, collection).observe(event.duration_micros / 1e6)


async def ping(client: AsyncMongoClient[dict[str, object]], timeout: float = 1.5) -> bool:
    try:
        await asyncio.wait_for(client.admin.command("ping"), timeout)
    except (PyMongoError, TimeoutError):
        return False
    return True


async def advance(
    collection: AsyncCollection[dict[str, Any]], doc_id: str, seq: int, fields: dict[str, Any]
) -> None:
    """Set `fields` and `seq` on the document unless it is at `seq` or later
    already (a pointer or read model that only moves forward): one
    conditional write, atomic on MongoDB and behind the local FerretDB's write
    proxy (tests/integration/test_store_atomicity.py); the first one inserts."""
    values = {**fields, "seq": seq}
    moved = await collection.update_one(advance_guard(doc_id, seq), {"$set": values})
    if moved.matched_count == 0:
        try:
            await collection.insert_one({"_id": doc_id, **values})
        except DuplicateKeyError:
            pass  # at a later position already


def advance_guard(doc_id: str, seq: int) -> dict[str, Any]:
    """The pointer, unless it is at `seq` or later already."""
    return {"_id": doc_id, "seq": {"$lt": seq}}
