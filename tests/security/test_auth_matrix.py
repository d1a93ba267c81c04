"""The auth matrix: every route of every service, tried by each of anonymous,
a tourist, museum A, museum B, a licensee and an operator, against real data
made through the APIs (tests/security/world.py). Each cell's expected status is
declared in MATRIX below; the routes come from each running service's
/openapi.json, so a new route without a row fails the test.

Requests target museum A's, the licensee's and the tourist's resources, so the
museum B column is another tenant reaching for them: it never reads A's ledger,
statements or dashboard. The tourist column never writes to the catalog, and
the licensee sees only its own licenses (the other licensee's license is its
own row, and list routes are checked for what they show)."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import Infra
from tests.ip.conftest import license_body
from tests.reliability.helpers import orders_overrides, wait_ready
from tests.security.world import APPROVE, PRINCIPALS, World
from tests.support import unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]

# 401: no (valid) token. 403: the role may not. 404: "no such thing, or not
# yours": the service does not confirm that another tenant's id exists.
# Worth knowing: orders answers an anonymous GET /orders 403 (guests hold order
# tokens, not accounts); a tourist may refund its own paid order; POST /assets
# by museum B makes B's own asset (a museum's body museum_id is ignored); a
# tourist reads no ip asset (ownership splits are the holders' business), but
# the certificates of an order it paid for.
# fmt: off
MATRIX: dict[str, list[tuple[str, str, int, int, int, int, int, int]]] = {
    "catalog": [
        # method  path                                        anon tour musA musB lic  op
        ("GET",    "/healthz",                                   200, 200, 200, 200, 200, 200),
        ("GET",    "/readyz",                                    200, 200, 200, 200, 200, 200),
        ("GET",    "/metrics",                                   200, 200, 200, 200, 200, 200),
        ("POST",   "/museums",                                   401, 403, 403, 403, 403, 201),
        ("GET",    "/museums",                                   200, 200, 200, 200, 200, 200),
        ("GET",    "/museums/{museum_id}",                       200, 200, 200, 200, 200, 200),
        ("PATCH",  "/museums/{museum_id}",                       401, 403, 403, 403, 403, 200),
        # staff management: musA is plain staff (no museum-admin); no provider here: 503
        ("GET",    "/museums/{museum_id}/staff",                 401, 403, 403, 403, 403, 503),
        ("POST",   "/museums/{museum_id}/staff",                 401, 403, 403, 403, 403, 503),
        ("DELETE", "/museums/{museum_id}/staff/{user_id}",       401, 403, 403, 403, 403, 503),
        ("GET",    "/museums/{museum_id}/products",              200, 200, 200, 200, 200, 200),
        ("POST",   "/relics",                                    401, 403, 201, 403, 403, 201),
        ("GET",    "/relics",                                    200, 200, 200, 200, 200, 200),
        ("POST",   "/relics:import",                             401, 403, 201, 403, 403, 201),
        ("GET",    "/relics/{relic_id}",                         200, 200, 200, 200, 200, 200),
        ("PATCH",  "/relics/{relic_id}",                         401, 403, 200, 403, 403, 200),
        ("POST",   "/relics/{relic_id}/assets",                  401, 403, 201, 403, 403, 201),
        ("GET",    "/relics/{relic_id}/products",                200, 200, 200, 200, 200, 200),
        ("POST",   "/products",                                  401, 403, 403, 403, 201, 201),
        ("GET",    "/products",                                  200, 200, 200, 200, 200, 200),
        ("GET",    "/products/{product_id}",                     200, 200, 200, 200, 200, 200),
        ("PATCH",  "/products/{product_id}",                     401, 403, 403, 403, 200, 200),
        ("POST",   "/products/{product_id}/activate",            401, 403, 403, 403, 200, 200),
        ("POST",   "/products/{product_id}/retire",              401, 403, 403, 403, 200, 200),
        ("PUT",    "/products/{product_id}/stock",               401, 403, 403, 403, 200, 200),
        ("POST",   "/products/{product_id}/stock/adjustments",   401, 403, 403, 403, 200, 200),
    ],
    "orders": [
        # method  path                                        anon tour musA musB lic  op
        ("GET",    "/healthz",                                   200, 200, 200, 200, 200, 200),
        ("GET",    "/readyz",                                    200, 200, 200, 200, 200, 200),
        ("GET",    "/metrics",                                   200, 200, 200, 200, 200, 200),
        ("GET",    "/products/{product_id}",                     200, 200, 200, 200, 200, 200),
        ("POST",   "/carts",                                     201, 201, 403, 403, 403, 403),
        ("GET",    "/carts/{cart_id}",                           404, 200, 404, 404, 404, 404),
        ("PUT",    "/carts/{cart_id}/lines/{product_id}",        404, 200, 404, 404, 404, 404),
        ("DELETE", "/carts/{cart_id}/lines/{product_id}",        404, 200, 404, 404, 404, 404),
        ("POST",   "/orders",                                    201, 201, 403, 403, 403, 403),
        ("GET",    "/orders",                                    403, 200, 403, 403, 200, 200),
        ("GET",    "/orders/{order_id}",                         404, 200, 404, 404, 200, 200),
        ("POST",   "/orders/{order_id}/cancel",                  404, 200, 404, 404, 403, 200),
        ("POST",   "/orders/{order_id}/payments",                404, 201, 404, 404, 403, 201),
        ("POST",   "/payments/webhooks/sandbox",                 401, 401, 401, 401, 401, 401),
        # the sandbox provider's own controls (a stand-in bank's console; off in production)
        ("GET",    "/payments/sandbox/charges/{provider_ref}",   401, 403, 403, 403, 403, 200),
        ("POST",   "/payments/sandbox/charges/{provider_ref}/{verdict}",
                                                                 401, 403, 403, 403, 403, 200),
        ("POST",   "/orders/{order_id}/refunds",                 404, 201, 404, 404, 403, 201),
        ("POST",   "/orders/{order_id}/lines/{line_id}/ship",    404, 403, 404, 404, 200, 200),
        ("POST",   "/orders/{order_id}/lines/{line_id}/fulfil",  404, 403, 404, 404, 200, 200),
    ],
    "ip": [
        # method  path                                        anon tour musA musB lic  op
        ("GET",    "/healthz",                                   200, 200, 200, 200, 200, 200),
        ("GET",    "/readyz",                                    200, 200, 200, 200, 200, 200),
        ("GET",    "/metrics",                                   200, 200, 200, 200, 200, 200),
        ("GET",    "/holders",                                   401, 403, 200, 200, 403, 200),
        ("POST",   "/holders",                                   401, 403, 201, 201, 403, 201),
        ("GET",    "/holders/{holder_id}",                       401, 404, 200, 404, 404, 200),
        ("PUT",    "/holders/{holder_id}/payout-details",        401, 404, 200, 404, 404, 200),
        ("GET",    "/assets",                                    401, 403, 200, 200, 200, 200),
        ("POST",   "/assets",                                    401, 403, 201, 201, 403, 201),
        ("GET",    "/assets/{asset_id}",                         401, 403, 200, 404, 200, 200),
        ("PUT",    "/assets/{asset_id}/ownership",               401, 403, 200, 404, 403, 200),
        ("POST",   "/assets/{asset_id}/registrations",           401, 403, 201, 404, 403, 201),
        ("GET",    "/registrations/expiring",                    401, 403, 200, 200, 403, 200),
        ("POST",   "/licenses",                                  401, 403, 403, 403, 201, 403),
        ("GET",    "/licenses",                                  401, 403, 200, 200, 200, 200),
        ("GET",    "/licenses/{license_id}",                     401, 404, 200, 404, 200, 200),
        ("GET",    "/licenses/{other_license_id}",               401, 404, 404, 200, 404, 200),
        ("POST",   "/licenses/{license_id}/{action}",            401, 404, 200, 404, 403, 200),
        ("GET",    "/holders/{holder_id}/ledger",                401, 404, 200, 404, 404, 200),
        ("GET",    "/holders/{holder_id}/balance",               401, 404, 200, 404, 404, 200),
        ("GET",    "/licensees/{licensee_id}/payables",          401, 404, 404, 404, 200, 200),
        ("GET",    "/ledger/trial-balance",                      401, 403, 403, 403, 403, 200),
        ("GET",    "/ledger/postings/{posting_id}",              401, 404, 200, 404, 200, 200),
        ("GET",    "/ledger/unmatched",                          401, 403, 403, 403, 403, 200),
        ("POST",   "/payouts",                                   401, 403, 403, 403, 403, 201),
        ("GET",    "/periods",                                   401, 403, 200, 200, 403, 200),
        ("POST",   "/periods/{period}/close",                    401, 403, 403, 403, 403, 200),
        ("GET",    "/holders/{holder_id}/statements",            401, 404, 200, 404, 404, 200),
        ("GET",    "/statements/{statement_id}",                 401, 404, 200, 404, 404, 200),
        ("GET",    "/statements/{statement_id}/lines",           401, 404, 200, 404, 404, 200),
        ("GET",    "/statements/{statement_id}/csv",             401, 404, 200, 404, 404, 200),
        ("GET",    "/holders/{holder_id}/statements/current",    401, 404, 200, 404, 404, 200),
        ("PUT",    "/licenses/{license_id}/approval-reference",  401, 404, 200, 404, 403, 200),
        ("GET",    "/.well-known/jwks.json",                     200, 200, 200, 200, 200, 200),
        ("GET",    "/certificates/{serial}",                     200, 200, 200, 200, 200, 200),
        ("GET",    "/certificates/{serial}/signed",              200, 200, 200, 200, 200, 200),
        ("GET",    "/orders/{order_id}/certificates",            401, 200, 200, 404, 200, 200),
        ("GET",    "/certificates/{serial}/qr.svg",              200, 200, 200, 200, 200, 200),
        ("GET",    "/certificates/{serial}/qr.png",              200, 200, 200, 200, 200, 200),
        ("GET",    "/verify/{serial}",                           200, 200, 200, 200, 200, 200),
        ("POST",   "/reports",                                   201, 201, 201, 201, 201, 201),
        ("GET",    "/museums/{museum_id}/reports",               401, 404, 200, 404, 404, 200),
    ],
    "analytics": [
        # method  path                                        anon tour musA musB lic  op
        ("GET",    "/healthz",                                   200, 200, 200, 200, 200, 200),
        ("GET",    "/readyz",                                    200, 200, 200, 200, 200, 200),
        ("GET",    "/metrics",                                   200, 200, 200, 200, 200, 200),
        ("GET",    "/dashboard",                                 200, 200, 200, 200, 200, 200),
        ("GET",    "/me",                                        401, 200, 200, 200, 200, 200),
        ("GET",    "/museums/{museum_id}/dashboard",             401, 403, 200, 403, 403, 200),
        ("GET",    "/museums/{museum_id}/export/{table}.csv",    401, 403, 200, 403, 403, 200),
        ("GET",    "/overview",                                  401, 403, 403, 403, 403, 200),
        ("GET",    "/replays/{version}",                         401, 403, 403, 403, 403, 200),
        ("POST",   "/replays",                                   401, 403, 403, 403, 403, 202),
    ],
}
# fmt: on
NOT_IN_SCHEMA = {  # the HTML pages (include_in_schema=False)
    ("analytics", "GET", "/dashboard"),
    ("ip", "GET", "/verify/{}"),
}


@dataclass(frozen=True)
class Call:
    """How a row's request is made, beyond its method and path."""

    json: Callable[[World], Any] | None = None
    headers: Callable[[], dict[str, str]] | None = None
    params: Callable[[World], dict[str, str]] | None = None
    content: str | None = None
    fresh: str | None = None  # each principal gets its own new resource of this kind


