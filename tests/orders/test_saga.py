"""The checkout saga over HTTP and real Kafka + FerretDB: replica, checkout,
confirmation or rejection, payment by signed webhook, refunds, fulfilment and
access. Catalog's side is played by publishing its contract events."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from contracts.catalog import (
    ProductPriceChanged,
    ProductPublished,
    ProductRetired,
    ProductUnsellable,
    StockLine,
    StockRejected,
    StockRejection,
    StockReserved,
)
from servicekit.auth import Role
from tests.conftest import Infra
from tests.orders.helpers import (
    caught_up,
    order_in,
    product_on_sale,
    publish,
    read_order_events,
    signed_webhook,
    snapshot,
    token,
)
from tests.support import ServiceProcess, eventually

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]

PROBLEM = "application/problem+json"


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def on_sale(infra: Infra, client: httpx.AsyncClient, **fields: Any) -> str:
    product = snapshot(**fields)
    await publish(
        infra.kafka_bootstrap, ProductPublished(product_id=product.product_id, product=product)
    )
    await product_on_sale(client, product.product_id)
    return product.product_id


async def reserve(infra: Infra, order: dict[str, Any]) -> None:
    """Catalog's answer to order.placed: all lines reserved."""
    lines = [StockLine(product_id=x["product_id"], quantity=x["quantity"]) for x in order["lines"]]
    await publish(infra.kafka_bootstrap, StockReserved(order_id=order["order_id"], lines=lines))


async def confirmed_order(
    infra: Infra, client: httpx.AsyncClient, lines: list[dict[str, Any]]
) -> dict[str, Any]:
    placed = await client.post("/orders", json={"lines": lines}, headers=key())
    assert placed.status_code == 201, placed.text
    await reserve(infra, placed.json())
    return await order_in(client, placed.json()["order_id"], "CONFIRMED")


async def paid_order(
    infra: Infra, client: httpx.AsyncClient, lines: list[dict[str, Any]]
) -> dict[str, Any]:
    order = await confirmed_order(infra, client, lines)
    paying = await client.post(
        f"/orders/{order['order_id']}/payments", json={"card_token": "tok_sandbox_approve"}
    )
    assert paying.status_code == 201, paying.text
    return await order_in(client, order["order_id"], "PAID")


# --- the product replica ---------------------------------------------------------------


async def test_the_replica_keeps_the_newest_version_and_refuses_unsellable_products(
    infra: Infra, orders: ServiceProcess
) -> None:
    v1 = snapshot(price_fen=1_000, version=1)
    pid = v1.product_id
    v2 = v1.model_copy(update={"price_fen": 2_000, "version": 2})
    v3 = v1.model_copy(update={"price_fen": 3_000, "version": 3})
    # newest first, then stale ones: the stale ones must change nothing
    await publish(
        infra.kafka_bootstrap,
        ProductPriceChanged(product_id=pid, product=v3, previous_price_fen=2_000),
        ProductPublished(product_id=pid, product=v1),
        ProductPriceChanged(product_id=pid, product=v2, previous_price_fen=1_000),
    )
    await caught_up(infra.kafka_bootstrap, orders.env["KAFKA_CONSUMER_GROUP"], "catalog.products")
    async with orders.client(token(Role.TOURIST)) as client:
        product = (await client.get(f"/products/{pid}")).json()
        assert (product["version"], product["price_fen"], product["orderable"]) == (3, 3_000, True)

        # a license suspension makes it unsellable; a retirement takes it away
        unsellable = v1.model_copy(update={"sellable": False, "version": 4})
        await publish(
            infra.kafka_bootstrap,
            ProductUnsellable(product_id=pid, product=unsellable, reason="license suspended"),
        )
        await product_on_sale(client, pid, version=4)
        refused = await client.post(
            "/orders", json={"lines": [{"product_id": pid, "quantity": 1}]}, headers=key()
        )
        assert refused.status_code == 422
        assert refused.headers["content-type"] == PROBLEM
        assert refused.json()["product_ids"] == [pid]

        retired = v1.model_copy(update={"status": "retired", "sellable": False, "version": 5})
        await publish(infra.kafka_bootstrap, ProductRetired(product_id=pid, product=retired))
        await product_on_sale(client, pid, version=5)
        assert (await client.get(f"/products/{pid}")).json()["orderable"] is False


# --- the happy path -----------------------------------------------------------------------


