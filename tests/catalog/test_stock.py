"""Stock reservations against real Kafka and FerretDB: never oversold, all or
nothing, exactly once under redelivery, released and restocked."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from catalog.ledger import StockLedger
from catalog.stock_batch import StockBatch
from contracts.orders import OrderCancelled, OrderRefunded, RefundLine
from tests.catalog.helpers import (
    auth,
    collect,
    make_product,
    make_world,
    new_order_id,
    order_placed,
    publish,
    redeliverable,
)
from tests.conftest import Infra
from tests.support import ServiceProcess, eventually

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]


async def _stock(db, product_id: str) -> int:  # noqa: ANN001
    latest = await db["stock_moves"].find_one({"product_id": product_id}, sort=[("seq", -1)])
    return int(latest["balance"]) if latest else 0


async def _settled(db, order_ids: list[str]) -> dict[str, str]:  # noqa: ANN001
    docs = db["reservations"].find({"_id": {"$in": order_ids}})
    return {d["_id"]: d["status"] async for d in docs}


async def _wait_settled(db, order_ids: list[str], timeout: float = 60) -> dict[str, str]:  # noqa: ANN001
    done = {"reserved", "rejected", "cancelled"}

    async def all_settled() -> bool:
        statuses = await _settled(db, order_ids)
        return len(statuses) == len(order_ids) and set(statuses.values()) <= done

    await eventually(all_settled, timeout=timeout, what="every order settled")
    return await _settled(db, order_ids)


async def test_fifty_concurrent_orders_for_ten_in_stock_reserve_exactly_ten(
    infra: Infra, catalog: ServiceProcess, client, db
) -> None:
    # a second replica in the same group and database: orders spread over the
    # partitions are reserved by two processes at once
    twin = ServiceProcess(
        "catalog",
        {
            **{k: catalog.env[k] for k in ("KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URL")},
            "ENVIRONMENT": "test",
            "CATALOG_MONGODB_DATABASE": catalog.env["CATALOG_MONGODB_DATABASE"],
            "KAFKA_CONSUMER_GROUP": catalog.env["KAFKA_CONSUMER_GROUP"],
        },
    )
    try:
        world = await make_world(client, db, infra.kafka_bootstrap)
        product = await make_product(client, world, stock=10)
        orders = [new_order_id() for _ in range(50)]
        await asyncio.gather(
            *(publish(infra.kafka_bootstrap, order_placed(o, [(product, 1)])) for o in orders)
        )
        statuses = await _wait_settled(db, orders, timeout=90)
    finally:
        twin.stop()

    assert sorted(statuses.values()).count("reserved") == 10
    assert sorted(statuses.values()).count("rejected") == 40
    assert await _stock(db, product["id"]) == 0

    wanted = set(orders)
    events = await collect(
        infra.kafka_bootstrap, "catalog.stock", lambda key, _: key.decode() in wanted, 50
    )
    kinds = [kind for kind, _ in events]
    assert kinds.count("rebirth.catalog.stock.reserved.v1") == 10
    assert kinds.count("rebirth.catalog.stock.rejected.v1") == 40
    rejected = [d for k, d in events if k.endswith("rejected.v1")]
    assert {r["reasons"][0]["reason"] for r in rejected} == {"insufficient"}


async def test_a_multi_line_order_with_one_short_line_reserves_nothing(
    infra: Infra, client, db
) -> None:
    world = await make_world(client, db, infra.kafka_bootstrap)
    plenty = await make_product(client, world, stock=5)
    short = await make_product(client, world, stock=1)
    order = new_order_id()
    await publish(infra.kafka_bootstrap, order_placed(order, [(plenty, 2), (short, 3)]))

    statuses = await _wait_settled(db, [order])
    assert statuses[order] == "rejected"
    assert await _stock(db, plenty["id"]) == 5
    assert await _stock(db, short["id"]) == 1
    [(kind, data)] = await collect(
        infra.kafka_bootstrap, "catalog.stock", lambda key, _: key.decode() == order, 1
    )
    assert kind == "rebirth.catalog.stock.rejected.v1"
    assert data["reasons"] == [
        {"product_id": short["id"], "requested": 3, "available": 1, "reason": "insufficient"}
    ]


async def test_a_redelivered_order_placed_reserves_once(infra: Infra, client, db) -> None:
    world = await make_world(client, db, infra.kafka_bootstrap)
    product = await make_product(client, world, stock=10)
    order = new_order_id()
    envelope = redeliverable(order_placed(order, [(product, 3)]))
    await publish(infra.kafka_bootstrap, envelope)
    await publish(infra.kafka_bootstrap, envelope)  # the same event id, twice
    later = new_order_id()  # flows after both copies on its own partition or not
    await publish(infra.kafka_bootstrap, order_placed(later, [(product, 1)]))

    statuses = await _wait_settled(db, [order, later])
    assert statuses == {order: "reserved", later: "reserved"}

    async def both_copies_consumed() -> bool:
        events = await collect(
            infra.kafka_bootstrap,
            "catalog.stock",
            lambda key, _: key.decode() == order,
            1,
            timeout=2,
        )
        return len(events) == 1

    await eventually(both_copies_consumed, what="the reservation event")
    assert await _stock(db, product["id"]) == 6
    events = await collect(
        infra.kafka_bootstrap, "catalog.stock", lambda key, _: key.decode() == order, 2, timeout=3
    )
    assert [k for k, _ in events] == ["rebirth.catalog.stock.reserved.v1"]  # one event, not two


async def test_cancelling_releases_and_a_restocking_refund_puts_goods_back(
    infra: Infra, client, db
) -> None:
    world = await make_world(client, db, infra.kafka_bootstrap)
    product = await make_product(client, world, stock=10)
    cancelled, refunded = new_order_id(), new_order_id()
    placed = order_placed(cancelled, [(product, 4)])
    paid = order_placed(refunded, [(product, 3)])
    await publish(infra.kafka_bootstrap, placed, paid)
    assert await _wait_settled(db, [cancelled, refunded]) == {
        cancelled: "reserved",
        refunded: "reserved",
    }
    assert await _stock(db, product["id"]) == 3

    now = datetime.now(UTC)
    cancel = OrderCancelled(
        order_id=cancelled,
        reason="payment_expired",
        lines=placed.lines,
        stock_was_reserved=True,
        cancelled_at=now,
    )
    line = paid.lines[0]
    refund = OrderRefunded(
        order_id=refunded,
        refund_id=f"{refunded}-r1",
        lines=[
            RefundLine(
                line_id=line.line_id,
                product_id=line.product_id,
                sku=line.sku,
                quantity=2,
                amount_fen=line.unit_price_fen * 2,
                license_id=line.license_id,
                licensee_id=line.licensee_id,
                relic_ids=line.relic_ids,
                museum_id=line.museum_id,
            )
        ],
        amount_fen=line.unit_price_fen * 2,
        restock=True,
        refunded_at=now,
    )
    cancel_envelope = redeliverable(cancel)
    await publish(infra.kafka_bootstrap, cancel_envelope, cancel_envelope, refund, refund)

    async def back_on_the_shelf() -> bool:
        return await _stock(db, product["id"]) == 3 + 4 + 2

    await eventually(back_on_the_shelf, what="stock released and restocked")
    released = await collect(
        infra.kafka_bootstrap,
        "catalog.stock",
        lambda key, data: key.decode() in (cancelled, refunded) and "reason" in data,
        2,
    )
    assert sorted(d["reason"] for _, d in released) == ["order_cancelled", "refund_restocked"]
    # the redelivered cancel and the duplicate refund changed nothing more
    await publish(infra.kafka_bootstrap, order_placed(new_order_id(), [(product, 1)]))

    async def next_order_done() -> bool:
        return await _stock(db, product["id"]) == 8

    await eventually(next_order_done, what="a later order reserved")


async def test_stock_can_be_set_and_adjusted_but_never_below_zero(infra: Infra, client, db) -> None:
    world = await make_world(client, db, infra.kafka_bootstrap)
    product = await make_product(client, world, stock=2)
    headers = auth(world.licensee_token)
    url = f"/products/{product['id']}/stock"
    response = await client.put(url, json={"stock": 7}, headers=headers)
    assert response.status_code == 200
    assert response.json()["stock"] == 7
    response = await client.post(f"{url}/adjustments", json={"delta": -5}, headers=headers)
    assert response.json()["stock"] == 2
    response = await client.post(f"{url}/adjustments", json={"delta": -3}, headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    response = await client.put(url, json={"stock": -1}, headers=headers)
    assert response.status_code == 422
    assert await _stock(db, product["id"]) == 2


class _NotShown(StockLedger):
    """Another writer whose movement landed but whose shown balance did not
    move yet (it crashed, or is still on its way)."""

    async def _project(self, product_id: str, seq: int, balance: int) -> None:
        pass


class _CrashBeforeRecords(StockBatch):
    """The process dies after the batch's movements, before its outcomes."""

    crashes = 1

    async def _record(self, steps):  # noqa: ANN001, ANN202
        if self.crashes:
            self.crashes -= 1
            raise RuntimeError("crash")
        return await super()._record(steps)


