"""The HTTP API's rules: roles on every write, problem+json for bad input,
museums and relics with digital twins, and their events."""

from __future__ import annotations

import asyncio

import pytest

from servicekit.auth import Role
from tests.catalog.helpers import (
    OPERATOR,
    TOURIST,
    auth,
    collect,
    make_museum,
    make_product,
    make_relic,
    make_world,
    token,
)
from tests.conftest import Infra

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]

ASSET = {
    "kind": "model_3d",
    "uri": "https://twins.example.org/sanxingdui/mask.glb",
    "format": "glTF-binary",
    "checksum": "sha256:" + "ab" * 32,
    "byte_size": 48_000_000,
    "license": "CC BY-NC 4.0",
}


async def test_museums_and_relics_with_digital_twins_publish_their_events(
    infra: Infra, client
) -> None:
    museum_id = await make_museum(client)
    museum_token = token(Role.MUSEUM, museum_id=museum_id)
    response = await client.post(
        "/relics",
        json={
            "museum_id": museum_id,
            "name_zh": "青铜神树",
            "name_en": "Bronze sacred tree",
            "period": "商",
            "category": "bronze",
            "description": "三星堆二号祭祀坑出土",
            "protection_grade": "grade_1",
            "images": [{"uri": "https://img.example.org/tree.jpg", "caption": "正面"}],
            "provenance": {
                "acquisition": "donation",
                "acquired_year": 1986,
                "donor": {"donor_id": "donor-1", "name": "张先生"},
            },
            "assets": [ASSET],
        },
        headers=auth(museum_token),
    )
    assert response.status_code == 201, response.text
    relic = response.json()
    assert relic["assets"][0]["checksum"] == ASSET["checksum"]
    assert relic["assets"][0]["asset_id"].startswith("ast_")

    response = await client.post(
        f"/relics/{relic['id']}/assets",
        json={**ASSET, "kind": "panorama", "uri": "https://twins.example.org/p.jpg"},
        headers=auth(museum_token),
    )
    assert response.status_code == 201
    assert [a["kind"] for a in response.json()["assets"]] == ["model_3d", "panorama"]

    response = await client.patch(
        f"/museums/{museum_id}", json={"city": "德阳"}, headers=auth(OPERATOR)
    )
    assert response.json()["city"] == "德阳"
    assert (await client.get(f"/museums/{museum_id}")).json()["city"] == "德阳"

    museum_events = await collect(
        infra.kafka_bootstrap, "catalog.museums", lambda k, _: k.decode() == museum_id, 2
    )
    assert [k for k, _ in museum_events] == [
        "rebirth.catalog.museum.registered.v1",
        "rebirth.catalog.museum.updated.v1",
    ]
    relic_events = await collect(
        infra.kafka_bootstrap, "catalog.relics", lambda k, _: k.decode() == relic["id"], 2
    )
    assert [k for k, _ in relic_events] == [
        "rebirth.catalog.relic.registered.v1",
        "rebirth.catalog.relic.updated.v1",
    ]
    assert relic_events[0][1]["donor"] == {"donor_id": "donor-1", "name": "张先生"}

    # an immovable relic needs its site
    response = await client.post(
        "/relics",
        json={
            "museum_id": museum_id,
            "name_zh": "祭祀坑",
            "name_en": "Sacrificial pit",
            "category": "architecture",
            "immovable": True,
        },
        headers=auth(museum_token),
    )
    assert response.status_code == 422
    response = await client.post(
        "/relics",
        json={
            "museum_id": museum_id,
            "name_zh": "祭祀坑",
            "name_en": "Sacrificial pit",
            "category": "architecture",
            "immovable": True,
            "site": {"address": "四川省广汉市三星堆镇", "latitude": 31.0, "longitude": 104.2},
        },
        headers=auth(museum_token),
    )
    assert response.status_code == 201


