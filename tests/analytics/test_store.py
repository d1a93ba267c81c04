"""The projection store against the real MongoDB-wire store: a batch's
guarded upserts (one command per collection, redelivered polls longer or
shorter than the first), concurrent creation, and forgetting old event ids
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

from analytics.batch import DocFold, mark_key
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


def fold(doc_id: str, *where: EventMeta) -> DocFold:
    """One document's part of a batch: 10 fen per event."""
    return DocFold(
        "museum_days",
        doc_id,
        [(mark_key(m.topic, m.partition), m.offset, bump(doc_id)) for m in where],
    )


async def gross(store: ProjectionStore, doc_id: str = "d") -> int:
    doc = await store.collection("museum_days").find_one({"_id": doc_id})
    return 0 if doc is None else int(doc["gross_fen"])


async def test_each_partition_offset_applies_once(store: ProjectionStore) -> None:
    orders = [meta("orders.orders", 1, o) for o in range(10)]
    await store.apply_batch([fold("d", orders[5])])
    await store.apply_batch([fold("d", orders[5])])  # redelivered
    await store.apply_batch([fold("d", orders[4])])  # older
    await store.apply_batch([fold("d", meta("ip.royalties", 1, 0))])  # another topic
    await store.apply_batch([fold("d", orders[6])])
    assert await gross(store) == 30
    doc = await store.collection("museum_days").find_one({"_id": "d"})
    assert doc is not None
    assert doc["museum_id"] == "m"
    assert doc["_hwm"] == {"orders_orders_1": 6, "ip_royalties_1": 0}


async def test_a_redelivered_poll_longer_or_shorter_counts_each_offset_once(
    store: ProjectionStore, commands: Commands
) -> None:
    """A crash between the write and the commit: the next poll of the
    partition may end later or earlier; only the offsets past each
    document's mark count, and the documents after a refused one in the
    same command are still applied (FerretDB stops a command at its first
    error)."""
    p0 = [meta("orders.orders", 0, o) for o in range(10)]
    p1 = [meta("orders.orders", 1, o) for o in range(10)]
    await store.apply_batch([fold("a", *p0[0:3], p1[0]), fold("b", p0[1])])
    assert (await gross(store, "a"), await gross(store, "b")) == (40, 10)
    commands.sent.clear()
    # longer: a (p0 0..5, p1 0..1) holds p0 up to 2 and p1 up to 0; b is new to p1
    await store.apply_batch(
        [fold("a", *p0[0:6], *p1[0:2]), fold("b", p0[1], p1[3]), fold("c", p0[4])]
    )
    assert (await gross(store, "a"), await gross(store, "b"), await gross(store, "c")) == (
        80,
        20,
        10,
    )
    for name, filters in commands.sent:
        assert all(served_by_id(f) for f in filters), (name, filters)
    # shorter: everything counted already, nothing changes
    await store.apply_batch([fold("a", *p0[0:4]), fold("b", p0[1]), fold("c", p0[4])])
    assert (await gross(store, "a"), await gross(store, "b"), await gross(store, "c")) == (
        80,
        20,
        10,
    )
    doc = await store.collection("museum_days").find_one({"_id": "a"})
    assert doc is not None
    assert doc["_hwm"] == {"orders_orders_0": 5, "orders_orders_1": 1}


async def test_a_fresh_batch_is_one_command_per_collection(
    store: ProjectionStore, commands: Commands
) -> None:
    where = [meta("orders.orders", p, 3) for p in range(3)]
    commands.sent.clear()
    await store.apply_batch([fold(f"doc-{i}", *where) for i in range(20)])
    assert [name for name, _ in commands.sent] == ["update"]
    assert await gross(store, "doc-19") == 30


async def test_concurrent_first_writes_to_one_document_all_count(
    store: ProjectionStore,
) -> None:
    """Two replicas writing one document at once (different partitions).

    FerretDB 1.24 alone loses concurrent updates of one document; the local
    build's per-database write lock restores MongoDB's atomicity."""
    await asyncio.gather(
        *(store.apply_batch([fold("new", meta("orders.orders", p, 0))]) for p in range(6))
    )
    assert await gross(store, "new") == 60


async def test_old_event_ids_are_forgotten(store: ProjectionStore, clock: Clock) -> None:
    await store.mark_seen_many([meta("orders.orders", 0, 1).id])
    await store.mark_seen_many(["a", "b"])
    clock.now += timedelta(hours=2)
    await store.mark_seen_many(["c"])
    assert await store.seen("a")
    assert await store.seen_among(["a", "b", "c", "d"]) == {"a", "b", "c"}
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
