"""The license replica: products follow their license's status and scope."""

from __future__ import annotations

import pytest

from contracts.ip import LicenseReinstated, LicenseRevoked, LicenseSuspended
from tests.catalog.helpers import (
    auth,
    collect,
    license_granted,
    make_product,
    make_world,
    new_order_id,
    order_placed,
    publish,
    wait_license,
)
from tests.conftest import Infra
from tests.support import eventually, unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]


async def test_revoking_a_license_makes_its_products_unsellable_and_rejects_new_orders(
    infra: Infra, client, db
) -> None:
    world = await make_world(client, db, infra.kafka_bootstrap)
    product = await make_product(client, world, stock=5)
    await publish(
        infra.kafka_bootstrap,
        LicenseRevoked(
            license_id=world.license_id,
            licensee_id=world.licensee_id,
            museum_id=world.museum_id,
            reason="breach",
        ),
    )

    async def unsellable() -> bool:
        response = await client.get(f"/products/{product['id']}")
        return response.json()["sellable"] is False

    await eventually(unsellable, what="product unsellable after revocation")
    events = await collect(
        infra.kafka_bootstrap,
        "catalog.products",
        lambda key, _: key.decode() == product["id"],
        2,
    )
    kinds = [k for k, _ in events]
    assert kinds == [
        "rebirth.catalog.product.published.v1",
        "rebirth.catalog.product.unsellable.v1",
    ]
    assert events[1][1]["reason"] == "license_revoked"
    assert events[1][1]["product"]["sellable"] is False

    order = new_order_id()
    await publish(infra.kafka_bootstrap, order_placed(order, [(product, 1)]))
    [(kind, data)] = await collect(
        infra.kafka_bootstrap, "catalog.stock", lambda key, _: key.decode() == order, 1
    )
    assert kind == "rebirth.catalog.stock.rejected.v1"
    assert data["reasons"][0]["reason"] == "unsellable"

    # gone from search, and it cannot be activated again
    response = await client.get("/products", params={"q": "冰箱贴", "museum_id": world.museum_id})
    assert response.json()["items"] == []
    response = await client.post(
        f"/products/{product['id']}/activate", headers=auth(world.licensee_token)
    )
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"


async def test_suspension_pauses_sales_and_reinstatement_resumes_them(
    infra: Infra, client, db
) -> None:
    world = await make_world(client, db, infra.kafka_bootstrap)
    product = await make_product(client, world, stock=5)
    ids = {
        "license_id": world.license_id,
        "licensee_id": world.licensee_id,
        "museum_id": world.museum_id,
    }
    draft = await make_product(client, world, stock=1, activate=False)
    await publish(infra.kafka_bootstrap, LicenseSuspended(**ids, reason="audit"))
    await wait_license(db, world.license_id, "suspended")

    async def sellable_is(value: bool) -> bool:
        response = await client.get(f"/products/{product['id']}")
        return response.json()["sellable"] is value

    await eventually(lambda: sellable_is(False), what="unsellable while suspended")
    response = await client.post(
        f"/products/{draft['id']}/activate", headers=auth(world.licensee_token)
    )
    assert response.status_code == 409  # not while the license is suspended

    await publish(infra.kafka_bootstrap, LicenseReinstated(**ids))
    await eventually(lambda: sellable_is(True), what="sellable again after reinstatement")
    response = await client.post(
        f"/products/{draft['id']}/activate", headers=auth(world.licensee_token)
    )
    assert response.status_code == 200


# --- licence scope (issue 18) ------------------------------------------------------


async def test_a_product_outside_its_licences_categories_is_refused_409(
    infra: Infra, client, db
) -> None:
    world = await make_world(client, db, infra.kafka_bootstrap)  # categories: stationery, home
    licensee = auth(world.licensee_token)
    body = {
        "sku": unique("TOY"),
        "title_zh": "三星堆面具积木",
        "title_en": "Sanxingdui mask building blocks",
        "category": "toys",
        "price_fen": 19_900,
        "relic_ids": [world.relic_id],
        "license_id": world.license_id,
        "stock": 5,
    }
    refused = await client.post("/products", json=body, headers=licensee)
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["title"] == "Outside license scope"
    assert (problem["rule"], problem["value"], problem["allowed"]) == (
        "category",
        "toys",
        ["home", "stationery"],
    )
    assert problem["license_id"] == world.license_id
    assert await db["products"].find_one({"sku": body["sku"]}) is None  # a test's look: no draft

    # an existing product cannot be moved out of the licence either
    product = await make_product(client, world, stock=5)
    moved = await client.patch(
        f"/products/{product['id']}", json={"category": "toys"}, headers=licensee
    )
    assert moved.status_code == 409, moved.text
    assert moved.json()["rule"] == "category"
    assert (await client.get(f"/products/{product['id']}")).json()["category"] == "home"
    inside = await client.patch(
        f"/products/{product['id']}", json={"category": "stationery"}, headers=licensee
    )
    assert inside.status_code == 200, inside.text


async def test_products_outside_a_narrowed_scope_stop_being_sellable(
    infra: Infra, client, db
) -> None:
    world = await make_world(client, db, infra.kafka_bootstrap)
    home = await make_product(client, world, stock=5)  # category home
    stationery = await make_product(client, world, stock=5, category="stationery")
    draft = await make_product(client, world, stock=5, activate=False)  # home, a draft
    grant = license_granted(world.license_id, world.licensee_id, world.museum_id, [world.relic_id])
    await publish(infra.kafka_bootstrap, grant.model_copy(update={"categories": ["stationery"]}))

    async def sellable(product: dict, value: bool) -> bool:
        response = await client.get(f"/products/{product['id']}")
        return response.json()["sellable"] is value

    await eventually(lambda: sellable(home, False), what="home product unsellable after narrowing")
    events = await collect(
        infra.kafka_bootstrap, "catalog.products", lambda k, _: k.decode() == home["id"], 2
    )
    assert [kind for kind, _ in events] == [
        "rebirth.catalog.product.published.v1",
        "rebirth.catalog.product.unsellable.v1",
    ]
    assert events[1][1]["reason"] == "license_scope_category"
    assert events[1][1]["product"]["sellable"] is False
    assert await sellable(stationery, True)  # inside the narrowed scope: still on sale

    # orders for it are rejected, as under a suspension; the draft cannot go on sale
    order = new_order_id()
    await publish(infra.kafka_bootstrap, order_placed(order, [(home, 1)]))
    [(kind, data)] = await collect(
        infra.kafka_bootstrap, "catalog.stock", lambda key, _: key.decode() == order, 1
    )
    assert kind == "rebirth.catalog.stock.rejected.v1"
    assert data["reasons"][0]["reason"] == "unsellable"
    refused = await client.post(
        f"/products/{draft['id']}/activate", headers=auth(world.licensee_token)
    )
    assert refused.status_code == 409
    assert refused.json()["rule"] == "category"

    # the scope widened again: the product is back on sale
    await publish(infra.kafka_bootstrap, grant)
    await eventually(lambda: sellable(home, True), what="home product sellable after widening")
