"""Use cases with in-memory fakes passed in: no Mongo, no Kafka, no HTTP."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts.catalog import ProductPublished, ProductSnapshot, StockReserved
from orders import handlers
from orders.domain import Cart, Order, OrderStatus, PaymentStatus, Product, Viewer
from orders.errors import IdempotencyKeyReused, InvalidCursor, NotAllowed, ProductNotOrderable
from orders.expiry_queue import CLOSED_AFTER, DueBucket, minute_of
from orders.handlers import Context, PlaceOrder
from orders.order_lists import Position, Scope, scopes_of
from orders.payments import (
    SANDBOX_TOKENS,
    SIGNATURE_HEADER,
    ChargeRequest,
    ProviderCharge,
    WebhookEvent,
    sign,
    verify_webhook,
)
from orders.store import IdempotencyKeyTaken, OrderSlice
from servicekit.consumer import EventMeta

pytestmark = pytest.mark.asyncio

SECRET = b"unit-test-secret"
TOURIST = Viewer(role="tourist", subject="t1")


class FakeOrders:
    """Behaves like OrderStore: rev-checked saves; `lose_races` makes the next
    saves fail as if another writer got there first."""

    def __init__(self) -> None:
        self.rows: dict[str, Order] = {}
        self.published: list[tuple[str, str]] = []  # (event id, type)
        self.lose_races = 0
        self.expiry: dict[str, list[str]] = {}  # minute -> order ids, like expiry_queue
        self.checks: dict[str, list[str]] = {}  # minute -> "order|payment", like payment_checks

    async def get(self, order_id: str) -> Order | None:
        row = self.rows.get(order_id)
        return copy.deepcopy(row) if row else None

    async def insert(self, order: Order) -> None:
        if order.order_id in self.rows:
            raise IdempotencyKeyTaken(order.idempotency_key)
        self._keep(order, rev=1)

    async def save(self, order: Order) -> bool:
        if self.lose_races:
            self.lose_races -= 1
            return False
        if self.rows[order.order_id].rev != order.rev:
            return False
        self._keep(order, rev=order.rev + 1)
        return True

    async def save_many(self, orders: list[Order], *, traceparents: Any = None) -> int:  # noqa: ARG002
        landed = 0
        for order in orders:
            if self.lose_races:
                self.lose_races -= 1
            elif self.rows[order.order_id].rev == order.rev:
                self._keep(copy.deepcopy(order), rev=order.rev + 1)
                landed += 1
        if landed == len(orders):  # like the store: saved in place only when all landed
            for order in orders:
                order.rev, order.events, order.changed = order.rev + 1, [], False
        return landed

    def _keep(self, order: Order, *, rev: int) -> None:
        if order.payment_due_at and any(
            p.event.TYPE.endswith("confirmed.v1") for p in order.events
        ):
            self.expiry.setdefault(minute_of(order.payment_due_at), []).append(order.order_id)
        self.published += [(p.event_id, p.event.TYPE.split(".")[-2]) for p in order.events]
        order.rev, order.events, order.changed = rev, [], False
        self.rows[order.order_id] = copy.deepcopy(order)

    async def get_many(self, order_ids: list[str]) -> dict[str, Order]:
        return {oid: copy.deepcopy(self.rows[oid]) for oid in order_ids if oid in self.rows}

    async def page(
        self,
        scope: Scope,
        *,
        status: OrderStatus | None,
        limit: int,
        before: Position | None,
        skip: int = 0,
    ) -> OrderSlice:
        listed = sorted(
            (
                Position(o.placed_at, o.order_id)
                for o in self.rows.values()
                if scope in scopes_of(o) and (status is None or o.status is status)
            ),
            reverse=True,
        )
        listed = [p for p in listed if before is None or p < before][skip:]
        page = listed[:limit]
        more = len(listed) > limit
        return OrderSlice(
            [copy.deepcopy(self.rows[p.order_id]) for p in page], page[-1] if more else None
        )

    async def due_for_expiry(self, now: datetime, *, limit: int) -> list[DueBucket]:
        minutes = sorted(m for m in self.expiry if m <= minute_of(now))[:limit]
        closed_before = minute_of(now - CLOSED_AFTER)
        return [DueBucket(m, tuple(self.expiry[m]), m < closed_before, True) for m in minutes]

    async def settle_expiry(self, bucket: DueBucket, handled: list[str]) -> None:
        left = [oid for oid in self.expiry.get(bucket.minute, []) if oid not in handled]
        self.expiry[bucket.minute] = left

    # the payment checks (payment_checks), like the expiry queue
    async def watch_payment(self, order_id: str, payment_id: str, *, at: datetime) -> None:
        self.checks.setdefault(minute_of(at), []).append(f"{order_id}|{payment_id}")

    async def due_for_check(self, started_by: datetime, *, limit: int) -> list[DueBucket]:
        minutes = sorted(m for m in self.checks if m <= minute_of(started_by))[:limit]
        closed_before = minute_of(started_by - CLOSED_AFTER)
        return [DueBucket(m, tuple(self.checks[m]), m < closed_before, True) for m in minutes]

    async def settle_check(self, bucket: DueBucket, handled: list[str]) -> None:
        self.checks[bucket.minute] = [e for e in self.checks[bucket.minute] if e not in handled]


class FakeProvider:
    """A provider in memory (the sandbox keeps its charges in Mongo): charges
    by token like the sandbox, `retrieve`, refunds once per key."""

    name = "sandbox"

    def __init__(self) -> None:
        self.charges: dict[str, ProviderCharge] = {}
        self.refunds: dict[str, tuple[str, int]] = {}  # key -> (charge, amount)

    def check_token(self, card_token: str) -> None:
        if card_token not in SANDBOX_TOKENS:
            from orders.errors import UnknownCardToken

            raise UnknownCardToken(card_token)

    async def charge(self, request: ChargeRequest) -> str:
        outcome = SANDBOX_TOKENS[request.card_token]
        if outcome == "timeout":
            await asyncio.Event().wait()
        status = {"approve": "approved", "decline": "declined"}.get(outcome, "processing")
        ref = f"ch_{request.payment_id}"
        self.charges[ref] = ProviderCharge(
            ref,
            request.payment_id,
            request.order_id,
            status,
            request.amount_fen,  # type: ignore[arg-type]
        )
        return ref

    def set_status(self, ref: str, status: str) -> None:
        self.charges[ref] = dataclasses.replace(self.charges[ref], status=status)  # type: ignore[arg-type]

    async def retrieve(self, provider_ref: str) -> ProviderCharge | None:
        return self.charges.get(provider_ref)

    async def retrieve_many(self, provider_refs: list[str]) -> dict[str, ProviderCharge]:
        return {r: self.charges[r] for r in provider_refs if r in self.charges}

    async def lookup(self, payment_ids: list[str]) -> dict[str, ProviderCharge]:
        return {c.payment_id: c for c in self.charges.values() if c.payment_id in payment_ids}

    async def refund(self, *, provider_ref: str, amount_fen: int, idempotency_key: str) -> str:
        self.refunds.setdefault(idempotency_key, (provider_ref, amount_fen))
        return f"re_{idempotency_key}"

    def verify(self, body: bytes, signature: str | None) -> WebhookEvent:
        return verify_webhook(SECRET, body, signature, tolerance_seconds=300)


class FakeProducts:
    def __init__(self, *products: Product) -> None:
        self.rows = {p.product_id: p for p in products}

    async def apply(self, product: Product) -> bool:
        current = self.rows.get(product.product_id)
        if current and current.version >= product.version:
            return False
        self.rows[product.product_id] = product
        return True

    async def apply_many(self, products: list[Product]) -> int:
        return sum([await self.apply(p) for p in products])

    async def get(self, product_id: str) -> Product | None:
        return self.rows.get(product_id)

    async def get_many(self, product_ids: list[str]) -> dict[str, Product]:
        return {pid: self.rows[pid] for pid in product_ids if pid in self.rows}


class FakeCarts:
    def __init__(self) -> None:
        self.rows: dict[str, Cart] = {}

    async def insert(self, cart: Cart) -> None:
        self.rows[cart.cart_id] = copy.deepcopy(cart)

    async def get(self, cart_id: str) -> Cart | None:
        return copy.deepcopy(self.rows.get(cart_id))

    async def save(self, cart: Cart) -> bool:
        cart.rev += 1
        self.rows[cart.cart_id] = copy.deepcopy(cart)
        return True


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 5, 1, 10, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def product(pid: str = "p1", price: int = 1_000, version: int = 1, **kw: Any) -> Product:
    fields: dict[str, Any] = {
        "product_id": pid,
        "sku": f"SKU-{pid}",
        "title_zh": "书签",
        "title_en": "Bookmark",
        "price_fen": price,
        "relic_ids": ("r1",),
        "museum_ids": ("m1",),
        "license_id": "lic1",
        "licensee_id": "lee1",
        "status": "active",
        "sellable": True,
        "version": version,
    }
    fields.update(kw)
    return Product(**fields)


def make_ctx(*products: Product) -> tuple[Context, FakeOrders, FakeProvider, Clock]:
    orders, provider, clock = FakeOrders(), FakeProvider(), Clock()
    ctx = Context(
        orders=orders,  # type: ignore[arg-type]
        products=FakeProducts(*products),  # type: ignore[arg-type]
        carts=FakeCarts(),  # type: ignore[arg-type]
        provider=provider,
        payment_window=timedelta(minutes=15),
        provider_timeout=0.05,
        clock=clock,
    )
    return ctx, orders, provider, clock


def meta(n: int = 1) -> EventMeta:
    return EventMeta(
        id=f"evt-{n}",
        type="t",
        source="catalog",
        subject="s",
        time=datetime.now(UTC),
        topic="catalog.stock",
        partition=0,
        offset=n,
    )


def command(key: str = "k1", lines: list[tuple[str, int]] | None = None) -> PlaceOrder:
    lines = lines or [("p1", 2)]
    return PlaceOrder(
        idempotency_key=key,
        fingerprint=handlers.fingerprint({"lines": lines}),
        lines=lines,
        cart_id=None,
        email=None,
    )


async def confirmed(ctx: Context) -> Order:
    order, _ = await handlers.place_order(ctx=ctx, viewer=TOURIST, command=command())
    reserved = StockReserved(order_id=order.order_id, lines=[])
    await handlers.confirm_order(reserved, meta(), ctx=ctx)
    fresh = await ctx.orders.get(order.order_id)
    assert fresh is not None
    return fresh


def webhook(order: Order, payment_id: str, kind: str = "payment.succeeded") -> tuple[bytes, str]:
    body = json.dumps(
        {
            "event_id": "e1",
            "kind": kind,
            "payment_id": payment_id,
            "order_id": order.order_id,
            "provider_ref": "ch_1",
            "amount_fen": order.total_fen,
        }
    ).encode()
    return body, sign(SECRET, body, int(time.time()))


# --- the replica -------------------------------------------------------------------


async def test_product_events_apply_by_version() -> None:
    ctx, *_ = make_ctx()
    snap = ProductSnapshot(
        product_id="p1",
        sku="S",
        title_zh="z",
        title_en="e",
        category="c",
        price_fen=500,
        relic_ids=[],
        museum_ids=[],
        license_id=None,
        licensee_id=None,
        status="active",
        sellable=True,
        version=2,
    )
    await handlers.apply_product(ProductPublished(product_id="p1", product=snap), meta(), ctx=ctx)
    stale = snap.model_copy(update={"price_fen": 1, "version": 1})
    await handlers.apply_product(ProductPublished(product_id="p1", product=stale), meta(), ctx=ctx)
    assert (await handlers.get_product(ctx=ctx, product_id="p1")).price_fen == 500


# --- checkout ----------------------------------------------------------------------


async def test_the_same_key_and_body_return_the_same_order_once() -> None:
    ctx, orders, *_ = make_ctx(product())
    first, created = await handlers.place_order(ctx=ctx, viewer=TOURIST, command=command())
    again, created_again = await handlers.place_order(ctx=ctx, viewer=TOURIST, command=command())
    assert created
    assert not created_again
    assert again.order_id == first.order_id
    assert orders.published == [(f"{first.order_id}:placed", "placed")]
    with pytest.raises(IdempotencyKeyReused):
        await handlers.place_order(ctx=ctx, viewer=TOURIST, command=command(lines=[("p1", 3)]))
    # keys are scoped per customer: another tourist's "k1" is another order
    other, created_other = await handlers.place_order(
        ctx=ctx, viewer=Viewer(role="tourist", subject="t2"), command=command()
    )
    assert created_other
    assert other.order_id != first.order_id


async def test_guests_need_an_email_and_operators_do_not_shop() -> None:
    ctx, *_ = make_ctx(product())
    with pytest.raises(NotAllowed):
        await handlers.place_order(ctx=ctx, viewer=Viewer(role="guest"), command=command())
    with pytest.raises(NotAllowed):
        await handlers.place_order(
            ctx=ctx, viewer=Viewer(role="operator", subject="op"), command=command()
        )


async def test_a_cart_checks_out_at_replica_prices() -> None:
    ctx, *_ = make_ctx(product("p1", 300), product("p2", 50, sellable=False))
    guest = Viewer(role="guest")
    cart = await handlers.create_cart(ctx=ctx, viewer=guest)
    await handlers.set_cart_line(
        ctx=ctx, cart_id=cart.cart_id, viewer=guest, product_id="p1", quantity=4
    )
    with pytest.raises(ProductNotOrderable):
        await handlers.set_cart_line(
            ctx=ctx, cart_id=cart.cart_id, viewer=guest, product_id="p2", quantity=1
        )
    order, _ = await handlers.place_order(
        ctx=ctx,
        viewer=guest,
        command=PlaceOrder("k", "f", None, cart.cart_id, "Guest@Example.cn"),
    )
    assert order.total_fen == 1_200
    assert order.customer.id == "guest@example.cn"
    assert (await handlers.get_cart(ctx=ctx, cart_id=cart.cart_id, viewer=guest)).order_id


# --- the saga ---------------------------------------------------------------------


async def test_a_redelivered_stock_reserved_confirms_once() -> None:
    ctx, orders, *_ = make_ctx(product())
    order = await confirmed(ctx)
    reserved = StockReserved(order_id=order.order_id, lines=[])
    await handlers.confirm_order(reserved, meta(), ctx=ctx)  # the redelivery
    await handlers.confirm_order(StockReserved(order_id="elsewhere", lines=[]), meta(2), ctx=ctx)
    assert [kind for _, kind in orders.published] == ["placed", "confirmed"]


# --- payments ------------------------------------------------------------------------


async def test_a_webhook_captures_once_and_a_late_second_capture_is_reversed() -> None:
    ctx, orders, provider, clock = make_ctx(product())
    order = await confirmed(ctx)
    _, timed_out, _ = await handlers.start_payment(
        ctx=ctx,
        order_id=order.order_id,
        viewer=TOURIST,
        card_token="tok_sandbox_timeout",
        idempotency_key=None,
        webhook_url="http://x",
    )
    assert timed_out.status is PaymentStatus.TIMED_OUT
    _, approved, _ = await handlers.start_payment(
        ctx=ctx,
        order_id=order.order_id,
        viewer=TOURIST,
        card_token="tok_sandbox_approve",
        idempotency_key="pay-key",
        webhook_url="http://x",
    )
    _, replay, created = await handlers.start_payment(
        ctx=ctx,
        order_id=order.order_id,
        viewer=TOURIST,
        card_token="tok_sandbox_approve",
        idempotency_key="pay-key",
        webhook_url="http://x",
    )
    assert replay.payment_id == approved.payment_id
    assert not created

    body, signature = webhook(order, approved.payment_id)
    assert await handlers.settle_payment(ctx=ctx, body=body, signature=signature) == "captured"
    assert await handlers.settle_payment(ctx=ctx, body=body, signature=signature) == "duplicate"
    # the timed-out charge went through after all: refunded, never kept
    late, late_signature = webhook(order, timed_out.payment_id)
    assert await handlers.settle_payment(ctx=ctx, body=late, signature=late_signature) == "reverse"
    assert provider.refunds == {f"reverse:{timed_out.payment_id}": ("ch_1", order.total_fen)}
    assert [kind for _, kind in orders.published].count("paid") == 1


# --- expiry --------------------------------------------------------------------------


async def test_the_sweeper_skips_an_order_it_lost_and_gets_it_next_round() -> None:
    ctx, orders, _, clock = make_ctx(product())
    order = await confirmed(ctx)
    assert await handlers.expire_due_orders(ctx=ctx) == 0  # not due yet
    clock.now += timedelta(minutes=16)
    orders.lose_races = 1  # another replica (or a capture) wrote first
    assert await handlers.expire_due_orders(ctx=ctx) == 0
    assert await handlers.expire_due_orders(ctx=ctx) == 1
    assert await handlers.expire_due_orders(ctx=ctx) == 0
    assert orders.rows[order.order_id].status is OrderStatus.CANCELLED
    assert [kind for _, kind in orders.published].count("cancelled") == 1


async def test_an_entry_whose_confirmation_never_landed_expires_nothing() -> None:
    """A crash after the expiry entry, before the confirm: the order is still
    PENDING. While the minute is open the entry stays (the confirm may be
    landing); once closed it is dropped, and the order is never cancelled."""
    ctx, orders, _, clock = make_ctx(product())
    order, _ = await handlers.place_order(ctx=ctx, viewer=TOURIST, command=command())
    minute = minute_of(clock.now)
    orders.expiry[minute] = [order.order_id]
    assert await handlers.expire_due_orders(ctx=ctx) == 0
    assert orders.expiry[minute] == [order.order_id]  # open minute: kept
    clock.now += timedelta(minutes=5)
    assert await handlers.expire_due_orders(ctx=ctx) == 0
    assert orders.expiry[minute] == []  # closed: dropped
    assert orders.rows[order.order_id].status is OrderStatus.PENDING
    assert "cancelled" not in [kind for _, kind in orders.published]


async def test_lists_page_by_cursor_and_see_only_what_the_viewer_may() -> None:
    ctx, _, _, clock = make_ctx(product())
    placed = []
    for n in range(5):
        clock.now += timedelta(days=20)  # across month buckets
        order, _ = await handlers.place_order(ctx=ctx, viewer=TOURIST, command=command(f"k{n}"))
        placed.append(order.order_id)
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = await handlers.list_orders(
            ctx=ctx, viewer=TOURIST, status=None, limit=2, cursor=cursor
        )
        seen += [o.order_id for o, _ in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == placed[::-1]
    stranger = Viewer(role="tourist", subject="t2")
    page = await handlers.list_orders(ctx=ctx, viewer=stranger, status=None, limit=10)
    assert page.items == []
    with pytest.raises(NotAllowed):
        await handlers.list_orders(ctx=ctx, viewer=Viewer(role="guest"), status=None, limit=10)
    with pytest.raises(InvalidCursor):
        await handlers.list_orders(ctx=ctx, viewer=TOURIST, status=None, limit=1, cursor="!!")


# --- refunds ----------------------------------------------------------------------------


async def test_refunds_reach_the_provider_under_their_own_key() -> None:
    ctx, orders, provider, _ = make_ctx(product(price=1_000))
    order = await confirmed(ctx)
    _, payment, _ = await handlers.start_payment(
        ctx=ctx,
        order_id=order.order_id,
        viewer=TOURIST,
        card_token="tok_sandbox_approve",
        idempotency_key=None,
        webhook_url="http://x",
    )
    body, signature = webhook(order, payment.payment_id)
    await handlers.settle_payment(ctx=ctx, body=body, signature=signature)
    line_id = order.lines[0].line_id
    args: dict[str, Any] = {
        "ctx": ctx,
        "order_id": order.order_id,
        "viewer": TOURIST,
        "key": "r1",
        "request_fingerprint": "f",
        "lines": [(line_id, 1)],
        "restock": True,
        "reason": None,
    }
    _, refund, created = await handlers.refund_order(**args)
    _, again, created_again = await handlers.refund_order(**args)
    assert created
    assert not created_again
    assert again.refund_id == refund.refund_id
    assert provider.refunds == {f"refund:{refund.refund_id}": (payment.provider_ref, 1_000)}
    with pytest.raises(NotAllowed):
        await handlers.refund_order(
            **{**args, "key": "r2", "viewer": Viewer(role="licensee", licensee_id="lee1")}
        )


async def test_signed_webhooks_are_verified() -> None:
    provider = FakeProvider()  # verifies with payments.verify_webhook, as the sandbox does
    body = b'{"x": 1}'
    from orders.errors import InvalidSignature

    for signature in (None, "garbage", sign(b"other", body, int(time.time()))):
        with pytest.raises(InvalidSignature):
            provider.verify(body, signature)
    stale = sign(SECRET, body, int(time.time()) - 3_600)
    with pytest.raises(InvalidSignature):
        provider.verify(body, stale)
    assert SIGNATURE_HEADER == "Sandbox-Signature"


async def test_a_consumer_that_loses_every_race_asks_to_be_retried() -> None:
    from orders.errors import LostRace
    from servicekit.errors import Unavailable

    ctx, orders, *_ = make_ctx(product())
    order, _ = await handlers.place_order(ctx=ctx, viewer=TOURIST, command=command())
    orders.lose_races = 100
    with pytest.raises(LostRace) as caught:
        await handlers.confirm_order(
            StockReserved(order_id=order.order_id, lines=[]), meta(), ctx=ctx
        )
    assert isinstance(caught.value, Unavailable)  # servicekit retries it, never dead-letters


# --- reconciliation ---------------------------------------------------------------------


async def pay(ctx: Context, order: Order, token: str = "tok_sandbox_approve") -> str:
    _, payment, _ = await handlers.start_payment(
        ctx=ctx,
        order_id=order.order_id,
        viewer=TOURIST,
        card_token=token,
        idempotency_key=None,
        webhook_url="http://x",
    )
    return payment.payment_id


async def test_reconciliation_settles_a_payment_whose_webhook_never_came() -> None:
    ctx, orders, _, clock = make_ctx(product())
    order = await confirmed(ctx)
    payment_id = await pay(ctx, order)
    assert await handlers.reconcile_payments(ctx=ctx) == 0  # not pending long enough yet
    clock.now += ctx.reconcile_after
    assert await handlers.reconcile_payments(ctx=ctx) == 1
    paid = orders.rows[order.order_id]
    assert paid.status is OrderStatus.PAID
    assert paid.payment(payment_id).settled_by == "reconciliation"
    assert not any(orders.checks.values())  # its check is done
    # the webhook arrives after all: a duplicate, never a second order.paid
    body, signature = webhook(order, payment_id)
    assert await handlers.settle_payment(ctx=ctx, body=body, signature=signature) == "duplicate"
    assert [kind for _, kind in orders.published].count("paid") == 1


async def test_a_webhook_first_leaves_reconciliation_nothing_to_do() -> None:
    ctx, orders, _, clock = make_ctx(product())
    order = await confirmed(ctx)
    payment_id = await pay(ctx, order)
    body, signature = webhook(order, payment_id)
    assert await handlers.settle_payment(ctx=ctx, body=body, signature=signature) == "captured"
    clock.now += ctx.reconcile_after
    assert await handlers.reconcile_payments(ctx=ctx) == 0
    assert [kind for _, kind in orders.published].count("paid") == 1
    assert not any(orders.checks.values())


async def test_reconciliation_losing_the_race_to_the_webhook_keeps_its_entry() -> None:
    ctx, orders, _, clock = make_ctx(product())
    order = await confirmed(ctx)
    payment_id = await pay(ctx, order)
    clock.now += ctx.reconcile_after
    orders.lose_races = 1  # the webhook's write lands between its read and its write
    assert await handlers.reconcile_payments(ctx=ctx) == 0
    assert any(orders.checks.values())
    body, signature = webhook(order, payment_id)
    assert await handlers.settle_payment(ctx=ctx, body=body, signature=signature) == "captured"
    await handlers.reconcile_payments(ctx=ctx)
    assert not any(orders.checks.values())
    assert [kind for _, kind in orders.published].count("paid") == 1


async def test_reconciliation_fails_a_declined_payment_and_frees_an_unknown_one() -> None:
    ctx, orders, provider, clock = make_ctx(product())
    order = await confirmed(ctx)
    declined = await pay(ctx, order, "tok_sandbox_decline")
    clock.now += ctx.reconcile_after
    await handlers.reconcile_payments(ctx=ctx)
    assert orders.rows[order.order_id].payment(declined).status is PaymentStatus.DECLINED
    # a payment the provider never heard of (the charge call never left)
    lost = await pay(ctx, order, "tok_sandbox_processing")
    provider.charges.clear()
    clock.now += ctx.reconcile_after
    await handlers.reconcile_payments(ctx=ctx)
    stored = orders.rows[order.order_id]
    assert stored.payment(lost).status is PaymentStatus.TIMED_OUT
    assert stored.payment(lost).failure_reason == "unknown_to_provider"
    assert stored.status is OrderStatus.CONFIRMED  # payable again
    assert not any(orders.checks.values())


async def test_expiry_reconciles_first_an_approved_payment_pays_the_order() -> None:
    ctx, orders, _, clock = make_ctx(product())
    order = await confirmed(ctx)
    await pay(ctx, order)  # approved at the provider, its webhook lost
    clock.now += ctx.payment_window + CLOSED_AFTER
    assert await handlers.expire_due_orders(ctx=ctx) == 0
    assert orders.rows[order.order_id].status is OrderStatus.PAID
    assert [kind for _, kind in orders.published] == ["placed", "confirmed", "paid"]


async def test_a_capture_after_expiry_is_refunded_and_never_paid() -> None:
    ctx, orders, provider, clock = make_ctx(product())
    order = await confirmed(ctx)
    payment_id = await pay(ctx, order, "tok_sandbox_processing")
    clock.now += ctx.payment_window + CLOSED_AFTER
    assert await handlers.expire_due_orders(ctx=ctx) == 1  # still processing: cancelled
    assert orders.rows[order.order_id].status is OrderStatus.CANCELLED
    provider.set_status(f"ch_{payment_id}", "approved")  # the bank approves, late
    assert await handlers.reconcile_payments(ctx=ctx) == 1
    stored = orders.rows[order.order_id]
    assert stored.status is OrderStatus.CANCELLED
    payment = stored.payment(payment_id)
    assert payment.status is PaymentStatus.REVERSED
    assert payment.refund_ref == f"re_reverse:{payment_id}"
    assert provider.refunds == {f"reverse:{payment_id}": (f"ch_{payment_id}", order.total_fen)}
    assert "paid" not in [kind for _, kind in orders.published]


async def test_the_sandbox_backs_off_for_days_and_names_every_failure() -> None:
    import httpx

    from orders.sandbox import RetryPolicy, _reason

    policy = RetryPolicy(base_seconds=1, cap_seconds=3_600, give_up_after=3 * 86_400)
    first = datetime(2026, 5, 1, tzinfo=UTC)
    delays = [
        (policy.next_at(attempts=n, first_at=first, now=first) - first).total_seconds()  # type: ignore[operator]
        for n in (1, 2, 3, 13, 40)
    ]
    assert delays == [1, 2, 4, 3_600, 3_600]
    assert policy.next_at(attempts=80, first_at=first, now=first + timedelta(days=3)) is None
    assert _reason(httpx.ReadTimeout("")) != ""
    assert "ReadTimeout" in _reason(httpx.ReadTimeout(""))
