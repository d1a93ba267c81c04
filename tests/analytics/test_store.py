"""The projection store against the real MongoDB-wire store: the guarded
single-round-trip upsert, concurrent creation, and forgetting old event ids."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient

from analytics.domain import Change
from analytics.store import ProjectionStore
from servicekit.consumer import EventMeta
from tests.conftest import Infra
from tests.support import unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]


@pytest_asyncio.fixture
async def store(infra: Infra):
    client: AsyncMongoClient = AsyncMongoClient(infra.mongodb_url, tz_aware=True)
    name = unique("analytics_store").replace("-", "_")
    yield ProjectionStore(client[name], 1)
    await client.drop_database(name)
    await client.close()


def meta(topic: str, partition: int, offset: int) -> EventMeta:
    return EventMeta(
        id=unique("event"),
        type="t",
        source="s",
        subject="x",
        time=datetime.now(UTC),
        topic=topic,
        partition=partition,
        offset=offset,
    )


def bump(doc_id: str = "d") -> Change:
    return Change("museum_days", doc_id, {"gross_fen": 10}, {"sku": "S"}, {"museum_id": "m"})


async def test_each_partition_offset_applies_once(store: ProjectionStore) -> None:
    outcomes = [
        await store.apply(bump(), meta("orders.orders", 1, 5)),
        await store.apply(bump(), meta("orders.orders", 1, 5)),  # redelivered
        await store.apply(bump(), meta("orders.orders", 1, 4)),  # older
        await store.apply(bump(), meta("ip.royalties", 1, 0)),  # another topic
        await store.apply(bump(), meta("orders.orders", 1, 6)),
    ]
    assert outcomes == [True, False, False, True, True]
    doc = await store.collection("museum_days").find_one({"_id": "d"})
    assert doc is not None
    assert doc["gross_fen"] == 30
    assert doc["museum_id"] == "m"
    assert doc["_hwm"] == {"orders_orders_1": 6, "ip_royalties_1": 0}


async def test_concurrent_first_writes_to_one_document_all_count(
    store: ProjectionStore,
) -> None:
    """Two replicas writing one document at once (different partitions).

    FerretDB 1.24 alone loses concurrent updates of one document; the local
    stack's write-serialising proxy restores MongoDB's atomicity."""
    outcomes = await asyncio.gather(
        *(store.apply(bump("new"), meta("orders.orders", p, 0)) for p in range(6))
    )
    assert all(outcomes)
    doc = await store.collection("museum_days").find_one({"_id": "new"})
    assert doc is not None
    assert doc["gross_fen"] == 60


async def test_old_event_ids_are_forgotten(store: ProjectionStore) -> None:
    await store.mark_seen(meta("orders.orders", 0, 1))
    await store.mark_seen_many(["a", "b"])
    assert await store.seen("a")
    assert await store.prune_seen(before=datetime.now(UTC) - timedelta(hours=1)) == 0
    assert await store.prune_seen(before=datetime.now(UTC) + timedelta(seconds=1)) == 3
    assert not await store.seen("a")
