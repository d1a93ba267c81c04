"""Helpers for the catalog's integration tests: tokens, contract events on
real Kafka, and a small seeded world (museum, relic, license, product)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]
from pymongo import AsyncMongoClient

from contracts import Event
from contracts.ip import LicenseGranted
from contracts.orders import OrderLine, OrderPlaced
from servicekit.auth import Principal, Role, TokenService
from servicekit.bus import KafkaPublisher
from servicekit.envelope import Envelope, encode
from servicekit.outbox import outbox_entry
from servicekit.settings import ServiceSettings
from tests.support import ServiceProcess, eventually, unique

TOKENS = TokenService(ServiceSettings())


def token(role: Role, *, museum_id: str | None = None, licensee_id: str | None = None) -> str:
    return TOKENS.mint(
        Principal(unique(role.value), role, museum_id=museum_id, licensee_id=licensee_id)
    )


OPERATOR = token(Role.OPERATOR)
TOURIST = token(Role.TOURIST)


def envelope_of(event: Event, event_id: str | None = None) -> Envelope:
    entry = outbox_entry(event, source="test", event_id=event_id)
    return Envelope(
        id=entry["id"],
        type=entry["type"],
        source="test",
        subject=entry["subject"],
        time=entry["time"],
        data=json.loads(entry["data"]),
    )


async def publish(bootstrap: str, *events: Event | Envelope) -> None:
    """Publish contract events (or ready envelopes, for exact redelivery)."""
    publisher = KafkaPublisher(bootstrap, "catalog-tests")
    try:
        by_topic: dict[str, list[Envelope]] = {}
        for item in events:
            envelope = item if isinstance(item, Envelope) else envelope_of(item)
            topic = _topic_of(item)
            by_topic.setdefault(topic, []).append(envelope)
        for topic, envelopes in by_topic.items():
            await publisher.publish(topic, [encode(e) for e in envelopes])
    finally:
        await publisher.stop()


_ENVELOPE_TOPICS: dict[str, str] = {}


def _topic_of(item: Event | Envelope) -> str:
    if isinstance(item, Envelope):
        return _ENVELOPE_TOPICS[item.id]
    return item.TOPIC


def redeliverable(event: Event) -> Envelope:
    """An envelope that can be published twice with the same event id."""
    envelope = envelope_of(event)
    _ENVELOPE_TOPICS[envelope.id] = event.TOPIC
    return envelope


async def collect(
    bootstrap: str,
    topic: str,
    keep: Callable[[bytes, dict], bool],
    expected: int,
    timeout: float = 45,
) -> list[tuple[str, dict]]:
    """Read a topic from the start until `expected` kept events came: (type, data).

    Delivery is at least once (two relays may both publish one outbox entry),
    so copies of one event id count once, as every consumer treats them."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    kept: list[tuple[str, dict]] = []
    seen: set[bytes] = set()
    deadline = time.monotonic() + timeout
    try:
        while len(kept) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    data = json.loads(record.value)
                    event_id = dict(record.headers)["ce_id"]
                    if event_id in seen:
                        continue
                    seen.add(event_id)
                    if keep(record.key, data):
                        kept.append((dict(record.headers)["ce_type"].decode(), data))
        return kept
    finally:
        await consumer.stop()


@dataclass
class World:
    museum_id: str
    relic_id: str
    license_id: str
    licensee_id: str
    licensee_token: str
    museum_token: str


