"""The /dashboard page signs in through a real OpenID provider: Keycloak's own
login form in headless Chromium (Debian's, driven by Playwright, as in
tests/analytics/test_dashboard_page.py), against a real analytics process in
production mode (only the issuer's tokens count) with DASHBOARD_OIDC_AUTHORITY.

A museum user signs in through the form and sees its museum's figures, and only
its museum's; no token is ever in a URL, none in localStorage; the page renews
its short-lived access token with the refresh token and keeps working past the
first token's lifetime; signing out ends the provider's session and the page's
API calls. An operator picks any museum. In production the development
`#token=` link is ignored.

The `rebirth-dashboard` client of the session's Keycloak is pointed at this
test's analytics port, with a short access token lifetime, for this module
only (restored afterwards).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
from keycloak import AUDIENCE, Keycloak

from servicekit.auth import Principal, Role, TokenService
from servicekit.settings import ServiceSettings
from tests.analytics.scenario import DAY, NEXT, Scenario, publish
from tests.analytics.test_dashboard_page import CHROMIUM, CHROMIUM_ARGS, _require_chromium
from tests.conftest import Infra
from tests.support import ROOT, ServiceProcess, eventually, unique

pytestmark = [pytest.mark.infra, pytest.mark.keycloak, pytest.mark.asyncio]

import playwright.async_api as playwright_api  # noqa: E402  (requirements-dev; never `playwright install`)

STATIC = ROOT / "services" / "analytics" / "src" / "analytics" / "static"
CLIENT = "rebirth-dashboard"
LIFETIME_SECONDS = 15  # the access token's, for this test (the realm's is 300)
PASSWORD = secrets.token_urlsafe(16)  # of the users made here; nothing to commit
RANGE = f"from={DAY}&to={NEXT}"


@dataclass
class World:
    keycloak: Keycloak
    analytics: ServiceProcess
    museum: Scenario  # its staff user signs in
    other: Scenario  # another museum, with figures of its own
    staff: str
    operator: str
    ops_token: str  # client credentials (rebirth-ops): reads any museum

    async def dashboard(self, museum_id: str, token: str | None = None) -> httpx.Response:
        async with self.analytics.client(token or self.ops_token) as client:
            return await client.get(f"/museums/{museum_id}/dashboard?{RANGE}")


@pytest.fixture(scope="module")
def bundles() -> None:
    """The page's scripts are built from npm, not committed: build them if missing."""
    if not (STATIC / "oidc-client-ts.min.js").exists() or not (STATIC / "echarts.min.js").exists():
        script = ROOT / "services" / "analytics" / "scripts" / "build_static.sh"
        subprocess.run([str(script)], check=True)
    _require_chromium()


@pytest.fixture(scope="module")
def service(infra: Infra, keycloak: Keycloak) -> Iterator[ServiceProcess]:
    """A real analytics process in production mode, signing its page in with
    Keycloak; the realm's dashboard client points at it, its access tokens
    short-lived (as it was again afterwards)."""
    issuer = {"issuer": keycloak.issuer, "audience": AUDIENCE, "leeway_seconds": 0}
    process = ServiceProcess(
        "analytics",
        {
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
            "MONGODB_URL": infra.mongodb_url,
            "ENVIRONMENT": "production",
            "JWT_SECRET": secrets.token_urlsafe(48),
            # no leeway: a token past its lifetime is refused at once
            "OIDC_ISSUERS": json.dumps([issuer]),
            "DASHBOARD_OIDC_AUTHORITY": keycloak.issuer,
            "DASHBOARD_OIDC_CLIENT_ID": CLIENT,
        },
    )
    path = f"/clients/{keycloak.client_uuid(CLIENT)}"
    status, original = keycloak.admin("GET", path)
    assert status == 200, original
    assert isinstance(original, dict)
    changed = {
        **original,
        "redirectUris": [f"{process.url}/*"],
        "webOrigins": [process.url],
        "attributes": {**original["attributes"], "access.token.lifespan": str(LIFETIME_SECONDS)},
    }
    status, answer = keycloak.admin("PUT", path, changed)
    assert status == 204, answer
    yield process
    keycloak.admin("PUT", path, original)
    process.stop()