async def test_place_confirm_pay_by_webhook_and_order_paid_carries_full_lines(
    infra: Infra, orders: ServiceProcess
) -> None:
    async with orders.client(token(Role.TOURIST)) as client:
        mask = await on_sale(infra, client, price_fen=3_800)
        vase = await on_sale(infra, client, price_fen=12_850, licensee_id="lee-blue")
        placed = await client.post(
            "/orders",
            json={
                "lines": [
                    {"product_id": mask, "quantity": 2},
                    {"product_id": vase, "quantity": 1},
                ]
            },
            headers=key(),
        )
        assert placed.status_code == 201, placed.text
        order = placed.json()
        assert order["status"] == "PENDING"
        assert order["total_fen"] == 2 * 3_800 + 12_850
        assert [x["line_total_fen"] for x in order["lines"]] == [7_600, 12_850]
        order_id = order["order_id"]

        await reserve(infra, order)
        confirmed = await order_in(client, order_id, "CONFIRMED")
        assert confirmed["payment_due_at"] is not None

        paying = await client.post(
            f"/orders/{order_id}/payments", json={"card_token": "tok_sandbox_approve"}
        )
        assert paying.status_code == 201, paying.text
        assert paying.json()["status"] in {"pending", "captured"}
        paid = await order_in(client, order_id, "PAID")
        [payment] = paid["payments"]
        assert payment["status"] == "captured"
        assert payment["amount_fen"] == 20_450

        # the provider delivers the same webhook again: never captured twice
        body, headers = signed_webhook(
            {
                "event_id": "evt-again",
                "kind": "payment.succeeded",
                "payment_id": payment["payment_id"],
                "order_id": order_id,
                "provider_ref": payment["provider_ref"],
                "amount_fen": 20_450,
            }
        )
        again = await client.post("/payments/webhooks/sandbox", content=body, headers=headers)
        assert again.status_code == 200
        assert again.json()["outcome"] == "duplicate"
        # and paying a paid order is an illegal transition
        twice = await client.post(
            f"/orders/{order_id}/payments", json={"card_token": "tok_sandbox_approve"}
        )
        assert twice.status_code == 409
        assert twice.headers["content-type"] == PROBLEM

    events = await read_order_events(
        infra.kafka_bootstrap, order_id, ["placed", "confirmed", "paid"]
    )
    kinds = [short for _, short, _ in events]
    assert kinds.count("paid") == 1
    assert kinds.index("placed") < kinds.index("paid")
    [paid_event] = [data for _, short, data in events if short == "paid"]
    assert paid_event["total_fen"] == 20_450
    assert paid_event["payment_id"] == payment["payment_id"]
    by_product = {line["product_id"]: line for line in paid_event["lines"]}
    line = by_product[mask]
    assert line["quantity"] == 2
    assert line["unit_price_fen"] == 3_800
    assert line["line_total_fen"] == 7_600
    assert line["sku"].startswith("SKU-")
    assert line["license_id"]
    assert line["licensee_id"] == "lee-acme"
    assert len(line["relic_ids"]) == 2
    assert line["museum_id"] == "mus-sanxingdui"
    assert by_product[vase]["licensee_id"] == "lee-blue"
    # every order event carries the lines in full
    for short in ("placed", "confirmed"):
        [data] = [d for _, s, d in events if s == short]
        assert data["lines"] == paid_event["lines"]


# --- rejection ---------------------------------------------------------------------------------


async def test_stock_rejected_rejects_with_reasons_the_tourist_sees(
    infra: Infra, orders: ServiceProcess
) -> None:
    async with orders.client(token(Role.TOURIST)) as client:
        pid = await on_sale(infra, client)
        placed = await client.post(
            "/orders", json={"lines": [{"product_id": pid, "quantity": 7}]}, headers=key()
        )
        order_id = placed.json()["order_id"]
        rejection = StockRejection(product_id=pid, requested=7, available=3, reason="insufficient")
        await publish(infra.kafka_bootstrap, StockRejected(order_id=order_id, reasons=[rejection]))
        rejected = await order_in(client, order_id, "REJECTED")
        assert rejected["rejection_reasons"] == [
            {"product_id": pid, "reason": "insufficient", "requested": 7, "available": 3}
        ]
        paying = await client.post(
            f"/orders/{order_id}/payments", json={"card_token": "tok_sandbox_approve"}
        )
        assert paying.status_code == 409
        assert paying.headers["content-type"] == PROBLEM
        assert paying.json()["order_status"] == "REJECTED"
        # a late stock.reserved for it changes nothing
        await reserve(infra, placed.json())
        await caught_up(infra.kafka_bootstrap, orders.env["KAFKA_CONSUMER_GROUP"], "catalog.stock")
        assert (await client.get(f"/orders/{order_id}")).json()["status"] == "REJECTED"

    events = await read_order_events(infra.kafka_bootstrap, order_id, ["rejected"])
    [data] = [d for _, short, d in events if short == "rejected"]
    assert data["reasons"][0]["reason"] == "insufficient"