async def make_museum(client: httpx.AsyncClient, **overrides: object) -> str:
    body = {
        "name_zh": "三星堆博物馆",
        "name_en": "Sanxingdui Museum",
        "city": "广汉",
        "province": "四川",
        "kind": "museum",
        "state_owned": True,
        "heritage_level": "national_first_class",
        **overrides,
    }
    response = await client.post("/museums", json=body, headers=_auth(OPERATOR))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def make_relic(
    client: httpx.AsyncClient, museum_id: str, museum_token: str, **overrides: object
) -> str:
    body = {
        "museum_id": museum_id,
        "name_zh": "青铜纵目面具",
        "name_en": "Bronze mask with protruding eyes",
        "period": "商",
        "category": "bronze",
        "protection_grade": "grade_1",
        **overrides,
    }
    response = await client.post("/relics", json=body, headers=_auth(museum_token))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def license_granted(
    license_id: str, licensee_id: str, museum_id: str, relic_ids: Sequence[str]
) -> LicenseGranted:
    now = datetime.now(UTC)
    return LicenseGranted(
        license_id=license_id,
        licensee_id=licensee_id,
        museum_id=museum_id,
        asset_ids=[f"asset-{r}" for r in relic_ids],
        relic_ids=list(relic_ids),
        categories=["stationery", "home"],
        territory="CN",
        channels=["online"],
        exclusivity="non_exclusive",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=365),
        rate_bps=800,
    )


async def wait_license(db, license_id: str, status: str = "active") -> None:  # noqa: ANN001
    async def there() -> bool:
        doc = await db["licenses"].find_one({"_id": license_id})
        return doc is not None and doc.get("status") == status

    await eventually(there, timeout=45, what=f"license {license_id} {status} in the replica")


async def make_world(client: httpx.AsyncClient, db, bootstrap: str) -> World:  # noqa: ANN001
    museum_id = await make_museum(client)
    museum_token = token(Role.MUSEUM, museum_id=museum_id)
    relic_id = await make_relic(client, museum_id, museum_token)
    licensee_id, license_id = unique("lic"), unique("license")
    await publish(bootstrap, license_granted(license_id, licensee_id, museum_id, [relic_id]))
    await wait_license(db, license_id)
    return World(
        museum_id=museum_id,
        relic_id=relic_id,
        license_id=license_id,
        licensee_id=licensee_id,
        licensee_token=token(Role.LICENSEE, licensee_id=licensee_id),
        museum_token=museum_token,
    )


async def make_product(
    client: httpx.AsyncClient,
    world: World,
    *,
    stock: int = 10,
    activate: bool = True,
    **overrides: object,
) -> dict:
    body = {
        "sku": unique("SKU"),
        "title_zh": "三星堆青铜面具冰箱贴",
        "title_en": "Sanxingdui bronze mask magnet",
        "category": "home",
        "price_fen": 3900,
        "relic_ids": [world.relic_id],
        "license_id": world.license_id,
        "stock": stock,
        **overrides,
    }
    response = await client.post("/products", json=body, headers=_auth(world.licensee_token))
    assert response.status_code == 201, response.text
    product = response.json()
    if activate:
        response = await client.post(
            f"/products/{product['id']}/activate", headers=_auth(world.licensee_token)
        )
        assert response.status_code == 200, response.text
        product = response.json()
    return dict(product)


def order_placed(order_id: str, lines: Sequence[tuple[dict, int]]) -> OrderPlaced:
    order_lines = [
        OrderLine(
            line_id=f"{order_id}-{i}",
            product_id=product["id"],
            sku=product["sku"],
            quantity=quantity,
            unit_price_fen=product["price_fen"],
            line_total_fen=product["price_fen"] * quantity,
            license_id=product["license_id"],
            licensee_id=product["licensee_id"],
            relic_ids=product["relic_ids"],
            museum_id=product["museum_ids"][0],
        )
        for i, (product, quantity) in enumerate(lines)
    ]
    return OrderPlaced(
        order_id=order_id,
        customer_id="tourist-1",
        lines=order_lines,
        total_fen=sum(line.line_total_fen for line in order_lines),
        placed_at=datetime.now(UTC),
    )


def new_order_id() -> str:
    return f"ord-{uuid.uuid4().hex}"


def _auth(bearer: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {bearer}"}


auth = _auth


def database(client: AsyncMongoClient, service: ServiceProcess):  # noqa: ANN201
    return client[service.env["CATALOG_MONGODB_DATABASE"]]
