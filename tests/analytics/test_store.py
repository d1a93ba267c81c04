"""The projection store against the real MongoDB-wire store: the guarded
single-round-trip upsert, concurrent creation, and forgetting old event ids
by `_id` at a cost bounded by the seconds elapsed, not by the ids stored."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.monitoring import CommandListener, CommandStartedEvent

from analytics.domain import Change
from analytics.store import ProjectionStore
from servicekit.consumer import EventMeta
from servicekit.queries import filters_of, served_by_id
from tests.conftest import Infra
from tests.support import unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]


START = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class Commands(CommandListener):
    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Any]]] = []

    def started(self, event: CommandStartedEvent) -> None:
        self.sent.append((event.command_name, filters_of(event.command_name, event.command)))

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def commands() -> Commands:
    return Commands()


@pytest_asyncio.fixture
async def store(infra: Infra, clock: Clock, commands: Commands):
    client: AsyncMongoClient = AsyncMongoClient(
        infra.mongodb_url, tz_aware=True, event_listeners=[commands]
    )
    name = unique("analytics_store").replace("-", "_")
    store = ProjectionStore(client[name], 1, clock=clock)
    await store.prepare()
    yield store
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


async def test_old_event_ids_are_forgotten(store: ProjectionStore, clock: Clock) -> None:
    await store.mark_seen(meta("orders.orders", 0, 1))
    await store.mark_seen_many(["a", "b"])
    clock.now += timedelta(hours=2)
    await store.mark_seen_many(["c"])
    assert await store.seen("a")
    assert await store.prune_seen(before=START) == 0
    assert await store.prune_seen(before=START + timedelta(hours=1)) == 3
    assert not await store.seen("a")
    assert await store.seen("c")
    assert await store.prune_seen(before=START + timedelta(hours=1)) == 0  # done already
    assert await store.prune_seen(before=clock.now + timedelta(seconds=1)) == 1
    assert not await store.seen("c")


async def test_pruning_reads_and_deletes_by_id_bounded_by_time_not_ids(
    store: ProjectionStore, clock: Clock, commands: Commands
) -> None:
    """Thousands of ids recorded in a few seconds, a few more an hour later:
    pruning the first hour sends a handful of commands, every one by `_id`,
    and walks each second once; the ids of the later hour stay."""
    for second in range(3):
        clock.now = START + timedelta(seconds=second)
        await store.mark_seen_many([f"old-{second}-{i}" for i in range(1_500)])
    clock.now = START + timedelta(hours=1, seconds=5)
    await store.mark_seen_many(["new-1", "new-2"])

    commands.sent.clear()
    assert await store.prune_seen(before=START + timedelta(hours=1)) == 4_500
    assert commands.sent, "pruning sent nothing"
    for name, filters in commands.sent:
        assert all(served_by_id(f) for f in filters), (name, filters)
    sent = Counter(name for name, _ in commands.sent)
    # 3,600 seconds walked 1,000 at a time; 4,500 ids deleted 1,000 at a time
    assert sent["find"] == 1 + 4  # the pointer, then four chunks of seconds
    assert sent["delete"] == 5 + 1  # ids, then the three buckets at once
    assert sent["update"] == 4  # the pointer after each chunk
    assert await store.seen("new-1")
    assert not await store.seen("old-2-1499")

    # the next prune starts where this one stopped: nothing walked twice
    commands.sent.clear()
    assert await store.prune_seen(before=START + timedelta(hours=1, seconds=10)) == 2
    finds = [f for name, f in commands.sent if name == "find"]
    walked = [f[0]["_id"]["$in"] for f in finds if isinstance(f[0]["_id"], dict)]
    assert [len(w) for w in walked] == [10]
    assert not await store.seen("new-2")
