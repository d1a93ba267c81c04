"""The order aggregate: state machine, money, refunds, payments, access. No I/O."""

from datetime import UTC, datetime, timedelta

import pytest

from contracts.catalog import StockRejection
from contracts.orders import (
    OrderCancelled,
    OrderConfirmed,
    OrderFulfilled,
    OrderPaid,
    OrderPlaced,
    OrderRefunded,
    OrderRejected,
)
from orders.domain import (
    ALLOWED,
    Access,
    Cart,
    Customer,
    LineStatus,
    Order,
    OrderStatus,
    PaymentStatus,
    Product,
    Viewer,
    access_of,
    can_fulfil_line,
)
from orders.errors import (
    EmptyOrder,
    IdempotencyKeyReused,
    IllegalTransition,
    LineNotFound,
    PaymentAmountMismatch,
    PaymentInProgress,
    ProductNotOrderable,
    RefundExceedsPaid,
)

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=15)


def product(pid: str = "p1", price: int = 12_800, **kw: object) -> Product:
    fields: dict[str, object] = {
        "product_id": pid,
        "sku": f"SKU-{pid}",
        "title_zh": "铜车马",
        "title_en": "Bronze chariot",
        "price_fen": price,
        "relic_ids": ("r1", "r2"),
        "museum_ids": ("m1", "m2"),
        "license_id": "lic1",
        "licensee_id": "lee1",
        "status": "active",
        "sellable": True,
        "version": 1,
    }
    fields.update(kw)
    return Product(**fields)  # type: ignore[arg-type]


def place(*items: tuple[Product, int], order_id: str = "o1") -> Order:
    return Order.place(
        order_id=order_id,
        customer=Customer("tourist", "t1"),
        items=[(p, p.product_id, q) for p, q in items],
        at=T0,
        order_token="secret-token",
        idempotency_key="tourist:t1:k1",
        fingerprint="fp",
    )


def paid(*items: tuple[Product, int]) -> Order:
    order = place(*items)
    order.confirm(at=T0, payment_window=WINDOW)
    order.start_payment(payment_id="pay1", provider="sandbox", at=T0, idempotency_key=None)
    assert (
        order.settle_payment(
            "pay1", succeeded=True, amount_fen=order.total_fen, provider_ref="ch1", at=T0
        )
        == "captured"
    )
    order.events.clear()
    return order


def types(order: Order) -> list[type]:
    return [type(p.event) for p in order.events]


# --- placing ---------------------------------------------------------------------


def test_placing_snapshots_prices_and_totals_in_fen() -> None:
    order = place((product("p1", 12_800), 2), (product("p2", 999), 3))
    assert order.status is OrderStatus.PENDING
    assert [line.line_total_fen for line in order.lines] == [25_600, 2_997]
    assert order.total_fen == 28_597
    [pending] = order.events
    assert isinstance(pending.event, OrderPlaced)
    assert pending.event_id == "o1:placed"
    line = pending.event.lines[0]
    assert (line.sku, line.unit_price_fen, line.line_total_fen) == ("SKU-p1", 12_800, 25_600)
    assert (line.license_id, line.licensee_id, line.museum_id) == ("lic1", "lee1", "m1")
    assert line.relic_ids == ["r1", "r2"]
    assert pending.event.total_fen == 28_597


def test_the_same_product_twice_is_one_line() -> None:
    order = place((product("p1"), 1), (product("p1"), 2))
    assert [(x.product_id, x.quantity) for x in order.lines] == [("p1", 3)]


@pytest.mark.parametrize(
    "bad",
    [product("p9", status="retired"), product("p9", sellable=False), product("p9", status="draft")],
)
def test_unsellable_or_retired_products_cannot_be_ordered(bad: Product) -> None:
    with pytest.raises(ProductNotOrderable) as caught:
        place((product("p1"), 1), (bad, 1))
    assert caught.value.extensions["product_ids"] == ["p9"]


def test_unknown_products_and_empty_orders_are_refused() -> None:
    with pytest.raises(ProductNotOrderable):
        Order.place(
            order_id="o1",
            customer=Customer("guest", "a@b.cn", "a@b.cn"),
            items=[(None, "ghost", 1)],
            at=T0,
            order_token="t",
            idempotency_key="k",
            fingerprint="f",
        )
    with pytest.raises(EmptyOrder):
        place()


