"""Test-side stand-ins for catalog and the payment provider, and readers of
the orders topic. Catalog's side of the contract is played by publishing its
events (product.*, stock.*) to real Kafka."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]

from contracts import Event
from contracts.catalog import ProductSnapshot
from contracts.ip import LicenseGranted
from contracts.topics import DEFAULT_PARTITIONS
from orders.payments import SIGNATURE_HEADER, sign
from servicekit.auth import Principal, Role, TokenService
from servicekit.bus import KafkaPublisher
from servicekit.envelope import Envelope, encode
from servicekit.settings import ServiceSettings
from tests.support import eventually

WEBHOOK_SECRET = "orders-test-webhook-secret-0123456789abcdef"
TOKENS = TokenService(ServiceSettings())


def token(role: Role, subject: str | None = None, **scope: str) -> str:
    return TOKENS.mint(
        Principal(subject=subject or f"{role.value}-{uuid.uuid4().hex[:6]}", role=role, **scope)
    )


def snapshot(**overrides: Any) -> ProductSnapshot:
    pid = overrides.pop("product_id", f"prd-{uuid.uuid4().hex[:10]}")
    fields: dict[str, Any] = {
        "product_id": pid,
        "sku": f"SKU-{pid[-6:]}",
        "title_zh": "三星堆青铜面具冰箱贴",
        "title_en": "Sanxingdui bronze mask magnet",
        "category": "souvenir",
        "price_fen": 3_800,
        "relic_ids": [f"rel-{pid[-6:]}-a", f"rel-{pid[-6:]}-b"],
        "museum_ids": ["mus-sanxingdui", "mus-chongqing"],
        "license_id": f"lic-{pid[-6:]}",
        "licensee_id": "lee-acme",
        "status": "active",
        "sellable": True,
        "version": 1,
    }
    fields.update(overrides)
    return ProductSnapshot(**fields)


def envelope(event: Event, source: str = "catalog") -> Envelope:
    return Envelope(
        id=str(uuid.uuid4()),
        type=event.TYPE,
        source=source,
        subject=event.aggregate_id,
        time=datetime.now(UTC),
        data=json.loads(event.model_dump_json()),
    )


async def publish(bootstrap: str, *events: Event) -> None:
    """Publish contract events in order (as catalog would, through its relay)."""
    publisher = KafkaPublisher(bootstrap, "orders-tests")
    try:
        for event in events:
            await publisher.publish(event.TOPIC, [encode(envelope(event))])
    finally:
        await publisher.stop()


async def read_order_events(
    bootstrap: str, order_id: str, want: Sequence[str], timeout: float = 30
) -> list[tuple[str, str, dict[str, Any]]]:
    """(ce id, short type, payload) of an order's events on orders.orders, read
    from the start until every short type in `want` (e.g. "paid") was seen, as
    many times as it is listed."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    found: list[tuple[str, str, dict[str, Any]]] = []
    try:
        partitions = [TopicPartition("orders.orders", p) for p in range(DEFAULT_PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                for record in records:
                    if record.key is None or record.key.decode() != order_id:
                        continue
                    headers = {k: v.decode() for k, v in record.headers}
                    short = headers["ce_type"].split(".")[-2]
                    found.append((headers["ce_id"], short, json.loads(record.value)))
            # a type listed twice must be seen twice
            if Counter(want) <= Counter(short for _, short, _ in found):
                return found
        raise AssertionError(f"order {order_id}: wanted {want}, saw {[s for _, s, _ in found]}")
    finally:
        await consumer.stop()


async def caught_up(bootstrap: str, group: str, topic: str, timeout: float = 30) -> None:
    """Wait until `group` committed everything on `topic` (its effects are done)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await probe.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(DEFAULT_PARTITIONS)]
        ends = await probe.end_offsets(partitions)
        starts = await probe.beginning_offsets(partitions)  # truncated: nothing to read

        async def done() -> bool:
            committed = await admin.list_consumer_group_offsets(group)
            return all(
                ends[tp] == starts[tp] or (tp in committed and committed[tp].offset >= ends[tp])
                for tp in partitions
            )

        await eventually(done, timeout=timeout, what=f"{group} caught up on {topic}")
    finally:
        await probe.stop()
        await admin.close()


def signed_webhook(
    body: dict[str, Any], secret: str = WEBHOOK_SECRET
) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, {SIGNATURE_HEADER: sign(secret.encode(), raw, int(time.time()))}


async def order_in(
    client: httpx.AsyncClient, order_id: str, status: str, **headers: str
) -> dict[str, Any]:
    """Wait until the order reaches `status`; returns it."""
    seen: dict[str, Any] = {}

    async def reached() -> bool:
        response = await client.get(f"/orders/{order_id}", headers=headers)
        assert response.status_code == 200, response.text
        seen.update(response.json())
        return seen["status"] == status

    await eventually(reached, timeout=30, what=f"order {order_id} {status}")
    return seen


async def product_on_sale(client: httpx.AsyncClient, product_id: str, version: int = 1) -> None:
    async def replicated() -> bool:
        response = await client.get(f"/products/{product_id}")
        return response.status_code == 200 and response.json()["version"] >= version

    await eventually(replicated, timeout=30, what=f"product {product_id} replicated")


async def museum_with_relic(catalog: httpx.AsyncClient) -> tuple[str, str]:
    """A museum and one of its relics in the real catalog: (museum id, relic id)."""
    museum = await catalog.post(
        "/museums",
        json={
            "name_zh": "重庆中国三峡博物馆",
            "name_en": "Three Gorges Museum",
            "city": "Chongqing",
            "province": "Chongqing",
        },
    )
    assert museum.status_code == 201, museum.text
    museum_id = museum.json()["id"]
    relic = await catalog.post(
        "/relics",
        json={
            "museum_id": museum_id,
            "name_zh": "乌杨阙",
            "name_en": "Wuyang Que",
            "category": "stone carving",
        },
    )
    assert relic.status_code == 201, relic.text
    return museum_id, relic.json()["id"]


async def catalog_product(bootstrap: str, catalog: httpx.AsyncClient, stock: int) -> dict[str, Any]:
    """A sellable product in the real catalog: museum, relic, ip's license
    grant (published as ip would), product, activation."""
    museum_id, relic_id = await museum_with_relic(catalog)
    license_id, licensee_id = f"lic-{uuid.uuid4().hex[:8]}", f"lee-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    await publish(
        bootstrap,
        LicenseGranted(
            license_id=license_id,
            licensee_id=licensee_id,
            museum_id=museum_id,
            asset_ids=[f"ast-{relic_id}"],
            relic_ids=[relic_id],
            categories=["souvenir"],
            territory="CN",
            channels=["online"],
            exclusivity="non_exclusive",
            starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=365),
            rate_bps=800,
        ),
    )
    created: dict[str, Any] = {}

    async def product_created() -> bool:  # once catalog has seen the license
        response = await catalog.post(
            "/products",
            json={
                "sku": f"WYQ-{uuid.uuid4().hex[:6]}",
                "title_zh": "乌杨阙书签",
                "title_en": "Wuyang Que bookmark",
                "category": "souvenir",
                "price_fen": 2_600,
                "relic_ids": [relic_id],
                "license_id": license_id,
                "stock": stock,
            },
        )
        if response.status_code == 201:
            created.update(response.json())
        return response.status_code == 201

    await eventually(product_created, what="catalog knows the license")
    activated = await catalog.post(f"/products/{created['id']}/activate")
    assert activated.status_code == 200, activated.text
    return activated.json()