# --- idempotency and guests ------------------------------------------------------------------


async def test_idempotency_key_same_body_same_order_different_body_422(
    infra: Infra, orders: ServiceProcess
) -> None:
    async with orders.client() as guest:
        pid = await on_sale(infra, guest)
        body = {"lines": [{"product_id": pid, "quantity": 1}], "email": "li.hua@example.cn"}
        headers = key()
        first = await guest.post("/orders", json=body, headers=headers)
        assert first.status_code == 201, first.text
        again = await guest.post("/orders", json=body, headers=headers)
        assert again.status_code == 200
        assert again.json()["order_id"] == first.json()["order_id"]
        other = {**body, "lines": [{"product_id": pid, "quantity": 2}]}
        different = await guest.post("/orders", json=other, headers=headers)
        assert different.status_code == 422
        assert different.headers["content-type"] == PROBLEM
        assert different.json()["idempotency_key"] == headers["Idempotency-Key"]

        # the same request sent five times at once still places one order
        racing = key()
        responses = await asyncio.gather(
            *(guest.post("/orders", json=body, headers=racing) for _ in range(5))
        )
        assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 201]
        assert len({r.json()["order_id"] for r in responses}) == 1

        missing = await guest.post("/orders", json=body)
        assert missing.status_code == 422
        assert missing.headers["content-type"] == PROBLEM
        no_email = await guest.post("/orders", json={"lines": body["lines"]}, headers=key())
        assert no_email.status_code == 403

        # a guest reads the order with its token, and only with it
        order_id, order_token = first.json()["order_id"], first.json()["order_token"]
        assert order_token
        assert (await guest.get(f"/orders/{order_id}")).status_code == 404
        wrong = await guest.get(f"/orders/{order_id}", headers={"X-Order-Token": "nope"})
        assert wrong.status_code == 404
        mine = await guest.get(f"/orders/{order_id}", headers={"X-Order-Token": order_token})
        assert mine.status_code == 200
        assert mine.json()["email"] == "li.hua@example.cn"


async def test_a_guest_cart_is_checked_out_once(infra: Infra, orders: ServiceProcess) -> None:
    async with orders.client() as guest:
        a = await on_sale(infra, guest, price_fen=500)
        b = await on_sale(infra, guest, price_fen=700)
        cart = (await guest.post("/carts")).json()
        cart_id = cart["cart_id"]
        await guest.put(f"/carts/{cart_id}/lines/{a}", json={"quantity": 1})
        await guest.put(f"/carts/{cart_id}/lines/{a}", json={"quantity": 3})
        await guest.put(f"/carts/{cart_id}/lines/{b}", json={"quantity": 1})
        await guest.put(f"/carts/{cart_id}/lines/unknown-product", json={"quantity": 1})
        view = (await guest.delete(f"/carts/{cart_id}/lines/{b}")).json()
        assert [(x["product_id"], x["quantity"]) for x in view["lines"]] == [(a, 3)]
        assert view["total_fen"] == 1_500

        placed = await guest.post(
            "/orders", json={"cart_id": cart_id, "email": "guest@example.cn"}, headers=key()
        )
        assert placed.status_code == 201, placed.text
        assert placed.json()["total_fen"] == 1_500
        closed = (await guest.get(f"/carts/{cart_id}")).json()
        assert closed["status"] == "checked_out"
        assert closed["order_id"] == placed.json()["order_id"]
        late = await guest.put(f"/carts/{cart_id}/lines/{b}", json={"quantity": 1})
        assert late.status_code == 409


# --- payments that fail ---------------------------------------------------------------------


