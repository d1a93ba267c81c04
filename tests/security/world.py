"""A small world built only through the four services' public APIs, for the
auth matrix: museums A and B with a relic each, a licensee licensed by A (and
another one licensed by B), a product on sale, a tourist's paid order that
accrued royalties for A, a closed period with A's statement, and A's dashboard.

Every request in the matrix targets A's, the licensee's or the tourist's
resources; museum B is the other tenant trying to reach them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from servicekit.auth import Principal, Role, TokenService
from servicekit.settings import ServiceSettings
from tests.ip.conftest import license_body
from tests.support import ServiceProcess, eventually, unique

TOKENS = TokenService(ServiceSettings())  # the services' JWT settings: the test env's
PRINCIPALS = ("anonymous", "tourist", "museum A", "museum B", "licensee", "operator")
APPROVE = "tok_sandbox_approve"


def mint(role: Role, **scope: str) -> str:
    return TOKENS.mint(Principal(subject=unique(role.value), role=role, **scope))


@dataclass
class World:
    services: dict[str, ServiceProcess]
    ids: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str | None] = field(default_factory=dict)

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        who: str = "operator",
        *,
        token: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        bearer = token or self.tokens[who]
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        headers |= kwargs.pop("headers", {})
        async with httpx.AsyncClient(base_url=self.services[service].url, timeout=30) as client:
            return await client.request(method, path, headers=headers, **kwargs)

    async def ok(self, service: str, method: str, path: str, who: str = "operator", **kw: Any):
        response = await self.call(service, method, path, who, **kw)
        assert response.status_code in (200, 201, 202), (method, path, response.text)
        return response.json()

    async def until(
        self, check: Callable[[], Awaitable[bool]], what: str, timeout: float = 90
    ) -> None:
        await eventually(check, timeout=timeout, what=what)

    # --- building it ---------------------------------------------------------------

    async def build(self) -> None:
        ids = self.ids
        self.tokens["operator"] = mint(Role.OPERATOR)
        for name in ("museum_a", "museum_b"):
            museum = await self.ok(
                "catalog",
                "POST",
                "/museums",
                json={"name_zh": "博物馆", "name_en": name, "city": "Xi'an", "province": "Shaanxi"},
            )
            ids[name] = museum["id"]
        ids["licensee_a"], ids["licensee_b"] = unique("licensee"), unique("licensee")
        self.tokens = {
            "anonymous": None,
            "tourist": TOKENS.mint(Principal(unique("tourist"), Role.TOURIST)),
            "museum A": mint(Role.MUSEUM, museum_id=ids["museum_a"]),
            "museum B": mint(Role.MUSEUM, museum_id=ids["museum_b"]),
            "licensee": mint(Role.LICENSEE, licensee_id=ids["licensee_a"]),
            "operator": self.tokens["operator"],
        }
        licensee_b = mint(Role.LICENSEE, licensee_id=ids["licensee_b"])
        ids["relic_a"] = await self.relic("museum A", ids["museum_a"])
        ids["relic_b"] = await self.relic("museum B", ids["museum_b"])
        ids["license_a"] = await self.license("museum A", ids["relic_a"])
        ids["license_b"] = await self.license("museum B", ids["relic_b"], token=licensee_b)
        ids["product_a"] = await self.product(active=True, on_sale=True)

        cart = await self.ok("orders", "POST", "/carts", "tourist")
        ids["cart"] = cart["cart_id"]
        await self.ok(
            "orders", "PUT", f"/carts/{ids['cart']}/lines/{ids['product_a']}", "tourist",
            json={"quantity": 1},
        )  # fmt: skip
        order = await self.order("PAID")
        ids["order"], ids["line"] = order["order_id"], order["lines"][0]["line_id"]
        ids["posting"] = f"accrual:{ids['order']}:{ids['line']}"

        async def posted() -> bool:
            return (await self.call("ip", "GET", f"/ledger/postings/{ids['posting']}")).is_success

        await self.until(posted, "ip posted the sale's royalty")
        ids["provider_ref"] = order["payments"][0]["provider_ref"]
        certificates = await self.ok("ip", "GET", f"/orders/{ids['order']}/certificates")
        ids["serial"] = certificates[0]["serial"]
        ids["period"] = datetime.now(UTC).strftime("%Y-%m")
        await self.ok("ip", "POST", f"/periods/{ids['period']}/close")
        statements = await self.ok("ip", "GET", f"/holders/{ids['museum_a']}/statements")
        ids["statement"] = statements[-1]["statement_id"]
        ids["design_asset"] = (
            await self.ok("ip", "POST", "/assets", "museum A", json={"title": "纹样"})
        )["asset_id"]

        async def dashboard_counts_it() -> bool:
            response = await self.call("analytics", "GET", f"/museums/{ids['museum_a']}/dashboard")
            return response.is_success and response.json()["totals"]["orders"] >= 1

        await self.until(dashboard_counts_it, "A's dashboard counted the paid order", 120)
        replay = await self.ok("analytics", "POST", "/replays")
        ids["replay"] = str(replay["version"])

        async def replay_done() -> bool:
            status = await self.ok("analytics", "GET", f"/replays/{ids['replay']}")
            return status["status"] != "running"

        await self.until(replay_done, "the analytics replay finished", 120)

    async def relic(self, who: str, museum_id: str) -> str:
        relic = await self.ok(
            "catalog",
            "POST",
            "/relics",
            who,
            json={
                "museum_id": museum_id,
                "name_zh": "青铜器",
                "name_en": "Bronze",
                "category": "bronze",
            },
        )

        async def ip_knows() -> bool:
            return (await self.call("ip", "GET", f"/assets/relic-{relic['id']}")).is_success

        await self.until(ip_knows, "ip opened the relic's asset")
        return str(relic["id"])

    async def license(self, museum: str, relic_id: str, *, token: str | None = None) -> str:
        applied = await self.application(relic_id, token=token)
        approved = await self.ok("ip", "POST", f"/licenses/{applied}/approve", museum)
        assert approved["status"] == "active", approved
        return applied

    async def application(self, relic_id: str, *, token: str | None = None) -> str:
        applied = await self.ok(
            "ip", "POST", "/licenses", "licensee", token=token, json=license_body(relic_id)
        )
        return str(applied["license_id"])

    def product_body(self) -> dict[str, Any]:
        return {
            "sku": unique("SKU"),
            "title_zh": "青铜器书签",
            "title_en": "Bronze bookmark",
            "category": "stationery",
            "price_fen": 2_600,
            "relic_ids": [self.ids["relic_a"]],
            "license_id": self.ids["license_a"],
            "stock": 10_000,
        }

    async def product(self, *, active: bool, on_sale: bool = False) -> str:
        created: dict[str, Any] = {}

        async def catalog_knows_the_license() -> bool:
            response = await self.call(
                "catalog", "POST", "/products", "licensee", json=self.product_body()
            )
            created.update(response.json())
            return response.status_code == 201

        await self.until(catalog_knows_the_license, "catalog learned the license grant")
        product_id = str(created["id"])
        if active:
            product = await self.ok(
                "catalog", "POST", f"/products/{product_id}/activate", "licensee"
            )
            if on_sale:

                async def orders_sells_it() -> bool:
                    response = await self.call("orders", "GET", f"/products/{product_id}")
                    return response.is_success and response.json()["version"] >= product["version"]

                await self.until(orders_sells_it, "orders replicated the product")
        return product_id

    async def order(self, status: str) -> dict[str, Any]:
        """A tourist's order of the product, brought to `status`
        (CONFIRMED, PAID or SHIPPED: its one line shipped)."""
        placed = await self.ok(
            "orders",
            "POST",
            "/orders",
            "tourist",
            json={"lines": [{"product_id": self.ids["product_a"], "quantity": 1}]},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        order_id = placed["order_id"]
        await self.wait_order(order_id, "CONFIRMED")
        if status in ("PAID", "SHIPPED"):
            await self.ok(
                "orders", "POST", f"/orders/{order_id}/payments", "tourist",
                json={"card_token": APPROVE},
            )  # fmt: skip
            await self.wait_order(order_id, "PAID")
        if status == "SHIPPED":
            line = placed["lines"][0]["line_id"]
            await self.ok("orders", "POST", f"/orders/{order_id}/lines/{line}/ship")
        return await self.ok("orders", "GET", f"/orders/{order_id}")

    async def wait_order(self, order_id: str, status: str) -> None:
        async def reached() -> bool:
            return (await self.ok("orders", "GET", f"/orders/{order_id}"))["status"] == status

        await self.until(reached, f"order {order_id} {status}", 60)

    # --- fresh resources: one per principal, for actions that change state -------

    async def fresh(self, kind: str, count: int) -> list[dict[str, str]]:
        makers: dict[str, Callable[[], Awaitable[dict[str, str]]]] = {
            "confirmed order": lambda: self._order_ids("CONFIRMED"),
            "paid order": lambda: self._order_ids("PAID"),
            "shipped order": lambda: self._order_ids("SHIPPED"),
            "draft product": self._draft_product,
            "active product": self._active_product,
            "application": self._application,
        }
        return list(await asyncio.gather(*(makers[kind]() for _ in range(count))))

    async def _order_ids(self, status: str) -> dict[str, str]:
        order = await self.order(status)
        return {"order_id": order["order_id"], "line_id": order["lines"][0]["line_id"]}

    async def _draft_product(self) -> dict[str, str]:
        return {"product_id": await self.product(active=False)}

    async def _active_product(self) -> dict[str, str]:
        return {"product_id": await self.product(active=True)}

    async def _application(self) -> dict[str, str]:
        return {"license_id": await self.application(self.ids["relic_a"]), "action": "approve"}
