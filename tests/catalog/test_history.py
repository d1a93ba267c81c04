"""The history loader (catalog.history) against the real store: past orders
leave exactly what the reservation consumer would have, and the live
consumer carries on from there."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from catalog.history import load_history
from catalog.ledger import StockLedger
from contracts import Event
from contracts.orders import OrderCancelled, OrderPaid, OrderRefunded, RefundLine
from servicekit.envelope import Envelope
from tests.catalog.helpers import (
    make_product,
    make_world,
    new_order_id,
    order_placed,
    publish,
    redeliverable,
)
from tests.conftest import Infra
from tests.support import eventually

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]

START = datetime.now(UTC) - timedelta(days=30)


def past(event: Event, n: int) -> Envelope:
    return Envelope(
        id=f"hist-{n}-{event.TYPE}-{event.aggregate_id}",
        type=event.TYPE,
        source="orders",
        subject=event.aggregate_id,
        time=START + timedelta(minutes=n),
        data=json.loads(event.model_dump_json()),
    )


def refund_of(placed, refund_id: str, quantity: int) -> OrderRefunded:  # noqa: ANN001
    line = placed.lines[0]
    return OrderRefunded(
        order_id=placed.order_id,
        refund_id=refund_id,
        lines=[
            RefundLine(
                line_id=line.line_id,
                product_id=line.product_id,
                sku=line.sku,
                quantity=quantity,
                amount_fen=line.unit_price_fen * quantity,
                license_id=line.license_id,
                licensee_id=line.licensee_id,
                relic_ids=line.relic_ids,
                museum_id=line.museum_id,
            )
        ],
        amount_fen=line.unit_price_fen * quantity,
        restock=True,
        refunded_at=START,
    )


def cancel_of(placed) -> OrderCancelled:  # noqa: ANN001
    return OrderCancelled(
        order_id=placed.order_id,
        reason="payment_expired",
        lines=placed.lines,
        stock_was_reserved=True,
        cancelled_at=START,
    )


def paid_of(placed) -> OrderPaid:  # noqa: ANN001
    return OrderPaid(
        order_id=placed.order_id,
        payment_id=f"pay-{placed.order_id}",
        customer_id=placed.customer_id,
        lines=placed.lines,
        total_fen=placed.total_fen,
        paid_at=START,
    )


async def test_history_leaves_what_the_consumer_would_and_the_consumer_carries_on(
    infra: Infra, client, db
) -> None:
    world = await make_world(client, db, infra.kafka_bootstrap)
    mug = await make_product(client, world, stock=1000)
    magnet = await make_product(client, world, stock=1000)
    orders = [order_placed(new_order_id(), [(mug, 2), (magnet, 1)]) for _ in range(40)]
    orders.append(order_placed(new_order_id(), [(mug, 5000)]))  # more than there is
    cancelled, refunded, cancelled_live = orders[3], orders[5], orders[7]

    first = [past(o, n) for n, o in enumerate(orders)]
    first += [past(paid_of(o), 100 + n) for n, o in enumerate(orders[:20])]
    # the second batch: a cancel and a refund of orders placed in the first
    second = [
        past(cancel_of(cancelled), 200),
        past(paid_of(refunded), 201),
        past(refund_of(refunded, f"{refunded.order_id}-r1", 1), 202),
    ]
    published = await load_history(db, first)
    published += await load_history(db, second)

    ids = [e.id for e in published]
    reserved = [f"{o.order_id}:stock.reserved" for o in orders[:40]]
    assert ids[:40] == reserved
    assert ids[40] == f"{orders[40].order_id}:stock.rejected"
    assert ids[41:] == [
        f"{cancelled.order_id}:stock.released",
        f"{refunded.order_id}-r1:stock.released",
    ]
    assert published[0].data["lines"] == [
        {"product_id": mug["id"], "quantity": 2},
        {"product_id": magnet["id"], "quantity": 1},
    ]
    assert published[0].time > first[0].time

    ledger = StockLedger(db)
    sold_mugs, sold_magnets = 2 * (40 - 1) - 1, 40 - 1  # one cancelled, one mug refunded
    assert await ledger.balance(mug["id"]) == 1000 - sold_mugs
    assert await ledger.balance(magnet["id"]) == 1000 - sold_magnets
    assert await ledger.balances([mug["id"], magnet["id"]]) == {
        mug["id"]: 1000 - sold_mugs,
        magnet["id"]: 1000 - sold_magnets,
    }
    outcome = await ledger.outcome(orders[40].order_id)
    assert outcome is not None
    assert outcome.status == "rejected"
    assert await ledger.applied(f"{orders[0].order_id}:hold:{mug['id']}")

    # the live consumer carries on: a cancel of a past order (twice), a
    # cancel already applied by history, and a new order
    later = order_placed(new_order_id(), [(mug, 3)])
    cancel = redeliverable(cancel_of(cancelled_live))
    await publish(infra.kafka_bootstrap, cancel, cancel, cancel_of(cancelled), later)

    async def settled() -> bool:
        done = await ledger.outcome(later.order_id)
        return done is not None and await ledger.has_note(f"{cancelled_live.order_id}#released")

    await eventually(settled, timeout=60, what="the live consumer after history")

    async def balances_settled() -> bool:
        return await ledger.balance(mug["id"]) == 1000 - sold_mugs + 2 - 3

    await eventually(balances_settled, timeout=30, what="the live moves after history")
    assert await ledger.balance(magnet["id"]) == 1000 - sold_magnets + 1