async def test_a_declined_payment_and_a_provider_timeout_leave_the_order_payable(
    infra: Infra, orders: ServiceProcess
) -> None:
    async with orders.client(token(Role.TOURIST)) as client:
        pid = await on_sale(infra, client)
        order = await confirmed_order(infra, client, [{"product_id": pid, "quantity": 1}])
        order_id = order["order_id"]

        declined = await client.post(
            f"/orders/{order_id}/payments", json={"card_token": "tok_sandbox_decline"}
        )
        assert declined.status_code == 201
        payment_id = declined.json()["payment_id"]

        async def was_declined() -> bool:
            view = (await client.get(f"/orders/{order_id}")).json()
            return view["payments"][0]["status"] == "declined"

        await eventually(was_declined, what="payment declined")
        assert (await client.get(f"/orders/{order_id}")).json()["status"] == "CONFIRMED"

        timed_out = await client.post(
            f"/orders/{order_id}/payments", json={"card_token": "tok_sandbox_timeout"}
        )
        assert timed_out.status_code == 201
        assert timed_out.json()["status"] == "timed_out"
        assert timed_out.json()["payment_id"] != payment_id
        assert (await client.get(f"/orders/{order_id}")).json()["status"] == "CONFIRMED"

        unknown = await client.post(f"/orders/{order_id}/payments", json={"card_token": "tok_x"})
        assert unknown.status_code == 422

        retry = await client.post(
            f"/orders/{order_id}/payments", json={"card_token": "tok_sandbox_approve"}
        )
        assert retry.status_code == 201
        paid = await order_in(client, order_id, "PAID")
        assert [p["status"] for p in paid["payments"]] == ["declined", "timed_out", "captured"]


async def test_a_webhook_with_a_wrong_signature_is_401(
    infra: Infra, orders: ServiceProcess
) -> None:
    async with orders.client(token(Role.TOURIST)) as client:
        pid = await on_sale(infra, client)
        order = await confirmed_order(infra, client, [{"product_id": pid, "quantity": 1}])
        forged = {
            "event_id": "evt-forged",
            "kind": "payment.succeeded",
            "payment_id": "pay-forged",
            "order_id": order["order_id"],
            "provider_ref": "ch-forged",
            "amount_fen": order["total_fen"],
        }
        body, headers = signed_webhook(forged, secret="not-the-shared-secret")
        bad = await client.post("/payments/webhooks/sandbox", content=body, headers=headers)
        assert bad.status_code == 401
        assert bad.headers["content-type"] == PROBLEM
        unsigned = await client.post("/payments/webhooks/sandbox", content=body)
        assert unsigned.status_code == 401
        good_body, good_headers = signed_webhook(forged)
        tampered = await client.post(
            "/payments/webhooks/sandbox",
            content=good_body.replace(b"pay-forged", b"pay-evil"),
            headers=good_headers,
        )
        assert tampered.status_code == 401
        assert (await client.get(f"/orders/{order['order_id']}")).json()["status"] == "CONFIRMED"


# --- refunds ----------------------------------------------------------------------------------


async def test_two_partial_refunds_that_would_exceed_the_total_the_second_is_refused(
    infra: Infra, orders: ServiceProcess
) -> None:
    async with orders.client(token(Role.TOURIST)) as client:
        pid = await on_sale(infra, client, price_fen=1_999)
        unpaid = await confirmed_order(infra, client, [{"product_id": pid, "quantity": 1}])
        early = await client.post(f"/orders/{unpaid['order_id']}/refunds", json={}, headers=key())
        assert early.status_code == 409
        assert early.headers["content-type"] == PROBLEM

        order = await paid_order(infra, client, [{"product_id": pid, "quantity": 3}])
        order_id, line_id = order["order_id"], order["lines"][0]["line_id"]
        first_key = key()
        two = {"lines": [{"line_id": line_id, "quantity": 2}], "restock": True}
        first = await client.post(f"/orders/{order_id}/refunds", json=two, headers=first_key)
        assert first.status_code == 201, first.text
        assert first.json()["refund"]["amount_fen"] == 3_998
        replay = await client.post(f"/orders/{order_id}/refunds", json=two, headers=first_key)
        assert replay.status_code == 200
        assert replay.json()["refund"]["refund_id"] == first.json()["refund"]["refund_id"]

        second = await client.post(f"/orders/{order_id}/refunds", json=two, headers=key())
        assert second.status_code == 409
        assert second.headers["content-type"] == PROBLEM
        assert second.json()["refundable"] == 1
        view = (await client.get(f"/orders/{order_id}")).json()
        assert (view["status"], view["refunded_fen"]) == ("PAID", 3_998)

        rest = await client.post(
            f"/orders/{order_id}/refunds", json={"restock": False}, headers=key()
        )
        assert rest.status_code == 201
        assert rest.json()["order"]["status"] == "REFUNDED"
        assert rest.json()["order"]["refunded_fen"] == rest.json()["order"]["paid_fen"] == 5_997

    events = await read_order_events(
        infra.kafka_bootstrap, order_id, ["refunded", "refunded", "paid"]
    )
    refunds = [data for _, short, data in events if short == "refunded"]
    assert [r["amount_fen"] for r in refunds] == [3_998, 1_999]
    assert [r["restock"] for r in refunds] == [True, False]
    assert refunds[0]["lines"][0]["quantity"] == 2
    assert refunds[0]["lines"][0]["amount_fen"] == 3_998
    assert refunds[0]["lines"][0]["licensee_id"] == "lee-acme"


