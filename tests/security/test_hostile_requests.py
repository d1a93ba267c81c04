"""Hostile requests against real running services: bad JWTs (expired, forged,
alg=none, HS/RS confusion) get 401, oversized bodies 413, checkout and
payment floods 429 with Retry-After, all as problem+json; and the dashboard
page carries its security headers, which the browser enforces."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from servicekit.auth import Principal, Role, TokenService
from servicekit.settings import ServiceSettings
from tests.conftest import Infra
from tests.reliability.helpers import orders_overrides, wait_ready
from tests.support import ROOT, ServiceProcess, unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]

PROBLEM = "application/problem+json"
HS = ServiceSettings()  # what the services run with: the test env's HS256 secret
TOKENS = TokenService(HS)
# one authenticated route per service, and one that takes a body
GUARDED = {
    "catalog": ("PATCH", "/museums/nope", {"city": "x"}),
    "orders": ("GET", "/orders", None),
    "ip": ("GET", "/holders", None),
    "analytics": ("GET", "/me", None),
}
BODY_ROUTES = {
    "catalog": "/relics",
    "orders": "/payments/webhooks/sandbox",  # no token needed: the limit comes first
    "ip": "/holders",
    "analytics": "/replays",
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "sub": unique("mallory"),
        "role": "operator",
        "iss": HS.jwt_issuer,
        "aud": HS.jwt_audience,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=1)).timestamp()),
        **overrides,
    }


def _unsigned(claims: dict[str, Any]) -> str:
    """alg=none: no signature at all."""
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


def _hs256_with(key: bytes, claims: dict[str, Any]) -> str:
    """HS256 by hand (PyJWT refuses a PEM as an HMAC key, which is the point)."""
    signing_input = ".".join(
        [
            _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()),
            _b64(json.dumps(claims).encode()),
        ]
    )
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _rsa_pems() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


async def _send(process: ServiceProcess, token: str, route: tuple[str, str, Any]) -> httpx.Response:
    method, path, body = route
    async with process.client(token) as client:
        return await client.request(method, path, json=body)


def _assert_401(response: httpx.Response, what: str) -> None:
    assert response.status_code == 401, (what, response.status_code, response.text)
    assert response.headers["content-type"] == PROBLEM, what
    assert response.headers["www-authenticate"] == "Bearer", what


async def test_expired_forged_unsigned_and_other_algorithm_tokens_get_401(
    run_service: Any,
) -> None:
    services = {name: run_service(name) for name in GUARDED}
    private_pem, public_pem = _rsa_pems()
    attacker_private, _ = _rsa_pems()
    hostile = {
        "expired": TOKENS.mint(Principal("x", Role.OPERATOR), ttl=timedelta(seconds=-30)),
        "forged (another secret)": jwt.encode(
            _claims(), "not-the-platforms-secret-0123456789abcdef", algorithm="HS256"
        ),
        "alg=none": _unsigned(_claims()),
        "RS256 to an HS256 service": jwt.encode(_claims(), attacker_private, algorithm="RS256"),
        "garbage": "not.a.jwt",
    }
    valid = TOKENS.mint(Principal(unique("op"), Role.OPERATOR))
    for name, process in services.items():
        control = await _send(process, valid, GUARDED[name])
        assert control.status_code != 401, (name, control.text)  # the route takes a good token
        for what, token in hostile.items():
            _assert_401(await _send(process, token, GUARDED[name]), f"{name}: {what}")

    # the classic confusion: a service on RS256 must not accept HS256 signed
    # with its own public key (which anyone may know) as the HMAC secret
    rs = run_service(
        "ip",
        JWT_ALGORITHM="RS256",
        JWT_PUBLIC_KEY=public_pem,
        JWT_PRIVATE_KEY=private_pem,
    )
    rs_tokens = TokenService(
        ServiceSettings(
            jwt_algorithm="RS256", jwt_public_key=public_pem, jwt_private_key=private_pem
        )
    )
    route = GUARDED["ip"]
    good = await _send(rs, rs_tokens.mint(Principal(unique("op"), Role.OPERATOR)), route)
    assert good.status_code == 200, good.text
    for what, token in {
        "HS256 keyed with the public key": _hs256_with(public_pem.encode(), _claims()),
        "HS256 with the platform's HS secret": TOKENS.mint(Principal("x", Role.OPERATOR)),
        "alg=none": _unsigned(_claims()),
        "RS256 by another key": jwt.encode(_claims(), attacker_private, algorithm="RS256"),
        "expired RS256": rs_tokens.mint(Principal("x", Role.OPERATOR), ttl=timedelta(seconds=-30)),
    }.items():
        _assert_401(await _send(rs, token, route), f"RS256 ip: {what}")


async def test_oversized_bodies_get_413_declared_or_streamed(run_service: Any) -> None:
    services = {name: run_service(name) for name in BODY_ROUTES}
    limit = HS.max_body_bytes
    payload = json.dumps({"name": "x" * (limit + 1)}).encode()

    async def streamed() -> Any:  # chunked: no Content-Length to refuse up front
        for start in range(0, len(payload), 65_536):
            yield payload[start : start + 65_536]

    for name, path in BODY_ROUTES.items():
        async with services[name].client() as client:
            for how, body in (("declared", payload), ("streamed", None)):
                response = await client.post(
                    path,
                    content=body if body is not None else streamed(),
                    headers={"Content-Type": "application/json"},
                )
                assert response.status_code == 413, (name, how, response.text[:200])
                assert response.headers["content-type"] == PROBLEM, (name, how)
                assert response.json()["status"] == 413
            # a body under the limit is not refused for its size
            small = await client.post(path, json={"name": "x"})
            assert small.status_code != 413, (name, small.text)


async def test_checkout_and_payment_floods_get_429_with_retry_after(
    infra: Infra, run_service: Any
) -> None:
    orders = run_service(
        "orders",
        **orders_overrides(infra, ORDERS_CHECKOUT_RATE="3/minute", ORDERS_PAYMENT_RATE="3/minute"),
    )
    await wait_ready(orders)
    alice = TOKENS.mint(Principal(unique("alice"), Role.TOURIST))
    bob = TOKENS.mint(Principal(unique("bob"), Role.TOURIST))
    checkout = {"lines": [{"product_id": "prd-none", "quantity": 1}], "email": "g@example.com"}

    async def place(token: str | None) -> httpx.Response:
        async with orders.client(token) as client:
            return await client.post(
                "/orders", json=checkout, headers={"Idempotency-Key": unique("key")}
            )

    async def pay(token: str | None) -> httpx.Response:
        async with orders.client(token) as client:
            return await client.post(
                "/orders/ord-none/payments", json={"card_token": "tok_sandbox_approve"}
            )

    for attempt in (place, pay):
        first = [await attempt(alice) for _ in range(3)]
        assert all(400 <= r.status_code < 500 and r.status_code != 429 for r in first), [
            (r.status_code, r.text) for r in first
        ]
        refused = await attempt(alice)
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"] == PROBLEM
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.json()["status"] == 429
        # the limit is per caller: bob, and a guest (by address), still get through
        assert (await attempt(bob)).status_code != 429
        guests = [(await attempt(None)).status_code for _ in range(4)]
        assert 429 not in guests[:3], guests
        assert guests[3] == 429, guests


async def test_the_dashboard_page_sends_security_headers_the_browser_enforces(
    run_service: Any,
) -> None:
    analytics = run_service("analytics")
    async with analytics.client() as client:
        page = await client.get("/dashboard")
    assert page.status_code == 200
    csp = {d.split()[0]: d.split()[1:] for d in page.headers["content-security-policy"].split("; ")}
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]  # no inline script, no eval, no other origin
    assert csp["default-src"] == ["'none'"]
    assert "'unsafe-inline'" not in csp["style-src"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-frame-options"] == "DENY"
    # what the policy relies on: the template has no inline script or handler
    template = (ROOT / "services/analytics/src/analytics/templates/dashboard.html").read_text()
    assert template.count("<script") == template.count("<script src="), "inline <script>"
    assert re.search(r"\son[a-z]+\s*=", template) is None, "inline event handler"

    # the browser loads the page under that policy without a violation, and
    # refuses script injected inline
    import playwright.async_api as playwright_api  # requirements-dev; Debian's chromium

    from tests.analytics.test_dashboard_page import CHROMIUM, CHROMIUM_ARGS, _require_chromium

    _require_chromium()
    token = TOKENS.mint(Principal(unique("staff"), Role.MUSEUM, museum_id=unique("museum")))
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            tab = await browser.new_page()
            await tab.add_init_script(
                "window.__violations = [];"
                "document.addEventListener('securitypolicyviolation',"
                " (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
            )
            await tab.goto(f"{analytics.url}/dashboard?lang=en#token={token}")
            await tab.wait_for_selector("#status[data-state=ready], #status[data-state=error]")
            assert await tab.evaluate("typeof echarts") == "object"  # /static scripts ran
            assert await tab.text_content("[data-i18n=net_fen]") == "Net sales"
            assert await tab.evaluate("window.__violations") == []
            await tab.evaluate(
                "document.body.insertAdjacentHTML('beforeend',"
                ' \'<img src="/nope.png" onerror="window.__pwned = 1">\')'
            )
            await tab.wait_for_function("window.__violations.length > 0")
            assert await tab.evaluate("window.__pwned") is None
            assert any(
                v.startswith("script-src") for v in await tab.evaluate("window.__violations")
            )
        finally:
            await browser.close()