def _key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def _now(days: int = 0) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


CALLS: dict[tuple[str, str, str], Call] = {
    ("catalog", "POST", "/museums"): Call(
        json=lambda _: {"name_zh": "新馆", "name_en": "New", "city": "Xi'an", "province": "Shaanxi"}
    ),
    ("catalog", "PATCH", "/museums/{museum_id}"): Call(json=lambda _: {"city": "Xi'an"}),
    ("catalog", "POST", "/museums/{museum_id}/staff"): Call(
        json=lambda _: {"username": unique("staff"), "email": "staff@example.test"}
    ),
    ("catalog", "POST", "/relics"): Call(
        json=lambda w: {
            "museum_id": w.ids["museum_a"],
            "name_zh": "玉璧",
            "name_en": "Jade disc",
            "category": "jade",
        }
    ),
    ("catalog", "POST", "/relics:import"): Call(
        params=lambda w: {"museum_id": w.ids["museum_a"]},
        headers=lambda: {"Content-Type": "text/csv"},
        content="Object Number,Title\nSEC-1,Bronze ding\n",
    ),
    ("catalog", "PATCH", "/relics/{relic_id}"): Call(json=lambda _: {"period": "Shang"}),
    ("catalog", "POST", "/relics/{relic_id}/assets"): Call(
        json=lambda _: {
            "kind": "scan",
            "uri": "https://example.org/scan.glb",
            "format": "glb",
            "checksum": "sha256:" + "0" * 64,
            "byte_size": 1,
            "license": "CC-BY-4.0",
        }
    ),
    ("catalog", "POST", "/products"): Call(json=lambda w: w.product_body()),
    ("catalog", "PATCH", "/products/{product_id}"): Call(json=lambda _: {"category": "stationery"}),
    ("catalog", "POST", "/products/{product_id}/activate"): Call(fresh="draft product"),
    ("catalog", "POST", "/products/{product_id}/retire"): Call(fresh="active product"),
    ("catalog", "PUT", "/products/{product_id}/stock"): Call(json=lambda _: {"stock": 10_000}),
    ("catalog", "POST", "/products/{product_id}/stock/adjustments"): Call(
        json=lambda _: {"delta": 1}
    ),
    ("orders", "PUT", "/carts/{cart_id}/lines/{product_id}"): Call(json=lambda _: {"quantity": 1}),
    ("orders", "POST", "/orders"): Call(
        json=lambda w: {
            "lines": [{"product_id": w.ids["product_a"], "quantity": 1}],
            "email": "guest@example.com",
        },
        headers=_key,
    ),
    ("orders", "POST", "/orders/{order_id}/cancel"): Call(fresh="confirmed order"),
    ("orders", "POST", "/orders/{order_id}/payments"): Call(
        json=lambda _: {"card_token": APPROVE}, headers=_key, fresh="confirmed order"
    ),
    ("orders", "POST", "/payments/webhooks/sandbox"): Call(json=lambda _: {"id": "evt"}),
    ("orders", "POST", "/orders/{order_id}/refunds"): Call(
        json=lambda _: {}, headers=_key, fresh="paid order"
    ),
    ("orders", "POST", "/orders/{order_id}/lines/{line_id}/ship"): Call(fresh="paid order"),
    ("orders", "POST", "/orders/{order_id}/lines/{line_id}/fulfil"): Call(fresh="shipped order"),
    ("ip", "POST", "/holders"): Call(json=lambda _: {"kind": "donor", "name": "捐赠人"}),
    ("ip", "PUT", "/holders/{holder_id}/payout-details"): Call(
        json=lambda _: {"payout_details": {"bank": "ICBC"}}
    ),
    ("ip", "POST", "/assets"): Call(
        json=lambda w: {"title": "纹样", "museum_id": w.ids["museum_a"]}
    ),
    ("ip", "PUT", "/assets/{asset_id}/ownership"): Call(
        json=lambda w: {
            "shares": [
                {"holder_id": w.ids["museum_a"], "holder_kind": "museum", "share_bps": 10_000}
            ],
            "effective_at": _now(),
        }
    ),
    ("ip", "POST", "/assets/{asset_id}/registrations"): Call(
        json=lambda _: {
            "kind": "copyright",
            "number": unique("REG"),
            "registered_at": _now(-10),
            "expires_at": _now(365),
        }
    ),
    ("ip", "POST", "/licenses"): Call(json=lambda w: license_body(w.ids["relic_a"])),
    ("ip", "POST", "/licenses/{license_id}/{action}"): Call(fresh="application"),
    ("ip", "PUT", "/licenses/{license_id}/approval-reference"): Call(
        json=lambda _: {"number": "文物博函〔2026〕1号", "approved_on": "2026-01-05"}
    ),
    ("ip", "POST", "/reports"): Call(
        json=lambda w: {"serial": w.ids["serial"], "where_seen": "a street stall"}
    ),
    ("ip", "POST", "/payouts"): Call(
        json=lambda w: {"reference": unique("PAY"), "holder_id": w.ids["museum_a"], "amount_fen": 1}
    ),
}