async def test_role_checks_on_every_write_route(infra: Infra, client, db) -> None:
    world = await make_world(client, db, infra.kafka_bootstrap)
    product = await make_product(client, world)
    other_museum = token(Role.MUSEUM, museum_id="mus_someone_else")
    other_licensee = token(Role.LICENSEE, licensee_id="lic-someone-else")
    relic_body = {
        "museum_id": world.museum_id,
        "name_zh": "玉",
        "name_en": "Jade",
        "category": "jade",
    }
    product_body = {
        "sku": "ROLE-CHECK-1",
        "title_zh": "测试",
        "title_en": "Test",
        "category": "home",
        "price_fen": 100,
        "relic_ids": [world.relic_id],
        "license_id": world.license_id,
    }
    pid = product["id"]
    writes = [
        ("POST", "/museums", {"name_zh": "馆", "name_en": "M", "city": "c", "province": "p"}),
        ("PATCH", f"/museums/{world.museum_id}", {"city": "x"}),
        ("POST", "/relics", relic_body),
        ("PATCH", f"/relics/{world.relic_id}", {"period": "汉"}),
        ("POST", f"/relics/{world.relic_id}/assets", ASSET),
        ("POST", "/products", product_body),
        ("PATCH", f"/products/{pid}", {"price_fen": 200}),
        ("POST", f"/products/{pid}/activate", None),
        ("POST", f"/products/{pid}/retire", None),
        ("PUT", f"/products/{pid}/stock", {"stock": 3}),
        ("POST", f"/products/{pid}/stock/adjustments", {"delta": 1}),
    ]
    for method, url, body in writes:
        response = await client.request(method, url, json=body)
        assert response.status_code == 401, (method, url)
        assert response.headers["content-type"] == "application/problem+json"
        for bearer in (TOURIST, other_museum, other_licensee):
            response = await client.request(method, url, json=body, headers=auth(bearer))
            assert response.status_code == 403, (method, url, response.text)
            assert response.headers["content-type"] == "application/problem+json"
    # and the rightful owners may
    museum = auth(world.museum_token)
    assert (
        await client.patch(f"/relics/{world.relic_id}", json={"period": "汉"}, headers=museum)
    ).status_code == 200
    licensee = auth(world.licensee_token)
    assert (
        await client.patch(f"/products/{pid}", json={"price_fen": 200}, headers=licensee)
    ).status_code == 200
    assert (await client.post(f"/products/{pid}/retire", headers=auth(OPERATOR))).status_code == 200


async def test_bad_input_is_problem_json(infra: Infra, client, db) -> None:
    world = await make_world(client, db, infra.kafka_bootstrap)
    product = await make_product(client, world, sku="DUP-SKU-" + world.museum_id[-8:])
    licensee = auth(world.licensee_token)
    base = {
        "sku": "NEW-" + world.museum_id[-8:],
        "title_zh": "测试",
        "title_en": "Test",
        "category": "home",
        "price_fen": 100,
        "relic_ids": [world.relic_id],
        "license_id": world.license_id,
    }
    cases = [
        ({**base, "price_fen": 0}, 422),
        ({**base, "price_fen": -5}, 422),
        ({**base, "relic_ids": ["rel_missing"]}, 422),
        ({**base, "license_id": "license-missing"}, 422),
        ({**base, "stock": -1}, 422),
        ({**base, "sku": product["sku"]}, 409),
    ]
    for body, expected in cases:
        response = await client.post("/products", json=body, headers=licensee)
        assert response.status_code == expected, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == expected
    for url in ("/products/prd_missing", "/museums/mus_missing", "/relics/rel_missing"):
        response = await client.get(url)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
    response = await client.patch(
        f"/products/{product['id']}", json={"price_fen": 0}, headers=licensee
    )
    assert response.status_code == 422
    response = await client.patch(
        f"/products/{product['id']}", json={"title_zh": None}, headers=licensee
    )
    assert response.status_code == 422
    response = await client.post(
        "/relics",
        json={"museum_id": "mus_missing", "name_zh": "x", "name_en": "x", "category": "x"},
        headers=auth(OPERATOR),
    )
    assert response.status_code == 422
    # a draft is invisible to the public, visible to its licensee
    draft = await make_product(client, world, activate=False)
    assert (await client.get(f"/products/{draft['id']}")).status_code == 404
    assert (await client.get(f"/products/{draft['id']}", headers=licensee)).status_code == 200


async def test_relic_and_museum_lists_page_with_cursors(client) -> None:
    museum_id = await make_museum(client)
    museum_token = token(Role.MUSEUM, museum_id=museum_id)
    relics = {await make_relic(client, museum_id, museum_token) for _ in range(5)}
    seen: list[str] = []
    cursor = None
    while True:
        params = {"museum_id": museum_id, "limit": 2, **({"cursor": cursor} if cursor else {})}
        body = (await client.get("/relics", params=params)).json()
        seen.extend(r["id"] for r in body["items"])
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(relics)
    assert (await client.get("/relics", params={"cursor": "%%%"})).status_code == 422
    assert (await client.get("/museums", params={"limit": 0})).status_code == 422


async def test_rapid_edits_while_the_relay_publishes_lose_neither_state_nor_events(
    infra: Infra, client, db
) -> None:
    world = await make_world(client, db, infra.kafka_bootstrap)
    product = await make_product(client, world)
    edits = 25
    for i in range(edits):
        response = await client.patch(
            f"/products/{product['id']}",
            json={"price_fen": 1000 + i},
            headers=auth(world.licensee_token),
        )
        assert response.status_code == 200
        await asyncio.sleep(0.02 * (i % 4))  # let the relay interleave with the saves
    final = (await client.get(f"/products/{product['id']}")).json()
    assert (final["price_fen"], final["version"]) == (1000 + edits - 1, 2 + edits)
    events = await collect(
        infra.kafka_bootstrap,
        "catalog.products",
        lambda key, _: key.decode() == product["id"],
        edits + 1,
    )
    assert sorted(d["product"]["version"] for _, d in events) == list(range(2, edits + 3))
    assert events[-1][1]["product"]["price_fen"] == 1000 + edits - 1
