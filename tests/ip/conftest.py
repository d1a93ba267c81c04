"""Fixtures for the ip integration tests: a running ip service, tokens, and a
way to feed it catalog and orders contract events through real Kafka."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from contracts import Event, contract_for
from contracts.catalog import DonorRef, MuseumRegistered, RelicRegistered
from contracts.orders import OrderLine, OrderPaid, OrderRefunded, RefundLine
from servicekit.auth import Principal, Role, TokenService
from servicekit.bus import KafkaPublisher
from servicekit.envelope import Envelope, encode
from servicekit.settings import ServiceSettings
from tests.conftest import Infra
from tests.support import ServiceProcess, eventually, unique

NOW = datetime.now(UTC)
_tokens = TokenService(ServiceSettings())


def token(role: Role, *, museum_id: str | None = None, licensee_id: str | None = None) -> str:
    return _tokens.mint(
        Principal(subject=unique("user"), role=role, museum_id=museum_id, licensee_id=licensee_id)
    )


OPERATOR = token(Role.OPERATOR)


def envelope(event: Event, event_id: str | None = None) -> Envelope:
    return Envelope(
        id=event_id or str(uuid.uuid4()),
        type=event.TYPE,
        source="tests",
        subject=event.aggregate_id,
        time=datetime.now(UTC),
        data=json.loads(event.model_dump_json()),
    )


@dataclass
class Feed:
    """Publishes contract events to their real topics."""

    bootstrap: str

    async def send(self, *envelopes: Envelope) -> None:
        publisher = KafkaPublisher(self.bootstrap, "ip-tests")
        try:
            for env in envelopes:
                contract = contract_for(env.type)
                assert contract is not None
                await publisher.publish(contract.TOPIC, [encode(env)])
        finally:
            await publisher.stop()

    async def events(self, *events: Event) -> list[Envelope]:
        envs = [envelope(e) for e in events]
        await self.send(*envs)
        return envs


@dataclass
class Ip:
    process: ServiceProcess
    feed: Feed

    def client(self, tok: str = OPERATOR) -> httpx.AsyncClient:
        return self.process.client(tok)

    async def get(self, path: str, tok: str = OPERATOR, **params: Any) -> httpx.Response:
        async with self.client(tok) as c:
            return await c.get(path, params=params)

    async def post(self, path: str, body: Any = None, tok: str = OPERATOR) -> httpx.Response:
        async with self.client(tok) as c:
            return await c.post(path, json=body)

    async def put(self, path: str, body: Any, tok: str = OPERATOR) -> httpx.Response:
        async with self.client(tok) as c:
            return await c.put(path, json=body)

    async def wait_for(self, path: str, what: str, timeout: float = 120) -> dict[str, Any]:
        # generous: a fresh ip process first catches up on every earlier test's events
        found: dict[str, Any] = {}

        async def present() -> bool:
            response = await self.get(path)
            if response.status_code == 200:
                found.update(response.json())
                return True
            return False

        await eventually(present, timeout=timeout, what=what)
        return found

    async def balance(self, holder_id: str) -> int:
        response = await self.get(f"/holders/{holder_id}/balance")
        assert response.status_code == 200, response.text
        return int(response.json()["balance_fen"])

    async def wait_balance(self, holder_id: str, expected: int, timeout: float = 30) -> None:
        """The holder's balance reaches `expected`: ip moves the balances in
        the postings' batch, a moment after the journal shows a posting."""
        seen: list[int] = []

        async def reached() -> bool:
            seen.append(await self.balance(holder_id))
            return seen[-1] == expected

        try:
            await eventually(reached, timeout=timeout, what=f"{holder_id}'s balance")
        except AssertionError:
            raise AssertionError(f"{holder_id}'s balance is {seen[-1]}, not {expected}") from None

    async def trial_total(self) -> int:
        response = await self.get("/ledger/trial-balance")
        assert response.status_code == 200, response.text
        return int(response.json()["total_fen"])

    # --- setting up a world -----------------------------------------------------

    async def museum(self, museum_id: str) -> None:
        await self.feed.events(
            MuseumRegistered(
                museum_id=museum_id,
                name_zh=f"博物馆 {museum_id}",
                name_en=f"Museum {museum_id}",
                city="Chongqing",
                province="CN-CQ",
                kind="museum",
                state_owned=True,
            )
        )
        await self.wait_for(f"/holders/{museum_id}", "museum holder registered")

    async def relic(self, museum_id: str, *, donor_id: str | None = None) -> str:
        relic_id = unique("relic")
        await self.feed.events(
            RelicRegistered(
                relic_id=relic_id,
                museum_id=museum_id,
                name_zh="青铜器",
                name_en="Bronze",
                category="bronze",
                protection_grade="first",
                donor=DonorRef(donor_id=donor_id, name="Donor") if donor_id else None,
            )
        )
        await self.wait_for(f"/assets/relic-{relic_id}", "asset opened")
        return relic_id

    async def license(
        self,
        museum_id: str,
        licensee_id: str,
        relic_id: str,
        *,
        exclusivity: str = "non_exclusive",
        terms: dict[str, Any] | None = None,
        starts_at: datetime | None = None,
    ) -> str:
        body = license_body(relic_id, exclusivity=exclusivity, terms=terms, starts_at=starts_at)
        applied = await self.post("/licenses", body, token(Role.LICENSEE, licensee_id=licensee_id))
        assert applied.status_code == 201, applied.text
        license_id = applied.json()["license_id"]
        approved = await self.post(
            f"/licenses/{license_id}/approve", None, token(Role.MUSEUM, museum_id=museum_id)
        )
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "active"
        return str(license_id)

    async def pay(
        self,
        license_id: str,
        licensee_id: str,
        relic_id: str,
        museum_id: str,
        *,
        quantity: int,
        unit_price_fen: int,
        paid_at: datetime | None = None,
        order_id: str | None = None,
        line_id: str = "line-1",
        event_id: str | None = None,
    ) -> tuple[str, Envelope]:
        order_id = order_id or unique("order")
        event = order_paid(
            order_id,
            license_id,
            licensee_id,
            relic_id,
            museum_id,
            quantity=quantity,
            unit_price_fen=unit_price_fen,
            paid_at=paid_at or datetime.now(UTC),
            line_id=line_id,
        )
        env = envelope(event, event_id)
        await self.feed.send(env)
        return order_id, env

    async def refund(
        self,
        order_id: str,
        license_id: str,
        licensee_id: str,
        relic_id: str,
        museum_id: str,
        *,
        quantity: int,
        amount_fen: int,
        refunded_at: datetime | None = None,
        line_id: str = "line-1",
    ) -> str:
        refund_id = unique("refund")
        await self.feed.events(
            OrderRefunded(
                order_id=order_id,
                refund_id=refund_id,
                lines=[
                    RefundLine(
                        line_id=line_id,
                        product_id="prod-1",
                        sku="SKU-1",
                        quantity=quantity,
                        amount_fen=amount_fen,
                        license_id=license_id,
                        licensee_id=licensee_id,
                        relic_ids=[relic_id],
                        museum_id=museum_id,
                    )
                ],
                amount_fen=amount_fen,
                restock=True,
                refunded_at=refunded_at or datetime.now(UTC),
            )
        )
        return refund_id


