"""The catalog's hot paths against the real store: every command they send is
served by `_id`, the search index's change feed finds what changed by `_id`
(also another replica's changes), and an op moves stock once under crashes
and redelivery."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from catalog.feed import FeedPosition
from catalog.ledger import Move, StockLedger
from catalog.stock_batch import StockBatch
from catalog.stock_fold import op_key
from catalog.store import CatalogStore
from contracts.orders import OrderCancelled, OrderRefunded, RefundLine
from servicekit.queries import filters_of, served_by_id
from tests.catalog.helpers import (
    make_product,
    make_world,
    new_order_id,
    order_placed,
)
from tests.conftest import Infra
from tests.support import eventually

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]


class _Recorder(monitoring.CommandListener):
    """Every filter a command sent, with its command and collection."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        collection = target if isinstance(target, str) else ""
        for query in filters_of(event.command_name, event.command):
            self.sent.append((event.command_name, collection, query))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def scans(self) -> list[tuple[str, str, Any]]:
        return [s for s in self.sent if not served_by_id(s[2])]


async def test_reservations_releases_refunds_and_index_refreshes_send_only_id_filters(
    infra: Infra, client, db
) -> None:
    world = await make_world(client, db, infra.kafka_bootstrap)
    first = await make_product(client, world, stock=20)
    second = await make_product(client, world, stock=20)
    recorder = _Recorder()
    watched: AsyncMongoClient = AsyncMongoClient(
        infra.mongodb_url, tz_aware=True, event_listeners=[recorder]
    )
    try:
        store = CatalogStore(watched[db.name])
        index = await store.index_entries(None)  # a full load, by the directory
        assert {first["id"], second["id"]} <= {e.id for e in index.entries}

        kept, cancelled, refunded = new_order_id(), new_order_id(), new_order_id()
        too_many = new_order_id()
        placed = {
            o: order_placed(o, [(first, 2), (second, 1)]) for o in (kept, cancelled, refunded)
        }
        placed[too_many] = order_placed(too_many, [(first, 1), (second, 500)])
        batch = StockBatch(store.ledger)
        await batch.handle(list(placed.values()))
        await batch.handle(list(placed.values()))  # redelivered
        now = datetime.now(UTC)
        await batch.handle(
            [
                OrderCancelled(
                    order_id=cancelled,
                    reason="payment_expired",
                    lines=placed[cancelled].lines,
                    stock_was_reserved=True,
                    cancelled_at=now,
                )
            ]
        )
        line = placed[refunded].lines[0]
        refund = OrderRefunded(
            order_id=refunded,
            refund_id=f"{refunded}-r1",
            lines=[
                RefundLine(
                    line_id=line.line_id,
                    product_id=line.product_id,
                    sku=line.sku,
                    quantity=1,
                    amount_fen=line.unit_price_fen,
                    license_id=line.license_id,
                    licensee_id=line.licensee_id,
                    relic_ids=line.relic_ids,
                    museum_id=line.museum_id,
                )
            ],
            amount_fen=line.unit_price_fen,
            restock=True,
            refunded_at=now,
        )
        await batch.handle([refund])
        delta = await store.index_entries(index.position)  # an incremental refresh
        await store.products_of_license(world.license_id)  # the license consumer's read

        assert recorder.sent, "nothing recorded"
        assert recorder.scans() == []
        assert {first["id"], second["id"]} <= delta.stock.keys()
        # kept and refunded hold 2 + 2, the refund gave 1 back
        assert delta.stock[first["id"]] == 20 - 4 + 1
        assert delta.stock[second["id"]] == 20 - 2
        outcomes = {o: (await store.ledger.outcome(o)) for o in placed}
        assert {o: x.status for o, x in outcomes.items() if x} == {
            kept: "reserved",
            cancelled: "reserved",
            refunded: "reserved",
            too_many: "rejected",
        }
    finally:
        await watched.close()


async def test_the_index_sees_another_replicas_changes_through_the_feed(
    infra: Infra, client, db
) -> None:
    world = await make_world(client, db, infra.kafka_bootstrap)
    product = await make_product(client, world, stock=5)
    url = f"/products/{product['id']}"
    assert (await client.get(url)).json()["stock"] == 5  # now in the service's index

    store = CatalogStore(db)  # another process, as a second replica would be
    position = (await store.index_entries(None)).position
    result, balance = await store.ledger.move(product["id"], "adj-feed-1", 7, reason="adjust")
    assert (result, balance) == (Move.APPLIED, 12)
    changed = await store.index_entries(position)
    assert not changed.full
    assert changed.stock[product["id"]] == 12  # found by `_id` in the feed

    async def shown() -> bool:
        return (await client.get(url)).json()["stock"] == 12

    # well within the index's full reload (60 s): the feed found it
    await eventually(shown, timeout=15, what="the other replica's stock in the index")

    products = await store.products_of_license(world.license_id)
    assert product["id"] in {p.id for p in products}


class _CrashBeforeMarking(StockLedger):
    """The process dies after appending a movement, before marking its op."""

    crashes = 1

    async def _mark_applied(self, op: str) -> None:
        if self.crashes:
            self.crashes -= 1
            raise RuntimeError("crash")
        await super()._mark_applied(op)


async def test_an_op_moves_stock_once_after_a_crash_and_under_concurrent_redelivery(
    infra: Infra, client, db
) -> None:
    world = await make_world(client, db, infra.kafka_bootstrap)
    product = await make_product(client, world, stock=10)
    pid = product["id"]
    crashing = _CrashBeforeMarking(db)
    op = op_key(new_order_id(), "hold", pid)
    with pytest.raises(RuntimeError):
        await crashing.move(pid, op, -3, reason="reserve")
    marker = await db["stock_ops"].find_one({"_id": op})
    assert marker is not None
    assert marker["applied"] is False  # a half-done op

    ledger = StockLedger(db)
    assert await ledger.applied(op)  # settled by the movement it tried, by `_id`
    assert await ledger.move(pid, op, -3, reason="reserve") == (Move.ALREADY, 7)
    assert (await db["stock_ops"].find_one({"_id": op}))["applied"] is True

    # the same op delivered to many consumers at once: one movement
    again = op_key(new_order_id(), "hold", pid)
    results = await asyncio.gather(
        *(StockLedger(db).move(pid, again, -2, reason="reserve") for _ in range(12))
    )
    assert [r for r, _ in results].count(Move.APPLIED) == 1
    assert await ledger.balance(pid) == 5
    assert await db["stock_moves"].count_documents({"op": again}) == 1  # (a test may scan)
    assert (await ledger.balances([pid]))[pid] == 5


async def test_a_reader_too_far_behind_loads_everything_instead(db) -> None:  # noqa: ANN001
    store = CatalogStore(db)
    recent = FeedPosition(int(datetime.now(UTC).timestamp()) - 1)
    delta = await store.index_entries(recent)
    assert not delta.full  # one `$in` of the window's bucket ids
    assert delta.position.second >= recent.second
    far_behind = FeedPosition(recent.second - 10_000)
    assert (await store.index_entries(far_behind)).full