@pytest.fixture(scope="module")
def world(infra: Infra, keycloak: Keycloak, service: ServiceProcess) -> World:
    museum, other = Scenario.scripted_day(), Scenario.co_owned_day()
    asyncio.run(publish(infra.kafka_bootstrap, museum.all_events() + other.all_events()))
    staff, operator = unique("staff"), unique("ops")
    keycloak.add_user(staff, PASSWORD, ["museum"], museum_id=museum.museum_id)
    keycloak.add_user(operator, PASSWORD, ["operator"])
    # the operators' client as it is (read, not rotated: other modules use it too)
    path = f"/clients/{keycloak.client_uuid('rebirth-ops')}/client-secret"
    status, secret = keycloak.admin("GET", path)
    assert status == 200, secret
    assert isinstance(secret, dict)
    ops = keycloak.client_credentials("rebirth-ops", str(secret["value"]))
    world = World(keycloak, service, museum, other, staff, operator, str(ops["access_token"]))

    async def projected() -> bool:
        for scenario in (museum, other):
            response = await world.dashboard(scenario.museum_id)
            assert response.status_code == 200, response.text
            totals = response.json()["totals"]
            if any(totals[k] != v for k, v in scenario.expected_totals().items()):
                return False
        return True

    asyncio.run(eventually(projected, timeout=60, what="both museums projected"))
    return world


@dataclass
class Traffic:
    """What the page did: every URL it went to or asked for, the tokens the
    provider gave it, and what it sent to the provider's token endpoint."""

    token_url: str
    urls: list[str] = field(default_factory=list)
    bearers: list[tuple[str, str]] = field(default_factory=list)  # (url, token)
    grants: list[str] = field(default_factory=list)  # grant_type of each token call
    tokens: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)  # page errors, CSP violations

    def watch(self, page: Any) -> None:
        page.on("framenavigated", lambda frame: self.urls.append(frame.url))
        page.on("request", self._request)
        page.on("response", self._response)
        page.on("pageerror", lambda error: self.problems.append(str(error)))
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.problems.append(message.text)

    def _request(self, request: Any) -> None:
        self.urls.append(request.url)
        authorization = request.headers.get("authorization", "")
        if authorization.startswith("Bearer "):
            self.bearers.append((request.url, authorization.removeprefix("Bearer ")))
        if request.url == self.token_url and request.method == "POST":
            form = dict(pair.split("=", 1) for pair in (request.post_data or "").split("&") if pair)
            self.grants.append(form.get("grant_type", ""))

    async def _response(self, response: Any) -> None:
        if response.url == self.token_url and response.ok:
            body = await response.json()
            self.tokens |= {
                str(body[k]) for k in ("access_token", "refresh_token", "id_token") if k in body
            }

    def api_bearers(self, path: str) -> list[str]:
        return [token for url, token in self.bearers if path in url]


async def _browser(p: Any) -> Any:
    return await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


async def _sign_in_through_the_form(page: Any, world: World, username: str) -> None:
    await page.click("#sign-in")
    await page.wait_for_url(f"{world.keycloak.url}/**")  # the provider's own login form
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#kc-login")
    await page.wait_for_url(f"{world.analytics.url}/dashboard**")
    await page.wait_for_selector("#status[data-state=ready]", timeout=15_000)


async def _kpis(page: Any) -> dict[str, int]:
    return await page.eval_on_selector_all(
        "[data-kpi]", "els => Object.fromEntries(els.map(e => [e.dataset.kpi, +e.dataset.value]))"
    )


async def _stored_user(page: Any, world: World) -> dict[str, Any] | None:
    key = f"oidc.user:{world.keycloak.issuer}:{CLIENT}"
    stored = await page.evaluate(f"() => sessionStorage.getItem({json.dumps(key)})")
    return json.loads(stored) if stored else None


def _expires_at(token: str) -> int:
    return int(jwt.decode(token, options={"verify_signature": False})["exp"])