# --- the state machine -------------------------------------------------------------


def test_stock_reserved_confirms_with_a_payment_deadline() -> None:
    order = place((product(), 1))
    order.events.clear()
    order.confirm(at=T0, payment_window=WINDOW)
    assert order.status is OrderStatus.CONFIRMED
    assert order.payment_due_at == T0 + WINDOW
    assert types(order) == [OrderConfirmed]


def test_stock_rejected_rejects_with_per_line_reasons() -> None:
    order = place((product(), 5))
    order.events.clear()
    order.reject(
        at=T0,
        rejections=[
            StockRejection(product_id="p1", requested=5, available=2, reason="insufficient")
        ],
    )
    assert order.status is OrderStatus.REJECTED
    assert order.rejection_reasons[0].reason == "insufficient"
    assert order.rejection_reasons[0].available == 2
    assert types(order) == [OrderRejected]


def test_a_second_stock_event_is_an_illegal_transition() -> None:
    order = place((product(), 1))
    order.confirm(at=T0, payment_window=WINDOW)
    with pytest.raises(IllegalTransition):
        order.confirm(at=T0, payment_window=WINDOW)
    with pytest.raises(IllegalTransition):
        order.reject(at=T0, rejections=[])


def test_paying_a_rejected_order_is_illegal() -> None:
    order = place((product(), 1))
    order.reject(at=T0, rejections=[])
    with pytest.raises(IllegalTransition) as caught:
        order.start_payment(payment_id="p", provider="sandbox", at=T0, idempotency_key=None)
    assert caught.value.action == "pay"


def test_paying_a_pending_order_is_illegal() -> None:
    order = place((product(), 1))
    with pytest.raises(IllegalTransition):
        order.start_payment(payment_id="p", provider="sandbox", at=T0, idempotency_key=None)


def test_refunding_an_unpaid_order_is_illegal() -> None:
    order = place((product(), 1))
    order.confirm(at=T0, payment_window=WINDOW)
    with pytest.raises(IllegalTransition):
        order.refund(
            refund_id="r",
            key="k",
            fingerprint="f",
            requested=None,
            restock=True,
            reason=None,
            at=T0,
        )


def test_terminal_states_allow_nothing() -> None:
    for terminal in (OrderStatus.REJECTED, OrderStatus.CANCELLED, OrderStatus.REFUNDED):
        assert ALLOWED[terminal] == frozenset()
    assert set(ALLOWED) == set(OrderStatus)


# --- payments ------------------------------------------------------------------------


def test_capture_pays_the_order_once_with_full_lines() -> None:
    order = place((product("p1", 500), 2))
    order.confirm(at=T0, payment_window=WINDOW)
    order.events.clear()
    order.start_payment(payment_id="pay1", provider="sandbox", at=T0, idempotency_key=None)
    assert (
        order.settle_payment("pay1", succeeded=True, amount_fen=1000, provider_ref="c", at=T0)
        == "captured"
    )
    assert order.status is OrderStatus.PAID
    [pending] = order.events
    assert isinstance(pending.event, OrderPaid)
    assert pending.event.lines[0].line_total_fen == 1000
    assert pending.event.total_fen == 1000
    # the same webhook again: nothing happens
    order.events.clear()
    order.changed = False
    assert (
        order.settle_payment("pay1", succeeded=True, amount_fen=1000, provider_ref="c", at=T0)
        == "duplicate"
    )
    assert order.events == []
    assert not order.changed


def test_a_second_payment_while_one_is_pending_is_refused() -> None:
    order = place((product(), 1))
    order.confirm(at=T0, payment_window=WINDOW)
    order.start_payment(payment_id="pay1", provider="sandbox", at=T0, idempotency_key=None)
    with pytest.raises(PaymentInProgress):
        order.start_payment(payment_id="pay2", provider="sandbox", at=T0, idempotency_key=None)


