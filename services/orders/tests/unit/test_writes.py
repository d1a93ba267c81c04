"""In-process write coordination for order documents (store.OrderWrites and
the relay's view of the collection), with a fake collection."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orders.store import OrderWrites, SerializedOutbox

pytestmark = pytest.mark.asyncio


async def test_writes_to_one_document_are_serialized_and_locks_are_dropped() -> None:
    writes = OrderWrites()
    log: list[str] = []

    async def write(key: str, tag: str) -> None:
        async with writes.hold(key):
            log.append(f"{tag}+")
            await asyncio.sleep(0.01)
            log.append(f"{tag}-")

    await asyncio.gather(write("o1", "a"), write("o1", "b"), write("o2", "c"))
    assert log.index("a-") < log.index("b+")  # never interleaved on o1
    assert log.index("c+") < log.index("a-")  # o2 did not wait for o1
    assert writes._locks == {}


class FakeCollection:
    def __init__(self, docs: dict[str, dict[str, Any]]) -> None:
        self.docs = docs
        self.scans = 0

    async def find_one(self, _filter: dict[str, Any]) -> dict[str, Any] | None:
        self.scans += 1
        return next(iter(self.docs.values()), None)

    async def find_one_and_update(
        self, filter: dict[str, Any], _update: dict[str, Any], **_: Any
    ) -> dict[str, Any] | None:
        return self.docs.pop(filter["_id"], None)

    async def update_one(self, _filter: dict[str, Any], _update: dict[str, Any]) -> None:
        return None


async def test_the_relay_leases_fresh_writes_by_id_and_scans_only_when_due() -> None:
    writes = OrderWrites(scan_every=3600)
    collection = FakeCollection({"o1": {"_id": "o1"}, "o2": {"_id": "o2"}})
    outbox = SerializedOutbox(collection, writes)  # type: ignore[arg-type]
    # the first lease after start scans (events from before a restart)
    assert await outbox.find_one_and_update({}, {}) == {"_id": "o1"}
    assert await outbox.find_one_and_update({}, {}) == {"_id": "o2"}
    assert await outbox.find_one_and_update({}, {}) is None
    assert collection.scans == 3
    # then: by id for what this process wrote, no scan until one is due
    collection.docs["o3"] = {"_id": "o3"}
    writes.pending.add("o3")
    assert await outbox.find_one_and_update({}, {}) == {"_id": "o3"}
    assert await outbox.find_one_and_update({}, {}) is None
    assert collection.scans == 3


async def test_an_order_in_flight_waits_for_its_relay_to_finish() -> None:
    writes = OrderWrites(scan_every=3600)
    writes.scanned()
    collection = FakeCollection({"o1": {"_id": "o1"}})
    outbox = SerializedOutbox(collection, writes)  # type: ignore[arg-type]
    writes.pending.add("o1")
    assert await outbox.find_one_and_update({}, {}) == {"_id": "o1"}
    # new events for o1 while the first relay still publishes: not leased twice
    collection.docs["o1"] = {"_id": "o1", "more": True}
    writes.pending.add("o1")
    assert await outbox.find_one_and_update({}, {}) is None
    await outbox.update_one({"_id": "o1"}, {})  # the first relay pulls what it sent
    assert await outbox.find_one_and_update({}, {}) == {"_id": "o1", "more": True}