@pytest.mark.usefixtures("bundles")
async def test_a_museum_user_signs_in_renews_and_signs_out(world: World) -> None:
    keycloak, analytics, museum = world.keycloak, world.analytics, world.museum
    traffic = Traffic(keycloak.token_url)
    # in production the development link is ignored (a token the page must not use)
    dev_link = TokenService(ServiceSettings()).mint(Principal("ops-1", Role.OPERATOR))
    own_page = f"{analytics.url}/dashboard?{RANGE}&lang=en"

    async with playwright_api.async_playwright() as p:
        browser = await _browser(p)
        try:
            page = await browser.new_page()
            traffic.watch(page)
            first = await page.goto(f"{own_page}#token={dev_link}")
            # the strict CSP, opened to the provider for its token calls and sign-out
            csp = first.headers["content-security-policy"]
            assert f"connect-src 'self' {keycloak.url};" in csp
            assert f"form-action 'self' {keycloak.url};" in csp
            assert "script-src 'self';" in csp
            assert "default-src 'none'" in csp

            # signed out: the link's token is gone from the URL and was never used
            await page.wait_for_selector("#status[data-state=signed-out]")
            assert page.url == own_page
            assert await page.text_content("#status") == "Sign in to see the dashboard"
            assert await page.is_visible("#sign-in")
            assert traffic.bearers == []

            # through Keycloak's login form, back on the page with its own query
            await _sign_in_through_the_form(page, world, world.staff)
            assert page.url == own_page  # the code and state are out of the URL
            assert await page.text_content("#who") == world.staff
            assert await page.input_value("#museum") == museum.museum_id
            assert await page.eval_on_selector("#museum", "e => e.readOnly")  # its museum only
            api = (await world.dashboard(museum.museum_id)).json()
            assert await _kpis(page) == {k: api["totals"][k] for k in await _kpis(page)}
            assert await page.text_content("h1 small") == "Sanxingdui Test Museum"
            assert traffic.grants[:1] == ["authorization_code"]

            # its token reads its museum and nothing else
            (first_token,) = set(traffic.api_bearers("/museums/"))
            refused = await world.dashboard(world.other.museum_id, first_token)
            assert refused.status_code == 403, refused.text
            assert traffic.api_bearers(world.other.museum_id) == []

            # past the first token's lifetime the page still works: renewed by
            # refresh token (no iframe), while the first token is refused now
            await page.wait_for_function(
                f"() => Date.now() / 1000 > {_expires_at(first_token)}",
                timeout=(LIFETIME_SECONDS + 10) * 1000,
            )
            assert (await world.dashboard(museum.museum_id, first_token)).status_code == 401
            async with page.expect_response(lambda r: "/museums/" in r.url) as answer:
                await page.click("#controls button[type=submit]")
            assert (await answer.value).status == 200
            await page.wait_for_selector("#status[data-state=ready]")
            renewed = traffic.api_bearers("/museums/")[-1]
            assert renewed != first_token
            assert _expires_at(renewed) > _expires_at(first_token)
            assert "refresh_token" in traffic.grants
            assert set(traffic.grants) == {"authorization_code", "refresh_token"}
            assert len(page.frames) == 1
            assert await _kpis(page) == {k: api["totals"][k] for k in await _kpis(page)}

            # the tokens are in sessionStorage (the library's user), never in localStorage
            user = await _stored_user(page, world)
            assert user is not None
            assert user["access_token"] == renewed
            local = await page.evaluate("() => JSON.stringify({...localStorage})")
            assert json.loads(local) == {"dashboard.lang": "en"}

            # sign-out ends the provider's session and lands on the signed-out page
            last_refresh = str(user["refresh_token"])
            signed_in = len(traffic.urls)
            await page.click("#sign-out")
            await page.wait_for_url(f"{analytics.url}/dashboard")
            await page.wait_for_selector("#status[data-state=signed-out]")
            assert await page.is_visible("#sign-in")
            assert await _stored_user(page, world) is None
            status, body = keycloak.request(
                "POST",
                keycloak.token_url,
                form={
                    "grant_type": "refresh_token",
                    "client_id": CLIENT,
                    "refresh_token": last_refresh,
                },
            )
            assert status == 400
            assert isinstance(body, dict)
            assert body["error"] == "invalid_grant"
            # the page's API calls stop: the signed-out page has no token to send
            since = [url.removeprefix(analytics.url) for url in traffic.urls[signed_in:]]
            assert [path for path in since if path.startswith(("/me", "/museums/"))] == []

            # no token was ever in a URL: not the page's, not the provider's
            assert len(traffic.tokens) >= 4  # the first three, and renewed ones
            leaked = [url for url in traffic.urls for token in traffic.tokens if token in url]
            assert leaked == []
            assert [url for url in traffic.urls if "token=" in url and dev_link not in url] == []
            assert traffic.problems == []
        finally:
            await browser.close()


@pytest.mark.usefixtures("bundles")
async def test_an_operator_picks_any_museum(world: World) -> None:
    museum, other = world.museum, world.other
    async with playwright_api.async_playwright() as p:
        browser = await _browser(p)
        try:
            page = await browser.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(str(error)))
            await page.goto(
                f"{world.analytics.url}/dashboard?{RANGE}&lang=en&museum={museum.museum_id}"
            )
            await page.wait_for_selector("#status[data-state=signed-out]")
            await _sign_in_through_the_form(page, world, world.operator)
            assert await page.input_value("#museum") == museum.museum_id  # the link's
            assert not await page.eval_on_selector("#museum", "e => e.readOnly")
            shown = await _kpis(page)
            api = (await world.dashboard(museum.museum_id)).json()
            assert shown == {k: api["totals"][k] for k in shown}

            # another museum, picked on the page: its figures (not the first's)
            others = (await world.dashboard(other.museum_id)).json()
            want = {k: others["totals"][k] for k in shown}
            assert want != shown
            await page.fill("#museum", other.museum_id)
            async with page.expect_response(lambda r: "/museums/" in r.url) as answer:
                await page.click("#controls button[type=submit]")
            assert (await answer.value).status == 200
            await page.wait_for_function(
                """want => Object.entries(want).every(([kpi, value]) =>
                    document.querySelector(`[data-kpi=${kpi}]`).dataset.value === String(value))""",
                arg=want,
            )
            assert problems == []
        finally:
            await browser.close()