def test_a_declined_payment_keeps_the_order_payable() -> None:
    order = place((product(), 1))
    order.confirm(at=T0, payment_window=WINDOW)
    order.start_payment(payment_id="pay1", provider="sandbox", at=T0, idempotency_key=None)
    outcome = order.settle_payment(
        "pay1", succeeded=False, amount_fen=0, provider_ref="c", at=T0, failure_reason="nope"
    )
    assert outcome == "declined"
    assert order.status is OrderStatus.CONFIRMED
    assert order.payment("pay1").status is PaymentStatus.DECLINED
    order.start_payment(payment_id="pay2", provider="sandbox", at=T0, idempotency_key=None)


def test_a_timed_out_payment_allows_a_retry_and_a_late_capture_is_reversed() -> None:
    order = place((product("p1", 700), 1))
    order.confirm(at=T0, payment_window=WINDOW)
    order.start_payment(payment_id="pay1", provider="sandbox", at=T0, idempotency_key=None)
    order.payment_timed_out("pay1", at=T0)
    order.start_payment(payment_id="pay2", provider="sandbox", at=T0, idempotency_key=None)
    assert (
        order.settle_payment("pay2", succeeded=True, amount_fen=700, provider_ref="b", at=T0)
        == "captured"
    )
    # the provider answers the timed-out one after all: never capture twice
    assert (
        order.settle_payment("pay1", succeeded=True, amount_fen=700, provider_ref="a", at=T0)
        == "reverse"
    )
    assert order.payment("pay1").status is PaymentStatus.REVERSED
    assert order.paid_fen == 700


def test_a_capture_of_another_amount_is_refused() -> None:
    order = place((product("p1", 700), 1))
    order.confirm(at=T0, payment_window=WINDOW)
    order.start_payment(payment_id="pay1", provider="sandbox", at=T0, idempotency_key=None)
    with pytest.raises(PaymentAmountMismatch):
        order.settle_payment("pay1", succeeded=True, amount_fen=1, provider_ref="a", at=T0)


# --- expiry and cancellation -----------------------------------------------------------


def test_expiry_cancels_only_after_the_window() -> None:
    order = place((product(), 1))
    order.confirm(at=T0, payment_window=WINDOW)
    order.events.clear()
    with pytest.raises(IllegalTransition):
        order.expire(at=T0 + WINDOW - timedelta(seconds=1))
    order.expire(at=T0 + WINDOW)
    assert order.status is OrderStatus.CANCELLED
    [pending] = order.events
    assert isinstance(pending.event, OrderCancelled)
    assert pending.event.reason == "payment_expired"
    assert pending.event.stock_was_reserved is True
    assert pending.event.lines[0].product_id == "p1"


def test_a_paid_order_does_not_expire() -> None:
    order = paid((product(), 1))
    with pytest.raises(IllegalTransition):
        order.expire(at=T0 + 2 * WINDOW)


def test_a_capture_after_expiry_is_reversed() -> None:
    order = place((product("p1", 300), 1))
    order.confirm(at=T0, payment_window=WINDOW)
    order.start_payment(payment_id="pay1", provider="sandbox", at=T0, idempotency_key=None)
    order.expire(at=T0 + WINDOW)
    assert (
        order.settle_payment("pay1", succeeded=True, amount_fen=300, provider_ref="a", at=T0)
        == "reverse"
    )
    assert order.status is OrderStatus.CANCELLED


# --- refunds -------------------------------------------------------------------------------


def refund(order: Order, key: str, lines: list[tuple[str, int]] | None, fp: str = "f") -> object:
    return order.refund(
        refund_id=f"r-{key}",
        key=key,
        fingerprint=fp,
        requested=lines,
        restock=True,
        reason=None,
        at=T0,
    )


def test_partial_refunds_by_line_and_quantity_never_exceed_what_was_paid() -> None:
    order = paid((product("p1", 1_000), 3), (product("p2", 250), 1))
    first, second = order.lines
    refund(order, "k1", [(first.line_id, 2)])
    assert order.refunded_fen == 2_000
    assert order.status is OrderStatus.PAID
    [pending] = order.events
    assert isinstance(pending.event, OrderRefunded)
    assert pending.event.amount_fen == 2_000
    assert [(x.line_id, x.quantity, x.amount_fen) for x in pending.event.lines] == [
        (first.line_id, 2, 2_000)
    ]
    assert pending.event.restock is True
    with pytest.raises(RefundExceedsPaid):
        refund(order, "k2", [(first.line_id, 2)])
    assert order.refunded_fen == 2_000
    refund(order, "k3", None)  # the rest
    assert order.refunded_fen == order.paid_fen == 3_250
    assert order.status is OrderStatus.REFUNDED
    assert second.refundable_quantity == 0


