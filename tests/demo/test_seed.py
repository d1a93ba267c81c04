"""`make seed` and `make demo` against the four real services: the seed loads a
small dataset through the public APIs, a second run creates nothing, and a
tiny simulated day gets orders paid through the sandbox provider's webhook."""

from __future__ import annotations

import asyncio
import io
import sys
from typing import Any

import httpx
import pytest
from rich.console import Console

from deploy.demo.dataset import build
from deploy.demo.seed import Tokens, Urls, pages, seed
from deploy.demo.simulate import simulate
from tests.support import ROOT, eventually

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]


def _quiet() -> Console:
    return Console(file=io.StringIO(), width=120)


async def test_seed_twice_creates_nothing_the_second_time_and_a_day_pays_orders(
    run_service: Any,
) -> None:
    catalog = run_service("catalog")
    orders = run_service("orders")
    ip = run_service("ip")
    analytics = run_service("analytics")
    urls = Urls(catalog.url, orders.url, ip.url, analytics.url)
    data = build(relic_count=12, product_count=20)
    tokens = Tokens()

    first = await seed(urls, data, tokens=tokens, console=_quiet())
    assert (first.museums.created, first.museums.existing) == (len(data.museums), 0)
    assert first.relics.created == len(data.relics)
    assert first.licenses.created == len(data.licenses)
    assert first.products.created == len(data.products)
    assert first.stuck_drafts == []

    second = await seed(urls, data, tokens=tokens, console=_quiet())
    assert second.created == 0
    assert second.museums.existing == len(data.museums)
    assert second.relics.existing == len(data.relics)
    assert second.licenses.existing == len(data.licenses)
    assert second.products.existing == len(data.products)
    assert second.stuck_drafts == []
    assert second.museum_ids == first.museum_ids
    assert second.relic_ids == first.relic_ids
    assert second.license_ids == first.license_ids
    assert second.product_ids == first.product_ids

    async with httpx.AsyncClient(base_url=catalog.url, timeout=10) as client:
        museums = await pages(client, "/museums", {})
        products = await pages(client, "/products", {"sort": "newest"})
    assert sorted(m["name_en"] for m in museums) == sorted(m.name_en for m in data.museums)
    assert {p["sku"]: p["stock"] for p in products} == {p.sku: p.stock for p in data.products}
    assert all(p["status"] == "active" and p["sellable"] for p in products)

    # a donated relic's IP asset is co-owned: museum 70 %, donor 30 %
    donated = next(r for r in data.relics if r.donor)
    relic_id = first.relic_ids[donated.key]
    async with httpx.AsyncClient(base_url=ip.url, timeout=10) as client:
        asset = await client.get(
            f"/assets/relic-{relic_id}", headers={"Authorization": f"Bearer {tokens.operator()}"}
        )
    assert asset.status_code == 200, asset.text
    shares = {s["holder_kind"]: s["share_bps"] for s in asset.json()["ownership"][-1]["shares"]}
    assert shares == {"museum": 7_000, "donor": 3_000}

    day = await simulate(urls, orders=3, concurrency=3, tokens=tokens, console=_quiet())
    assert len(day.order_ids) == 3
    assert day.statuses["PAID"] >= 1, day.statuses
    async with httpx.AsyncClient(base_url=orders.url, timeout=10) as client:
        statuses = [
            (
                await client.get(
                    f"/orders/{order_id}",
                    headers={"Authorization": f"Bearer {tokens.operator()}"},
                )
            ).json()["status"]
            for order_id in day.order_ids
        ]
    assert "PAID" in statuses

    # the Three Gorges Museum's dashboard shows the day's sales and royalties
    tg = day.three_gorges_id
    assert tg == first.museum_ids["three-gorges"]
    totals: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=analytics.url, timeout=10) as client:

        async def shown() -> bool:
            response = await client.get(
                f"/museums/{tg}/dashboard",
                headers={"Authorization": f"Bearer {tokens.museum(tg)}"},
            )
            assert response.status_code == 200, response.text
            totals.update(response.json()["totals"])
            return totals["gross_fen"] > 0 and totals["royalty_accrued_fen"] > 0

        # generous: fresh ip and analytics processes first catch up on every
        # earlier test's events in a full run
        await eventually(
            shown, timeout=180, what="the Three Gorges dashboard showing sales and royalties"
        )

    # ... and those figures are what ip's ledger holds for the museum's lines
    operator = {"Authorization": f"Bearer {tokens.operator()}"}
    async with (
        httpx.AsyncClient(base_url=orders.url, timeout=10, headers=operator) as as_orders,
        httpx.AsyncClient(base_url=ip.url, timeout=10, headers=operator) as as_ip,
        httpx.AsyncClient(base_url=analytics.url, timeout=10) as as_analytics,
    ):
        listed = await as_orders.get("/orders", params={"limit": 200})
        assert listed.status_code == 200, listed.text
        day_orders = listed.json()["items"]
        postings = [
            f"accrual:{order['order_id']}:{line['line_id']}"
            for order in day_orders
            if order["paid_at"] is not None
            for line in order["lines"]
            if line["museum_id"] == tg and line["license_id"]
        ]
        museum_lines = {
            (o["order_id"], x["line_id"])
            for o in day_orders
            for x in o["lines"]
            if x["museum_id"] == tg
        }
        postings += [
            f"reversal:{refund['refund_id']}:{line['line_id']}"
            for order in day_orders
            for refund in order["refunds"]
            for line in refund["lines"]
            if (order["order_id"], line["line_id"]) in museum_lines
        ]
        ledger: dict[str, int] = {}

        async def dashboard_equals_ledger() -> bool:
            ledger.clear()
            for posting_id in postings:
                found = await as_ip.get(f"/ledger/postings/{posting_id}")
                if found.status_code != 200:
                    return False  # not posted yet
                kind = found.json()["kind"]
                ledger[kind] = ledger.get(kind, 0) + found.json()["royalty_fen"]
            shown = await as_analytics.get(
                f"/museums/{tg}/dashboard", headers={"Authorization": f"Bearer {tokens.museum(tg)}"}
            )
            totals.update(shown.json()["totals"])
            return (totals["royalty_accrued_fen"], totals["royalty_reversed_fen"]) == (
                ledger.get("accrual", 0),
                ledger.get("reversal", 0),
            )

        await eventually(
            dashboard_equals_ledger, timeout=120, what="the dashboard's royalties equal ip's ledger"
        )
    assert ledger["accrual"] > 0

    # `make demo`'s script: runs as a script and prints the URL, tokens and curls
    args = [f"--{s.name}={s.url}" for s in (catalog, orders, ip, analytics)]
    script = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "deploy/demo/simulate.py"),
        *args,
        "--orders-count=2",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = (await script.communicate())[0].decode()
    assert script.returncode == 0, output
    assert f"{analytics.url}/dashboard?museum={tg}#token=ey" in output
    assert "Operator token" in output
    assert output.count("curl -s") == 3