def _path_values(world: World) -> dict[str, str]:
    ids = world.ids
    return {
        "museum_id": ids["museum_a"],
        "relic_id": ids["relic_a"],
        "product_id": ids["product_a"],
        "cart_id": ids["cart"],
        "order_id": ids["order"],
        "line_id": ids["line"],
        "holder_id": ids["museum_a"],
        "asset_id": f"relic-{ids['relic_a']}",
        "license_id": ids["license_a"],
        "other_license_id": ids["license_b"],
        "action": "approve",
        "licensee_id": ids["licensee_a"],
        "posting_id": ids["posting"],
        "period": ids["period"],
        "statement_id": ids["statement"],
        "table": "revenue",
        "version": ids["replay"],
        "provider_ref": ids["provider_ref"],
        "verdict": "approve",
        "serial": ids["serial"],
        "user_id": str(uuid.uuid4()),
    }


def _route(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


async def _schema_routes(world: World) -> set[tuple[str, str, str]]:
    routes = set()
    for name, process in world.services.items():
        async with httpx.AsyncClient(base_url=process.url) as client:
            schema = (await client.get("/openapi.json")).json()
        for path, operations in schema["paths"].items():
            routes |= {(name, method.upper(), _route(path)) for method in operations}
    return routes


ROWS = [(service, *row) for service, rows in MATRIX.items() for row in rows]


async def _run_row(world: World, service: str, method: str, path: str) -> dict[str, httpx.Response]:
    call = CALLS.get((service, method, path), Call())
    values = _path_values(world)
    fresh = await world.fresh(call.fresh, len(PRINCIPALS)) if call.fresh else None
    answers = {}
    for n, who in enumerate(PRINCIPALS):
        filled = path.format(**(values | (fresh[n] if fresh else {})))
        answers[who] = await world.call(
            service,
            method,
            filled,
            who,
            json=call.json(world) if call.json else None,
            headers=call.headers() if call.headers else {},
            params=call.params(world) if call.params else None,
            content=call.content,
        )
    return answers


def _table(rows: list[tuple[str, str, str, dict[str, int]]]) -> str:
    return "\n".join(
        f'    ("{s}", "{m}", "{p}", ' + ", ".join(str(c[w]) for w in PRINCIPALS) + "),"
        for s, m, p, c in rows
    )


async def test_every_route_answers_every_principal_as_declared(
    infra: Infra, run_service: Any
) -> None:
    services = {
        "catalog": run_service("catalog"),
        "orders": run_service("orders", **orders_overrides(infra)),
        "ip": run_service("ip", IP_SCHEDULER_INTERVAL_S="0.5", IP_CLOSE_GRACE_S="0.1"),
        "analytics": run_service("analytics"),
    }
    await asyncio.gather(*(wait_ready(s) for s in services.values()))
    world = World(services)
    await world.build()

    # every route of every running service has a row, and every row a route
    declared = {(s, m, _route(p)) for s, m, p, *_ in ROWS}
    served = await _schema_routes(world)
    assert served - declared == set(), "routes without a row in MATRIX"
    assert declared - served - NOT_IN_SCHEMA == set(), "rows for routes no service serves"

    answers: dict[tuple[str, str, str], dict[str, httpx.Response]] = {}
    actual, wrong = [], []
    for service, method, path, *codes in ROWS:
        got = await _run_row(world, service, method, path)
        answers[(service, method, path)] = got
        statuses = {who: got[who].status_code for who in PRINCIPALS}
        actual.append((service, method, path, statuses))
        expected = dict(zip(PRINCIPALS, codes, strict=True))
        wrong += [
            f"{service} {method} {path} as {who}: {statuses[who]} (declared {expected[who]}) "
            f"{got[who].text[:200]}"
            for who in PRINCIPALS
            if statuses[who] != expected[who]
        ]
        for who in PRINCIPALS:  # every refusal is problem+json
            if statuses[who] >= 400:
                assert got[who].headers["content-type"] == "application/problem+json", path
    assert wrong == [], "\n".join(wrong) + "\n\nwhat the services answered:\n" + _table(actual)

    # 200s on lists show only what is the caller's
    licenses = answers[("ip", "GET", "/licenses")]
    assert {x["licensee_id"] for x in licenses["licensee"].json()} == {world.ids["licensee_a"]}
    assert world.ids["license_a"] not in {x["license_id"] for x in licenses["museum B"].json()}
    assert world.ids["license_a"] in {x["license_id"] for x in licenses["museum A"].json()}
    holders = answers[("ip", "GET", "/holders")]
    assert world.ids["museum_a"] not in {h["holder_id"] for h in holders["museum B"].json()}
    assets = answers[("ip", "GET", "/assets")]
    relic_asset = f"relic-{world.ids['relic_a']}"
    assert relic_asset not in {a["asset_id"] for a in assets["museum B"].json()}
    assert relic_asset in {a["asset_id"] for a in assets["museum A"].json()}
    orders = answers[("orders", "GET", "/orders")]
    assert world.ids["order"] in {o["order_id"] for o in orders["tourist"].json()["items"]}
    licensed = orders["licensee"].json()["items"]
    assert world.ids["order"] in {o["order_id"] for o in licensed}
    assert {o["view"] for o in licensed} == {"lines"}  # its own lines, not the customer
