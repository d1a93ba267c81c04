"""The orders consumer as a batch (handlers.events over servicekit's
BatchSubscription), against real Kafka and the real store: the service's own
handler run by servicekit's runner, catalog played by publishing its stock
verdicts. A batch redelivered whole after a crash between its writes and the
commit changes nothing; a poison event mid-batch is dead-lettered and its
neighbours are applied exactly once; an order's several verdicts in one batch
end as applied one by one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from contracts import Event, dlq_topic
from contracts.catalog import StockRejected, StockRejection, StockReserved
from orders import handlers
from orders.handlers import Context
from servicekit.bus import KafkaPublisher
from servicekit.consumer import BatchSubscription, ConsumerRunner, EventMeta
from servicekit.outbox import MARKERS, MARKS, OUTBOX
from tests.conftest import Infra
from tests.integration.kafka_helpers import read_all
from tests.orders.batch_support import context, insert_pending
from tests.orders.helpers import caught_up, publish
from tests.support import unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]

Doc = dict[str, Any]
Batch = Sequence[tuple[Event, EventMeta]]
TOPICS = sorted({contract.TOPIC for contract in handlers.CONSUMED})
REJECTION = StockRejection(product_id="prd-1", reason="insufficient", requested=2, available=0)


@pytest_asyncio.fixture
async def db(infra: Infra) -> AsyncIterator[AsyncDatabase[Doc]]:
    client: AsyncMongoClient[Doc] = AsyncMongoClient(infra.mongodb_url, tz_aware=True)
    yield client[unique("orders_consumer").replace("-", "_")]
    await client.close()


class Recorder:
    """The service's batch handler, recording what each batch held; with
    `crash_after_write` it hangs after its writes, as a process dying before
    its commit would."""

    def __init__(self, ctx: Context, *, crash_after_write: bool = False) -> None:
        self.ctx = ctx
        self.batches: list[list[str]] = []  # the order ids of each call's verdicts
        self.crash_after_write = crash_after_write
        self.written = asyncio.Event()

    async def __call__(self, items: Batch) -> None:
        self.batches.append(
            [e.order_id for e, _ in items if isinstance(e, StockReserved | StockRejected)]
        )
        await handlers.handle_batch(items, ctx=self.ctx)
        if self.crash_after_write:
            self.written.set()
            await asyncio.Event().wait()


def _runner(infra: Infra, group: str, handle: Recorder, dlq: KafkaPublisher) -> ConsumerRunner:
    return ConsumerRunner(
        bootstrap_servers=infra.kafka_bootstrap,
        group_id=group,
        topics=TOPICS,
        batch=BatchSubscription(handlers.CONSUMED, handle),
        dead_letters=dlq,
        backoff=0.01,
    )


async def _drain(infra: Infra, group: str, handle: Recorder, dlq: KafkaPublisher) -> None:
    """Run the consumer until it committed everything on the stock topic."""
    runner = _runner(infra, group, handle, dlq)
    task = asyncio.create_task(runner.run())
    try:
        await caught_up(infra.kafka_bootstrap, group, StockReserved.TOPIC, timeout=60)
    finally:
        await runner.stop()
        await task


async def _stored(db: AsyncDatabase[Doc], order_ids: list[str]) -> dict[str, Doc]:
    query = db["orders"].find({"_id": {"$in": order_ids}}, batch_size=len(order_ids) + 1)
    return {doc["_id"]: doc async for doc in query}


def _outbox_ids(doc: Doc) -> list[str]:
    return [entry["id"] for entry in doc.get(OUTBOX, [])]


async def test_a_batch_redelivered_whole_after_a_crash_before_its_commit_changes_nothing(
    infra: Infra, db: AsyncDatabase[Doc]
) -> None:
    order_ids = await insert_pending(db, 30)
    await publish(infra.kafka_bootstrap, *(StockReserved(order_id=o, lines=[]) for o in order_ids))
    group = unique("orders-batch-crash")
    dlq = KafkaPublisher(infra.kafka_bootstrap, "orders-batch-dlq")
    try:
        crashing = Recorder(context(db), crash_after_write=True)
        first = asyncio.create_task(_runner(infra, group, crashing, dlq).run())
        await asyncio.wait_for(crashing.written.wait(), 60)
        first.cancel()  # its writes landed, its offsets were never committed
        with pytest.raises(asyncio.CancelledError):
            await first
        written = await _stored(db, crashing.batches[0])
        assert all(_outbox_ids(d) == [f"{oid}:confirmed"] for oid, d in written.items())

        again = Recorder(context(db))
        await _drain(infra, group, again, dlq)
    finally:
        await dlq.stop()
    redelivered = {oid for batch in again.batches for oid in batch}
    assert set(crashing.batches[0]) <= redelivered  # the crashed batch came again
    stored = await _stored(db, order_ids)
    for order_id, doc in stored.items():
        assert doc["status"] == "CONFIRMED"
        assert doc["rev"] == 2  # one write, never two
        assert _outbox_ids(doc) == [f"{order_id}:confirmed"]
        assert doc[MARKS] == 1
    markers = {m["doc_id"]: m["marks"] async for m in db[MARKERS].find({})}
    assert markers == dict.fromkeys(order_ids, 1)  # the redelivery announced nothing


async def test_a_poison_event_mid_batch_is_dead_lettered_and_its_neighbours_apply_once(
    infra: Infra, db: AsyncDatabase[Doc]
) -> None:
    order_ids = await insert_pending(db, 6)
    poison = "ord-poison-" + unique("x")
    # an order document the service cannot read: its verdict fails every time
    await db["orders"].insert_one({"_id": poison, "status": "PENDING", "rev": 1})
    verdicts = [StockReserved(order_id=o, lines=[]) for o in order_ids]
    verdicts.insert(3, StockReserved(order_id=poison, lines=[]))
    await publish(infra.kafka_bootstrap, *verdicts)
    group = unique("orders-batch-poison")
    dlq = KafkaPublisher(infra.kafka_bootstrap, "orders-batch-dlq")
    handle = Recorder(context(db))
    try:
        await _drain(infra, group, handle, dlq)
    finally:
        await dlq.stop()
    assert any(len(batch) > 1 and poison in batch for batch in handle.batches)  # it was mid-batch
    stored = await _stored(db, order_ids)
    for order_id, doc in stored.items():
        assert doc["status"] == "CONFIRMED"
        assert doc["rev"] == 2
        assert _outbox_ids(doc) == [f"{order_id}:confirmed"]
    dead = await read_all(infra.kafka_bootstrap, dlq_topic(StockReserved.TOPIC), expected=1)
    ours = [r for r in dead if dict(r.headers).get("dlq_group") == group.encode()]
    assert [json.loads(r.value)["order_id"] for r in ours] == [poison]
    assert dict(ours[0].headers)["dlq_error_type"] == b"KeyError"


async def test_an_orders_verdicts_in_one_batch_end_as_applied_one_by_one(
    infra: Infra, db: AsyncDatabase[Doc]
) -> None:
    batched, single = await insert_pending(db, 2)

    def verdicts(order_id: str) -> list[StockReserved | StockRejected]:
        # a duplicate delivery of the reservation, and a late rejection
        return [
            StockReserved(order_id=order_id, lines=[]),
            StockRejected(order_id=order_id, reasons=[REJECTION]),
            StockReserved(order_id=order_id, lines=[]),
        ]

    await publish(infra.kafka_bootstrap, *verdicts(batched))
    group = unique("orders-batch-order")
    dlq = KafkaPublisher(infra.kafka_bootstrap, "orders-batch-dlq")
    handle = Recorder(context(db))
    try:
        await _drain(infra, group, handle, dlq)
    finally:
        await dlq.stop()
    assert any(batch.count(batched) == 3 for batch in handle.batches)  # all three in one

    ctx = context(db)
    for n, verdict in enumerate(verdicts(single)):  # one by one, as batches of one
        meta = EventMeta(
            id=f"one-{n}",
            type=verdict.TYPE,
            source="catalog",
            subject=single,
            time=datetime.now(UTC),
            topic=verdict.TOPIC,
            partition=0,
            offset=n,
        )
        await handlers.handle_batch([(verdict, meta)], ctx=ctx)

    stored = await _stored(db, [batched, single])
    one, other = stored[batched], stored[single]
    assert one["status"] == other["status"] == "CONFIRMED"
    assert one["rev"] == other["rev"] == 2
    assert _outbox_ids(one) == [f"{batched}:confirmed"]
    assert _outbox_ids(other) == [f"{single}:confirmed"]
    assert one["rejection_reasons"] == other["rejection_reasons"] == []
    assert (one["payment_due_at"] - one["confirmed_at"]) == (
        other["payment_due_at"] - other["confirmed_at"]
    )
