"""The public verify page in real headless Chromium (Debian's package, driven
by Playwright, as tests/analytics/test_dashboard_page.py does), against a
running ip process fed through real Kafka: each state renders (valid,
revoked, unknown, malformed) in Chinese and English, under a strict CSP, with
nothing loaded from elsewhere; the report form stores what a visitor types
and the page shows it back as text, never as markup."""

from __future__ import annotations

from typing import Any

import playwright.async_api as playwright_api  # requirements-dev; never `playwright install`
import pytest

from ip.serials import derive_serial, format_serial
from servicekit.auth import Role
from tests.analytics.test_dashboard_page import CHROMIUM, CHROMIUM_ARGS, _require_chromium
from tests.ip.conftest import Ip, token
from tests.ip.test_certificates import _certs, _world
from tests.support import LOGS, unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]

HOSTILE = '<img src=x onerror="document.title=\'pwned\'"><script>document.title="pwned"</script>'


async def _fields(page: Any) -> dict[str, str]:
    return await page.eval_on_selector_all(
        "[data-field]",
        "els => Object.fromEntries(els.map(e => [e.dataset.field, e.textContent.trim()]))",
    )


async def _open(page: Any, url: str) -> tuple[int, str]:
    response = await page.goto(url)
    assert response is not None
    state = await page.get_attribute("main", "data-state")
    return response.status, str(state)