def test_refunds_are_idempotent_per_key() -> None:
    order = paid((product("p1", 1_000), 3))
    line_id = order.lines[0].line_id
    one = refund(order, "k1", [(line_id, 1)])
    order.events.clear()
    again = refund(order, "k1", [(line_id, 1)])
    assert again is one
    assert order.events == []
    assert order.refunded_fen == 1_000
    with pytest.raises(IdempotencyKeyReused):
        refund(order, "k1", [(line_id, 2)], fp="other")


def test_refunding_an_unknown_line_is_refused() -> None:
    order = paid((product(), 1))
    with pytest.raises(LineNotFound):
        refund(order, "k", [("nope", 1)])


# --- fulfilment ------------------------------------------------------------------------------


def test_lines_ship_then_fulfil_and_the_last_one_fulfils_the_order() -> None:
    order = paid((product("p1"), 1), (product("p2"), 1))
    a, b = order.lines
    with pytest.raises(IllegalTransition):
        order.fulfil_line(a.line_id, at=T0)  # not shipped yet
    order.ship_line(a.line_id, at=T0)
    order.fulfil_line(a.line_id, at=T0)
    assert order.status is OrderStatus.PAID
    assert a.status is LineStatus.FULFILLED
    order.ship_line(b.line_id, at=T0)
    order.fulfil_line(b.line_id, at=T0)
    assert order.status is OrderStatus.FULFILLED
    assert types(order) == [OrderFulfilled]


def test_a_fully_refunded_line_needs_no_delivery() -> None:
    order = paid((product("p1"), 1), (product("p2"), 1))
    a, b = order.lines
    order.ship_line(a.line_id, at=T0)
    order.fulfil_line(a.line_id, at=T0)
    refund(order, "k", [(b.line_id, 1)])
    assert order.status is OrderStatus.FULFILLED


def test_an_unpaid_order_cannot_ship() -> None:
    order = place((product(), 1))
    with pytest.raises(IllegalTransition):
        order.ship_line(order.lines[0].line_id, at=T0)


# --- access ----------------------------------------------------------------------------------


def test_access_rules() -> None:
    order = place((product("p1", licensee_id="lee1"), 1), (product("p2", licensee_id="lee2"), 1))
    assert access_of(order, Viewer(role="tourist", subject="t1")) is Access.FULL
    assert access_of(order, Viewer(role="tourist", subject="t2")) is Access.NONE
    assert access_of(order, Viewer(role="operator", subject="op")) is Access.FULL
    assert access_of(order, Viewer(role="guest")) is Access.NONE
    assert access_of(order, Viewer(role="guest", order_token="secret-token")) is Access.FULL
    assert access_of(order, Viewer(role="guest", order_token="wrong")) is Access.NONE
    lee1 = Viewer(role="licensee", subject="x", licensee_id="lee1")
    assert access_of(order, lee1) is Access.LINES
    assert access_of(order, Viewer(role="licensee", licensee_id="lee9")) is Access.NONE
    assert access_of(order, Viewer(role="museum", subject="m")) is Access.NONE
    assert can_fulfil_line(order.lines[0], lee1)
    assert not can_fulfil_line(order.lines[1], lee1)


# --- carts ------------------------------------------------------------------------------------


def test_cart_lines_are_set_changed_and_removed() -> None:
    cart = Cart("c1", None, [], T0, T0)
    cart.set_quantity(product("p1"), "p1", 2)
    cart.set_quantity(product("p1"), "p1", 5)
    cart.set_quantity(product("p2"), "p2", 1)
    assert [(x.product_id, x.quantity) for x in cart.lines] == [("p1", 5), ("p2", 1)]
    cart.remove("p1")
    assert [x.product_id for x in cart.lines] == ["p2"]
    with pytest.raises(ProductNotOrderable):
        cart.set_quantity(product("p3", sellable=False), "p3", 1)
