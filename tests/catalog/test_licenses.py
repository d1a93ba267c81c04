"""The license replica: products follow their license's status."""

from __future__ import annotations

import pytest

from contracts.ip import LicenseReinstated, LicenseRevoked, LicenseSuspended
from tests.catalog.helpers import (
    auth,
    collect,
    make_product,
    make_world,
    new_order_id,
    order_placed,
    publish,
    wait_license,
)
from tests.conftest import Infra
from tests.support import eventually

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