async def test_a_line_found_short_after_another_was_held_gives_the_first_back(
    infra: Infra, client, db
) -> None:
    world = await make_world(client, db, infra.kafka_bootstrap)
    plenty = await make_product(client, world, stock=5)
    short = await make_product(client, world, stock=3)
    # the shown balance still says 3: the batch reserves both lines on it
    await _NotShown(db).move(short["id"], "adj-unseen", -2, reason="adjust")
    order = new_order_id()
    await StockBatch(StockLedger(db)).handle([order_placed(order, [(plenty, 2), (short, 3)])])

    outcome = await StockLedger(db).outcome(order)
    assert outcome is not None
    assert outcome.status == "rejected"
    assert [(r.product_id, r.reason, r.available) for r in outcome.reasons] == [
        (short["id"], "insufficient", 1)
    ]
    assert await _stock(db, plenty["id"]) == 5  # held, then given back
    assert await _stock(db, short["id"]) == 1
    moves = [m["op"] async for m in db["stock_moves"].find({"product_id": plenty["id"]})]
    assert f"{order}:hold:{plenty['id']}" in moves
    assert f"{order}:undo:{plenty['id']}" in moves
    assert (await StockLedger(db).balances([short["id"]]))[short["id"]] == 1  # shown again


async def test_a_crash_between_a_batchs_movements_and_its_outcomes_resumes_without_double_holds(
    infra: Infra, client, db
) -> None:
    world = await make_world(client, db, infra.kafka_bootstrap)
    first = await make_product(client, world, stock=5)
    second = await make_product(client, world, stock=5)
    event = order_placed(new_order_id(), [(first, 2), (second, 1)])
    other = order_placed(new_order_id(), [(second, 4)])
    with pytest.raises(RuntimeError):
        await _CrashBeforeRecords(StockLedger(db)).handle([event, other])
    assert await _stock(db, first["id"]) == 3  # the holds landed
    assert await _stock(db, second["id"]) == 0
    assert await StockLedger(db).outcome(event.order_id) is None

    batch = StockBatch(StockLedger(db))
    await batch.handle([event, other])  # redelivery
    await batch.handle([other, event])  # and again, in another batch shape
    for order in (event, other):
        outcome = await StockLedger(db).outcome(order.order_id)
        assert outcome is not None
        assert outcome.status == "reserved"
    assert await _stock(db, first["id"]) == 3
    assert await _stock(db, second["id"]) == 0