async def test_the_verify_page_renders_every_state_and_takes_reports(ip: Ip) -> None:
    _require_chromium()
    museum, licensee, relic, license_id = await _world(ip)
    order_id, _ = await ip.pay(license_id, licensee, relic, museum, quantity=2, unit_price_fen=4200)
    await _certs(ip, order_id, 2)
    await ip.refund(order_id, license_id, licensee, relic, museum, quantity=1, amount_fen=4200)
    by_unit = {c["unit"]: c for c in await _certs(ip, order_id, 2, revoked=1)}
    valid, revoked = by_unit[1]["serial"], by_unit[2]["serial"]
    unknown = derive_serial(b"a forger", unique("cert"))
    base = ip.process.url

    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = await browser.new_page(viewport={"width": 420, "height": 1200})  # a phone
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            # (a 404 or 422 page logs "Failed to load resource": its status, on purpose)
            page.on(
                "console",
                lambda m: (
                    errors.append(m.text)
                    if m.type == "error" and "Failed to load resource" not in m.text
                    else None
                ),
            )

            # valid: the unit, its museum, relic, licensee and sale day, and its QR code
            response = await page.goto(f"{base}/verify/{valid.lower()}")
            assert response is not None
            assert response.status == 200
            csp = response.headers["content-security-policy"]
            assert "default-src 'none'" in csp
            assert "frame-ancestors 'none'" in csp
            assert "script-src" not in csp  # no script may run at all
            assert await page.get_attribute("main", "data-state") == "valid"
            verdict = await page.text_content("#verdict") or ""
            assert "授权正品" in verdict
            assert "Genuine licensed product" in verdict
            fields = await _fields(page)
            assert fields["serial"] == format_serial(valid)
            assert fields["museum"] == f"博物馆 {museum} Museum {museum}"
            assert fields["relic"] == "青铜器"
            assert fields["relic-en"] == "Bronze"  # bilingual: catalog's English name too
            assert fields["licensee"] == licensee
            assert fields["license"] == license_id
            assert fields["sold-on"] == by_unit[1]["sold_on"]
            assert fields["status"] == "有效 valid"
            assert order_id not in await page.content()  # never the order or the tourist
            qr_width = await page.eval_on_selector("[data-field=qr]", "e => e.naturalWidth")
            assert qr_width > 0  # the SVG QR code loaded under the page's CSP
            assert await page.eval_on_selector_all("script", "els => els.length") == 0
            await page.screenshot(path=str(LOGS / "verify-valid.png"), full_page=True)

            # revoked: unmistakable, and still names what the unit was
            status, state = await _open(page, f"{base}/verify/{revoked}")
            assert (status, state) == (200, "revoked")
            verdict = await page.text_content("#verdict") or ""
            assert "证书已撤销" in verdict
            assert "Certificate revoked" in verdict
            assert (await _fields(page))["status"] == "已撤销 revoked"
            assert await page.eval_on_selector(
                "#verdict", "e => getComputedStyle(e).borderColor"
            ) != await page.eval_on_selector("body", "e => getComputedStyle(e).color")
            await page.screenshot(path=str(LOGS / "verify-revoked.png"), full_page=True)

            # malformed: a typo (the check character catches it)
            typo = valid[:3] + ("0" if valid[3] != "0" else "1") + valid[4:]
            status, state = await _open(page, f"{base}/verify/{typo}")
            assert (status, state) == (422, "malformed")
            verdict = await page.text_content("#verdict") or ""
            assert "序列号格式有误" in verdict
            assert "Not a valid serial" in verdict
            assert await page.query_selector("#unit") is None

            # unknown: no unit shown; report it from the page, naming the museum
            status, state = await _open(page, f"{base}/verify/{unknown}")
            assert (status, state) == (404, "unknown")
            verdict = await page.text_content("#verdict") or ""
            assert "未知序列号" in verdict
            assert "possibly counterfeit" in verdict
            assert await page.query_selector("#unit") is None
            await page.screenshot(path=str(LOGS / "verify-unknown.png"), full_page=True)

            # a bad photo URL: the form comes back with the reason, nothing stored
            await page.fill("input[name=where_seen]", "Ciqikou old street")
            await page.fill("input[name=photo_url]", "javascript:alert(1)")
            async with page.expect_navigation():
                await page.click("#report button[type=submit]")
            assert await page.get_attribute("main", "data-state") == "report-error"
            assert "photo_url" in (await page.text_content("#report-errors") or "")
            assert await page.input_value("input[name=where_seen]") == "Ciqikou old street"

            await page.fill("input[name=photo_url]", "https://example.org/fake.jpg")
            await page.fill("input[name=museum_id]", museum)
            await page.fill("textarea[name=text]", HOSTILE)
            async with page.expect_navigation():
                await page.click("#report button[type=submit]")
            assert await page.get_attribute("main", "data-state") == "reported"
            shown = await _fields(page)
            assert shown["text"] == HOSTILE  # shown as the text typed
            assert shown["where-seen"] == "Ciqikou old street"
            assert await page.eval_on_selector_all("#echo img, script", "els => els.length") == 0
            assert await page.title() != "pwned"
            report_id = shown["report-id"]
            await page.screenshot(path=str(LOGS / "verify-reported.png"), full_page=True)

            # the lookup form: a typed serial (any case, hyphens) goes to its page
            await page.goto(f"{base}/verify")
            await page.fill("input[name=serial]", format_serial(valid).lower())
            async with page.expect_navigation():
                await page.click(".lookup button[type=submit]")
            assert await page.get_attribute("main", "data-state") == "valid"

            # everything came from the service itself
            assert all(r.startswith(base) for r in requests), requests
            assert errors == []
        finally:
            await browser.close()

    # the museum reads the report the page sent: stored as plain text, and the
    # unknown serial counted against the museum it claimed
    page_json = await ip.get(f"/museums/{museum}/reports", token(Role.MUSEUM, museum_id=museum))
    assert page_json.status_code == 200, page_json.text
    body = page_json.json()
    item = next(r for r in body["items"] if r["report_id"] == report_id)
    assert (item["serial"], item["serial_status"], item["text"]) == (unknown, "unknown", HOSTILE)
    assert item["photo_url"] == "https://example.org/fake.jpg"
    assert body["reports_unknown"] >= 1
    assert body["verifications_valid"] >= 2
    assert body["verifications_revoked"] >= 1
