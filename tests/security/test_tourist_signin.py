"""Tourists signed in through the OpenID provider: a Keycloak user with the
realm role `tourist` and an access token from Keycloak (through a test client
with the storefront's mappers) places orders and lists its own in a real
orders process with the realm as its issuer; another tourist's token sees
none of them; guest checkout works as before beside it.

The orders service knows a signed-in tourist by the token's `sub` (Keycloak:
the user's id, a UUID): their cart's owner, their orders' customer and their
order list's key. Real Kafka (the product replica is fed by catalog's events)
and the real store.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from keycloak import Keycloak

from contracts.catalog import ProductPublished
from tests.conftest import Infra
from tests.orders.conftest import orders_env
from tests.orders.helpers import product_on_sale, publish, read_order_events, snapshot
from tests.security.conftest import PROBLEM, STOREFRONT_TEST_CLIENT, SignIn, oidc_env
from tests.support import ServiceProcess

pytestmark = [pytest.mark.infra, pytest.mark.keycloak, pytest.mark.asyncio]


@pytest.fixture(scope="module")
def orders(infra: Infra, keycloak: Keycloak) -> Iterator[ServiceProcess]:
    service = ServiceProcess("orders", {**orders_env(infra), **oidc_env(infra, keycloak)})
    yield service
    service.stop()


def _key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def _placed(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/orders", json=body, headers=_key())
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _listed(client: httpx.AsyncClient) -> list[str]:
    response = await client.get("/orders")
    assert response.status_code == 200, response.text
    return [order["order_id"] for order in response.json()["items"]]


async def test_a_signed_in_tourist_orders_and_lists_only_their_own(
    infra: Infra, sign_in: SignIn, orders: ServiceProcess
) -> None:
    alice, alice_id = sign_in.add_user("tourist-a", "tourist")
    bob, _ = sign_in.add_user("tourist-b", "tourist")
    alice_token = sign_in.access_token(alice, client_id=STOREFRONT_TEST_CLIENT)
    bob_token = sign_in.access_token(bob, client_id=STOREFRONT_TEST_CLIENT)
    product = snapshot(price_fen=2_600)
    await publish(
        infra.kafka_bootstrap, ProductPublished(product_id=product.product_id, product=product)
    )
    async with (
        orders.client(alice_token) as as_alice,
        orders.client(bob_token) as as_bob,
        orders.client() as guest,
    ):
        await product_on_sale(guest, product.product_id)
        line = {"product_id": product.product_id, "quantity": 2}

        # a cart of hers: she checks it out, nobody else reads it
        cart = await as_alice.post("/carts")
        assert cart.status_code == 201, cart.text
        cart_id = cart.json()["cart_id"]
        filled = await as_alice.put(
            f"/carts/{cart_id}/lines/{product.product_id}", json={"quantity": 2}
        )
        assert filled.status_code == 200, filled.text
        assert (await as_bob.get(f"/carts/{cart_id}")).status_code == 404
        from_cart = await _placed(as_alice, {"cart_id": cart_id})
        from_lines = await _placed(as_alice, {"lines": [line]})
        for order in (from_cart, from_lines):
            assert order["customer_kind"] == "tourist"
            assert order["total_fen"] == 5_200

        # guest checkout stays: an email, and the order's token to read it
        guest_order = await _placed(guest, {"lines": [line], "email": "guest@example.test"})
        assert guest_order["customer_kind"] == "guest"
        by_token = await guest.get(
            f"/orders/{guest_order['order_id']}",
            headers={"X-Order-Token": guest_order["order_token"]},
        )
        assert by_token.status_code == 200, by_token.text
        assert (await guest.get("/orders")).status_code == 403  # a guest has no list

        # her list: exactly her orders; each readable with her token
        listed = await _listed(as_alice)
        assert sorted(listed) == sorted([from_cart["order_id"], from_lines["order_id"]])
        for order in (from_cart, from_lines):
            mine = await as_alice.get(f"/orders/{order['order_id']}")
            assert mine.status_code == 200, mine.text
            assert mine.json()["view"] == "full"

        # another tourist's provider token sees none of them
        assert await _listed(as_bob) == []
        for order in (from_cart, from_lines):
            peek = await as_bob.get(f"/orders/{order['order_id']}")
            assert peek.status_code == 404
            assert peek.headers["content-type"] == PROBLEM

    # downstream, her orders are the provider's subject's (Keycloak's user id)
    placed = await read_order_events(infra.kafka_bootstrap, from_lines["order_id"], ["placed"])
    assert [payload["customer_id"] for _, short, payload in placed if short == "placed"] == [
        alice_id
    ]
