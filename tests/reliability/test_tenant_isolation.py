"""Tenant isolation across real catalog, ip and analytics processes: museum A's
token never reads or changes museum B's data, a tourist never writes to the
catalog, and a licensee sees only its own licenses and payables."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from servicekit.auth import Role
from tests.conftest import Infra
from tests.ip.conftest import Feed, Ip, token
from tests.reliability.helpers import measured, wait_ready
from tests.support import unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]


async def _museum(catalog: httpx.AsyncClient, name: str) -> str:
    created = await catalog.post(
        "/museums",
        json={"name_zh": f"博物馆{name}", "name_en": name, "city": "Xi'an", "province": "Shaanxi"},
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def test_one_tenant_never_reaches_another_tenants_data(
    infra: Infra, run_service: Any
) -> None:
    catalog = run_service("catalog")
    analytics = run_service("analytics")
    ip = Ip(
        run_service("ip", IP_SCHEDULER_INTERVAL_S="0.5", IP_CLOSE_GRACE_S="0.1"),
        Feed(infra.kafka_bootstrap),
    )
    await asyncio.gather(wait_ready(catalog), wait_ready(analytics), wait_ready(ip.process))
    cells: list[tuple[str, str, str, int]] = []  # who, method, path, status

    def check(who: str, response: httpx.Response, *wanted: int) -> None:
        request = response.request
        cells.append((who, request.method, request.url.path, response.status_code))
        assert response.status_code in wanted, (who, response.request.url, response.text)

    # --- catalog: writes scoped to the museum, none for tourists ---------------
    async with catalog.client(token(Role.OPERATOR)) as operator:
        museum_a, museum_b = await _museum(operator, "A"), await _museum(operator, "B")
        relic_b = await operator.post(
            "/relics",
            json={
                "museum_id": museum_b,
                "name_zh": "兵马俑",
                "name_en": "Terracotta",
                "category": "pottery",
            },
        )
        assert relic_b.status_code == 201, relic_b.text
    relic_body = {
        "museum_id": museum_b,
        "name_zh": "铜车马",
        "name_en": "Bronze chariot",
        "category": "bronze",
    }
    async with (
        catalog.client(token(Role.MUSEUM, museum_id=museum_a)) as as_a,
        catalog.client(token(Role.MUSEUM, museum_id=museum_b)) as as_b,
        catalog.client(token(Role.TOURIST)) as as_tourist,
    ):
        check(
            "museum A", await as_a.patch(f"/museums/{museum_b}", json={"city": "A was here"}), 403
        )
        check("museum A", await as_a.post("/relics", json=relic_body), 403)
        check(
            "museum A",
            await as_a.post(
                "/relics:import",
                params={"museum_id": museum_b},
                content="name_zh,name_en,category\n鼎,Ding,bronze\n",
                headers={"Content-Type": "text/csv"},
            ),
            403,
        )
        check("tourist", await as_tourist.post("/relics", json=relic_body), 403)
        check("tourist", await as_tourist.patch(f"/museums/{museum_b}", json={"city": "x"}), 403)
        check("museum B", await as_b.post("/relics", json=relic_body), 201)  # the control
        museum = (await as_b.get(f"/museums/{museum_b}")).json()
        assert museum["city"] == "Xi'an"  # A's and the tourist's patches changed nothing

    # --- ip: ledgers, licenses and payables ---------------------------------
    ip_a, ip_b = unique("museum"), unique("museum")
    licensee_a, licensee_b = unique("licensee"), unique("licensee")
    await ip.museum(ip_a)
    await ip.museum(ip_b)
    relic = await ip.relic(ip_b)
    license_b = await ip.license(ip_b, licensee_b, relic)
    await ip.license(ip_a, licensee_a, await ip.relic(ip_a))
    order_id, _ = await ip.pay(license_b, licensee_b, relic, ip_b, quantity=2, unit_price_fen=500)
    posting = f"/ledger/postings/accrual:{order_id}:line-1"
    await ip.wait_for(posting, "the sale posted")
    as_museum_a = token(Role.MUSEUM, museum_id=ip_a)
    as_museum_b = token(Role.MUSEUM, museum_id=ip_b)
    as_licensee_a = token(Role.LICENSEE, licensee_id=licensee_a)
    for path in (
        f"/holders/{ip_b}/ledger",
        f"/holders/{ip_b}/balance",
        f"/holders/{ip_b}/statements",
        f"/licenses/{license_b}",
        posting,
    ):
        check("museum A", await ip.get(path, as_museum_a), 403, 404)
        check("museum B", await ip.get(path, as_museum_b), 200)
    check("licensee A", await ip.get(f"/licenses/{license_b}", as_licensee_a), 403, 404)
    check("licensee A", await ip.get(f"/licensees/{licensee_b}/payables", as_licensee_a), 403, 404)
    own = await ip.get("/licenses", as_licensee_a)
    assert own.status_code == 200, own.text
    assert {x["licensee_id"] for x in own.json()} == {licensee_a}
    check("museum B", await ip.get("/ledger/trial-balance", as_museum_b), 403)

    # --- analytics: dashboards and exports ----------------------------------
    async with (
        analytics.client(token(Role.MUSEUM, museum_id=museum_a)) as as_a,
        analytics.client(token(Role.MUSEUM, museum_id=museum_b)) as as_b,
    ):
        check("museum A", await as_a.get(f"/museums/{museum_b}/dashboard"), 403, 404)
        check("museum A", await as_a.get(f"/museums/{museum_b}/export/revenue.csv"), 403, 404)
        check("museum A", await as_a.get("/overview"), 403)
        check("museum B", await as_b.get(f"/museums/{museum_b}/dashboard"), 200)
    measured("tenant isolation", f"{len(cells)} cells checked, all as declared")
