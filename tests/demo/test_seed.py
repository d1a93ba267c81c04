"""`make seed` and `make demo` against the four real services and a real
Keycloak: the seed loads a small dataset through the public APIs and makes the
users to sign in as, a second run creates nothing, the users' tokens reach
their own data only, and a tiny simulated day gets orders paid through the
sandbox provider's webhook."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from typing import Any

import httpx
import jwt
import pytest
from keycloak import AUDIENCE, REALM_FILE, Keycloak
from rich.console import Console

from deploy.demo.dataset import build
from deploy.demo.seed import Tokens, Urls, pages, seed
from deploy.demo.simulate import simulate
from deploy.demo.users import DEMO_PASSWORD, LICENSEE, OPERATOR, licensee_username, staff_username
from tests.support import ROOT, eventually

pytestmark = [pytest.mark.infra, pytest.mark.keycloak, pytest.mark.asyncio]

TEST_CLIENT = "rebirth-demo-test"  # direct grants: added here, never in deploy/keycloak/


def _quiet() -> Console:
    return Console(file=io.StringIO(), width=120)


def _add_direct_grant_client(keycloak: Keycloak) -> None:
    """A test-only client that signs users in by password, with the claims the
    dashboard's client puts in tokens (audience, museum_id, licensee_id)."""
    clients = json.loads(REALM_FILE.read_text())["clients"]
    dashboard = next(c for c in clients if c["clientId"] == "rebirth-dashboard")
    status, answer = keycloak.admin(
        "POST",
        "/clients",
        {
            "clientId": TEST_CLIENT,
            "publicClient": True,
            "standardFlowEnabled": False,
            "directAccessGrantsEnabled": True,
            "protocolMappers": dashboard["protocolMappers"],
        },
    )
    assert status in (201, 409), answer  # 409: an earlier test of the session added it


def _claims(keycloak: Keycloak, username: str) -> tuple[str, dict[str, Any]]:
    token = str(keycloak.password_grant(TEST_CLIENT, username, DEMO_PASSWORD)["access_token"])
    return token, jwt.decode(token, options={"verify_signature": False})


async def test_seed_twice_creates_nothing_the_second_time_and_a_day_pays_orders(
    run_service: Any, keycloak: Keycloak
) -> None:
    # as `make up` configures them: the services accept the Keycloak's tokens
    issuers = json.dumps([{"issuer": keycloak.issuer, "audience": AUDIENCE}])
    catalog = run_service("catalog", OIDC_ISSUERS=issuers)
    orders = run_service("orders", OIDC_ISSUERS=issuers)
    ip = run_service("ip", OIDC_ISSUERS=issuers)
    analytics = run_service("analytics", OIDC_ISSUERS=issuers)
    urls = Urls(catalog.url, orders.url, ip.url, analytics.url, keycloak.url)
    data = build(relic_count=12, product_count=20)
    tokens = Tokens()
    users = len(data.museums) + 2  # a staff user per museum, a licensee, an operator

    first = await seed(urls, data, tokens=tokens, console=_quiet(), keycloak=keycloak)
    assert (first.museums.created, first.museums.existing) == (len(data.museums), 0)
    assert (first.users.created, first.users.existing) == (users, 0)
    assert first.relics.created == len(data.relics)
    assert first.licenses.created == len(data.licenses)
    assert first.products.created == len(data.products)
    assert first.stuck_drafts == []

    # a user whose museum id went stale (the store seeded afresh) is mended, not made again
    palace = staff_username("palace")
    status, found = keycloak.admin("GET", f"/users?exact=true&username={palace}")
    assert status == 200, found
    assert isinstance(found, list)
    assert len(found) == 1, found
    stale = {**found[0], "attributes": {"museum_id": ["mus_stale"]}}
    assert keycloak.admin("PUT", f"/users/{found[0]['id']}", stale)[0] == 204

    second = await seed(urls, data, tokens=tokens, console=_quiet(), keycloak=keycloak)
    assert second.created == 0
    assert second.users.existing == users
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

    # each seeded user signs in (palace's staff with its museum id mended), and its
    # token reaches what its role and scope allow
    _add_direct_grant_client(keycloak)
    tg = first.museum_ids["three-gorges"]
    for spec in data.museums:
        _, claims = _claims(keycloak, staff_username(spec.key))
        assert claims["museum_id"] == first.museum_ids[spec.key]
        assert {"museum", "museum-admin"} <= set(claims["realm_access"]["roles"])
    staff_token, _ = _claims(keycloak, staff_username("three-gorges"))
    licensee_token, licensee_claims = _claims(keycloak, licensee_username(LICENSEE))
    operator_token, operator_claims = _claims(keycloak, OPERATOR)
    assert licensee_claims["licensee_id"] == LICENSEE
    assert "licensee" in licensee_claims["realm_access"]["roles"]
    assert "operator" in operator_claims["realm_access"]["roles"]
    async with httpx.AsyncClient(timeout=10) as client:
        own = await client.get(
            f"{analytics.url}/museums/{tg}/dashboard",
            headers={"Authorization": f"Bearer {staff_token}"},
        )
        assert own.status_code == 200, own.text
        other = await client.get(
            f"{analytics.url}/museums/{first.museum_ids['palace']}/dashboard",
            headers={"Authorization": f"Bearer {staff_token}"},
        )
        assert other.status_code == 403, other.text
        signed_in = await client.get(
            f"{ip.url}/licenses", headers={"Authorization": f"Bearer {licensee_token}"}
        )
        minted = await client.get(
            f"{ip.url}/licenses",
            headers={"Authorization": f"Bearer {tokens.licensee(LICENSEE)}"},
        )
        assert signed_in.status_code == minted.status_code == 200, signed_in.text
        licensed = {lic["license_id"] for lic in signed_in.json()}
        theirs = {first.license_ids[x.key] for x in data.licenses if x.licensee == LICENSEE}
        assert licensed == theirs
        assert licensed == {lic["license_id"] for lic in minted.json()}
        listed = await client.get(
            f"{orders.url}/orders", headers={"Authorization": f"Bearer {operator_token}"}
        )
        assert listed.status_code == 200, listed.text

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

    # `make demo`'s script: runs as a script and prints the URL, tokens, curls and sign-in
    args = [f"--{s.name}={s.url}" for s in (catalog, orders, ip, analytics)]
    args.append(f"--keycloak={keycloak.url}")
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
    assert f"{analytics.url}/dashboard\n" in output
    for username in [staff_username(m.key) for m in data.museums] + [
        licensee_username(LICENSEE),
        OPERATOR,
    ]:
        assert username in output
    assert DEMO_PASSWORD in output
    assert keycloak.admin_console_url in output