def license_body(
    relic_id: str,
    *,
    exclusivity: str = "non_exclusive",
    territory: str = "CN",
    terms: dict[str, Any] | None = None,
    starts_at: datetime | None = None,
) -> dict[str, Any]:
    start = starts_at or NOW - timedelta(days=120)
    return {
        "asset_ids": [f"relic-{relic_id}"],
        "categories": ["stationery"],
        "territory": territory,
        "channels": ["online", "museum_shop"],
        "exclusivity": exclusivity,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(days=730)).isoformat(),
        "terms": terms or {"rate_bps": 1000},
    }


def order_paid(
    order_id: str,
    license_id: str,
    licensee_id: str,
    relic_id: str,
    museum_id: str,
    *,
    quantity: int,
    unit_price_fen: int,
    paid_at: datetime,
    line_id: str = "line-1",
) -> OrderPaid:
    return OrderPaid(
        order_id=order_id,
        payment_id=unique("pay"),
        customer_id="tourist@example.com",
        lines=[
            OrderLine(
                line_id=line_id,
                product_id="prod-1",
                sku="SKU-1",
                quantity=quantity,
                unit_price_fen=unit_price_fen,
                line_total_fen=quantity * unit_price_fen,
                license_id=license_id,
                licensee_id=licensee_id,
                relic_ids=[relic_id],
                museum_id=museum_id,
            )
        ],
        total_fen=quantity * unit_price_fen,
        paid_at=paid_at,
    )


def _wait_ready(process: ServiceProcess) -> None:
    """Readiness (Kafka and the store answer, indexes built), bounded."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{process.url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"ip did not become ready: see {process.log_path}")


@pytest.fixture(scope="package")
def shared_ip_process(infra: Infra) -> Iterator[ServiceProcess]:
    """One ip process shared by the tests that need no database of their own
    (every test uses fresh ids, so they cannot see each other's data)."""
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "MONGODB_URL": infra.mongodb_url,
        "ENVIRONMENT": "test",
        "IP_SCHEDULER_INTERVAL_S": "0.5",
        "IP_CLOSE_GRACE_S": "0.1",
    }
    process = ServiceProcess("ip", env)
    try:
        _wait_ready(process)
        yield process
    finally:
        process.stop()


@pytest.fixture
def ip(infra: Infra, shared_ip_process: ServiceProcess) -> Ip:
    return Ip(shared_ip_process, Feed(infra.kafka_bootstrap))


@pytest.fixture
def own_ip(infra: Infra, run_service: type[ServiceProcess]) -> Ip:
    """An ip process with its own database: for tests that close periods."""
    process = run_service("ip", IP_SCHEDULER_INTERVAL_S="0.5", IP_CLOSE_GRACE_S="0.1")
    _wait_ready(process)
    return Ip(process, Feed(infra.kafka_bootstrap))
