"""ip's authenticity events on the museum dashboard, end to end against real
Kafka and the real store: a running ip issues certificates for a paid order,
counts public checks and takes counterfeit reports (events through its
outbox); a running analytics projects them in its batch fold; the dashboard
API and page (headless Chromium) show the museum's checks, revoked and
unknown serials seen, and reports for the period, and no other museum's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import httpx
import playwright.async_api as playwright_api  # requirements-dev; never `playwright install`
import pytest

from ip.serials import derive_serial
from tests.analytics.helpers import museum_token
from tests.analytics.test_dashboard_page import (  # the same browser tooling
    CHROMIUM,
    CHROMIUM_ARGS,
    _require_chromium,
    echarts_bundle,  # noqa: F401  (a fixture)
)
from tests.conftest import Infra
from tests.ip.conftest import Feed, Ip, _wait_ready
from tests.ip.test_certificates import _certs, _world
from tests.support import eventually, unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]

CHINA = timezone(timedelta(hours=8))


async def _dashboard(service: object, museum_id: str, day: str) -> dict:
    async with service.client(museum_token(museum_id)) as client:  # type: ignore[attr-defined]
        response = await client.get(
            f"/museums/{museum_id}/dashboard", params={"from": day, "to": day}
        )
        assert response.status_code == 200, response.text
        return response.json()


@pytest.mark.usefixtures("echarts_bundle")
async def test_a_report_shows_up_on_the_museums_dashboard(infra: Infra, run_service) -> None:
    _require_chromium()
    ip_process = run_service("ip")
    analytics = run_service("analytics")
    _wait_ready(ip_process)
    ip = Ip(ip_process, Feed(infra.kafka_bootstrap))
    museum, licensee, relic, license_id = await _world(ip)
    order_id, _ = await ip.pay(license_id, licensee, relic, museum, quantity=2, unit_price_fen=600)
    await _certs(ip, order_id, 2)
    await ip.refund(order_id, license_id, licensee, relic, museum, quantity=1, amount_fen=600)
    by_unit = {c["unit"]: c["serial"] for c in await _certs(ip, order_id, 2, revoked=1)}
    forged = derive_serial(b"a forger", unique("cert"))

    async with httpx.AsyncClient(base_url=ip_process.url, timeout=10) as public:
        for path in (f"/certificates/{by_unit[1]}", f"/verify/{by_unit[1]}"):
            assert (await public.get(path)).status_code == 200
        assert (await public.get(f"/certificates/{by_unit[2]}")).status_code == 200  # revoked
        assert (await public.get(f"/verify/{forged}")).status_code == 404  # no museum: platform
        reported = await public.post(
            "/reports",
            json={"serial": forged, "museum_id": museum, "where_seen": "a street stall"},
        )
        assert reported.status_code == 201, reported.text
        genuine = await public.post("/reports", json={"serial": by_unit[1], "where_seen": "shop"})
        assert genuine.status_code == 201, genuine.text

    day = datetime.now(UTC).astimezone(CHINA).date().isoformat()
    expected = {
        "cert_verifications": 3,
        "cert_revoked_seen": 1,
        "cert_unknown_seen": 1,
        "counterfeit_reports": 2,
    }

    async def shown() -> bool:
        return (await _dashboard(analytics, museum, day))["authenticity"] == expected

    await eventually(shown, timeout=120, what="the museum's dashboard shows the reports")

    # another museum's dashboard counts none of them
    other = (await _dashboard(analytics, unique("museum"), day))["authenticity"]
    assert set(other.values()) == {0}

    # the page shows the API's figures
    url = f"{analytics.url}/dashboard?from={day}&to={day}&lang=en#token={museum_token(museum)}"
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1500})
            await page.goto(url)  # the museum comes from the token (/me)
            await page.wait_for_selector("#status[data-state=ready]", timeout=15_000)
            figures = await page.eval_on_selector_all(
                "[data-auth]",
                "els => Object.fromEntries(els.map(e => [e.dataset.auth, e.textContent]))",
            )
            assert figures == {k: str(v) for k, v in expected.items()}
            heading = await page.text_content("#authenticity h2")
            assert heading == "Authenticity and counterfeits"
        finally:
            await browser.close()