# --- access and fulfilment ---------------------------------------------------------------------


async def test_tourists_see_only_their_own_orders_licensees_their_lines(
    infra: Infra, orders: ServiceProcess
) -> None:
    alice, bob = token(Role.TOURIST, "alice"), token(Role.TOURIST, f"bob-{uuid.uuid4().hex[:6]}")
    licensee = f"lee-{uuid.uuid4().hex[:6]}"
    async with (
        orders.client(alice) as as_alice,
        orders.client(bob) as as_bob,
        orders.client(token(Role.OPERATOR)) as as_operator,
        orders.client(token(Role.LICENSEE, licensee_id=licensee)) as as_licensee,
        orders.client(token(Role.LICENSEE, licensee_id="lee-other")) as as_stranger,
    ):
        theirs = await on_sale(infra, as_alice, licensee_id=licensee)
        other = await on_sale(infra, as_alice, licensee_id="lee-acme")
        order = await paid_order(
            infra,
            as_alice,
            [{"product_id": theirs, "quantity": 1}, {"product_id": other, "quantity": 1}],
        )
        order_id = order["order_id"]

        peek = await as_bob.get(f"/orders/{order_id}")
        assert peek.status_code == 404
        assert peek.headers["content-type"] == PROBLEM
        assert order_id not in [
            o["order_id"] for o in (await as_bob.get("/orders")).json()["items"]
        ]
        assert order_id in [o["order_id"] for o in (await as_alice.get("/orders")).json()["items"]]
        assert (await as_operator.get(f"/orders/{order_id}")).status_code == 200

        view = (await as_licensee.get(f"/orders/{order_id}")).json()
        assert view["view"] == "lines"
        assert view["email"] is None
        assert [x["product_id"] for x in view["lines"]] == [theirs]
        listed = (await as_licensee.get("/orders")).json()["items"]
        assert [o["order_id"] for o in listed] == [order_id]

        # fulfilment: the licensee ships its line, not the other one
        mine = next(x for x in order["lines"] if x["product_id"] == theirs)["line_id"]
        not_mine = next(x for x in order["lines"] if x["product_id"] == other)["line_id"]
        assert (
            await as_licensee.post(f"/orders/{order_id}/lines/{not_mine}/ship")
        ).status_code == 403
        assert (await as_stranger.post(f"/orders/{order_id}/lines/{mine}/ship")).status_code == 404
        assert (await as_alice.post(f"/orders/{order_id}/lines/{mine}/ship")).status_code == 403
        early = await as_licensee.post(f"/orders/{order_id}/lines/{mine}/fulfil")
        assert early.status_code == 409
        for step in ("ship", "fulfil"):
            done = await as_licensee.post(f"/orders/{order_id}/lines/{mine}/{step}")
            assert done.status_code == 200, done.text
            done = await as_operator.post(f"/orders/{order_id}/lines/{not_mine}/{step}")
            assert done.status_code == 200, done.text
        assert (await as_alice.get(f"/orders/{order_id}")).json()["status"] == "FULFILLED"

    events = await read_order_events(infra.kafka_bootstrap, order_id, ["fulfilled"])
    assert [short for _, short, _ in events].count("fulfilled") == 1


async def test_saga_steps_are_not_lost_while_the_relay_publishes(
    infra: Infra, orders: ServiceProcess
) -> None:
    """The answer to order.placed can arrive while the relay is still taking
    the event out of the order's document; neither write may be lost."""
    async with orders.client(token(Role.TOURIST)) as client:
        pid = await on_sale(infra, client)
        placed = await asyncio.gather(
            *(
                client.post(
                    "/orders", json={"lines": [{"product_id": pid, "quantity": 1}]}, headers=key()
                )
                for _ in range(15)
            )
        )
        await publish(
            infra.kafka_bootstrap,
            *(
                StockReserved(
                    order_id=p.json()["order_id"], lines=[StockLine(product_id=pid, quantity=1)]
                )
                for p in placed
            ),
        )
        for p in placed:
            await order_in(client, p.json()["order_id"], "CONFIRMED")
