"""A consumed batch folded in memory (orders.domain.fold), and the batch
handler over in-memory fakes: no Mongo, no Kafka."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from contracts.catalog import StockRejected, StockRejection, StockReserved
from orders import handlers
from orders.domain import Customer, Order, OrderStatus, Product
from orders.domain.fold import apply_verdict, fold_verdicts, newest_products
from orders.errors import IllegalTransition, LostRace
from services.orders.tests.unit.test_handlers import TOURIST, command, make_ctx, meta
from services.orders.tests.unit.test_handlers import product as replica_product

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=15)
REJECTION = StockRejection(product_id="p1", reason="insufficient", requested=2, available=0)


def _product(pid: str = "p1", version: int = 1, price: int = 1_000) -> Product:
    return Product(
        product_id=pid,
        sku=f"SKU-{pid}",
        title_zh="书签",
        title_en="Bookmark",
        price_fen=price,
        relic_ids=("r1",),
        museum_ids=("m1",),
        license_id="lic1",
        licensee_id="lee1",
        status="active",
        sellable=True,
        version=version,
    )


def _pending(order_id: str) -> Order:
    order = Order.place(
        order_id=order_id,
        customer=Customer("tourist", "t1"),
        items=[(_product(), "p1", 2)],
        at=T0,
        order_token="tok",
        idempotency_key=f"tourist:t1:{order_id}",
        fingerprint="fp",
    )
    order.events, order.changed = [], False  # as stored
    return order


def _reserved(order_id: str) -> StockReserved:
    return StockReserved(order_id=order_id, lines=[])


def _rejected(order_id: str) -> StockRejected:
    return StockRejected(order_id=order_id, reasons=[REJECTION])


# --- the pure fold ------------------------------------------------------------------


def test_a_batch_confirms_and_rejects_the_orders_it_names_in_order() -> None:
    orders = {oid: _pending(oid) for oid in ("o1", "o2", "o3")}
    fold = fold_verdicts(
        orders,
        [_reserved("o1"), _rejected("o2"), _reserved("o3"), _reserved("gone")],
        at=T0,
        payment_window=WINDOW,
    )
    assert [o.order_id for o in fold.changed] == ["o1", "o2", "o3"]
    assert [o.status for o in fold.changed] == [
        OrderStatus.CONFIRMED,
        OrderStatus.REJECTED,
        OrderStatus.CONFIRMED,
    ]
    assert fold.missing == ["gone"]
    assert orders["o1"].payment_due_at == T0 + WINDOW
    assert [p.event_id for p in orders["o1"].events] == ["o1:confirmed"]


def test_two_verdicts_of_one_order_end_as_if_applied_one_by_one() -> None:
    verdicts = [_reserved("o1"), _rejected("o1"), _reserved("o1")]
    batched = {"o1": _pending("o1")}
    fold = fold_verdicts(batched, verdicts, at=T0, payment_window=WINDOW)
    one_by_one = _pending("o1")
    for verdict in verdicts:
        try:
            apply_verdict(one_by_one, verdict, at=T0, payment_window=WINDOW)
        except IllegalTransition:
            pass
    assert batched["o1"] == one_by_one
    assert [o.order_id for o in fold.changed] == ["o1"]
    assert len(fold.refused) == 2
    assert [p.event_id for p in batched["o1"].events] == ["o1:confirmed"]


def test_folding_a_batch_again_over_its_result_changes_nothing() -> None:
    verdicts = [_reserved("o1"), _rejected("o2")]
    orders = {oid: _pending(oid) for oid in ("o1", "o2")}
    fold_verdicts(orders, verdicts, at=T0, payment_window=WINDOW)
    stored = copy.deepcopy(orders)
    for order in stored.values():
        order.events, order.changed = [], False
    before = copy.deepcopy(stored)
    again = fold_verdicts(stored, verdicts, at=T0 + WINDOW, payment_window=WINDOW)
    assert again.changed == []
    assert len(again.refused) == 2
    assert stored == before


def test_the_replica_keeps_the_newest_version_of_each_product_in_a_batch() -> None:
    newest = newest_products(
        [_product("p1", 2), _product("p2", 1), _product("p1", 3), _product("p1", 1)]
    )
    assert sorted((p.product_id, p.version) for p in newest) == [("p1", 3), ("p2", 1)]


# --- the batch handler over fakes --------------------------------------------------------


@pytest.mark.asyncio
async def test_a_batch_handler_re_applies_only_the_orders_whose_write_lost() -> None:
    ctx, orders, *_ = make_ctx(replica_product())
    placed = [
        (await handlers.place_order(ctx=ctx, viewer=TOURIST, command=command(f"k{n}")))[0]
        for n in range(4)
    ]
    orders.lose_races = 1  # a payment (say) wrote one of them first
    batch = [(_reserved(o.order_id), meta(n)) for n, o in enumerate(placed)]
    await handlers.handle_batch(batch, ctx=ctx)
    await handlers.handle_batch(batch, ctx=ctx)  # redelivered whole
    for order in placed:
        await handlers.confirm_order(_reserved(order.order_id), meta(9), ctx=ctx)  # one by one
    assert all(orders.rows[o.order_id].status is OrderStatus.CONFIRMED for o in placed)
    assert [kind for _, kind in orders.published].count("confirmed") == 4
    assert sorted(sum(orders.expiry.values(), [])) == sorted(o.order_id for o in placed)


@pytest.mark.asyncio
async def test_a_batch_that_loses_every_race_asks_to_be_retried() -> None:
    ctx, orders, *_ = make_ctx(replica_product())
    order, _ = await handlers.place_order(ctx=ctx, viewer=TOURIST, command=command())
    orders.lose_races = 100
    with pytest.raises(LostRace):
        await handlers.handle_batch([(_reserved(order.order_id), meta())], ctx=ctx)
