"""The /dashboard page in real headless Chromium (Debian's package, driven by
Playwright): the charts render, and every figure shown equals the API's."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from servicekit.auth import Principal, Role
from tests.analytics.helpers import TOKENS, dashboard, museum_token, wait_for_totals
from tests.analytics.scenario import DAY, NEXT, Scenario, publish
from tests.conftest import Infra
from tests.support import LOGS, ROOT

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVICE = ROOT / "services" / "analytics"
BUNDLE = SERVICE / "src" / "analytics" / "static" / "echarts.min.js"

import playwright.async_api as playwright_api  # noqa: E402  (requirements-dev; never `playwright install`)


def _require_chromium() -> None:
    # `make test` installs it (make tools); a missing browser is a failure, not a skip
    assert Path(CHROMIUM).exists() or shutil.which("chromium"), (
        "needs Debian's chromium: apt-get install -y chromium (make tools)"
    )


@pytest.fixture(scope="module")
def echarts_bundle() -> Path:
    """The ECharts bundle is built from npm, not committed: build it if missing."""
    if not BUNDLE.exists():
        subprocess.run([str(SERVICE / "scripts" / "build_static.sh")], check=True)
    assert BUNDLE.stat().st_size > 100_000
    return BUNDLE


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


def percent(bps: int) -> str:
    return f"{bps // 100}.{bps % 100:02d}%"


CHART_DATA = """() => Object.fromEntries(
  ["chart-revenue", "chart-products", "chart-relics", "chart-licensees", "chart-guarantees"].map(
    (id) => {
      const el = document.getElementById(id);
      const chart = echarts.getInstanceByDom(el);
      const canvas = el.querySelector("canvas");
      if (!chart) return [id, null];
      const option = chart.getOption();
      return [id, {
        canvas: canvas ? [canvas.width, canvas.height] : null,
        categories: option.yAxis?.[0]?.data || option.xAxis?.[0]?.data || null,
        series: option.series.map((s) => ({ id: s.id, type: s.type, data: s.data })),
      }];
    }))"""


async def shown(page: Any) -> dict[str, str]:
    return await page.eval_on_selector_all(
        "[data-kpi]",
        "els => Object.fromEntries("
        "els.map(e => [e.dataset.kpi, e.dataset.value + '|' + e.textContent]))",
    )


def cents(values: list[Any]) -> list[int]:
    return [round(float(v["value"] if isinstance(v, dict) else v) * 100) for v in values]


@pytest.mark.usefixtures("echarts_bundle")
async def test_the_dashboard_page_shows_the_apis_figures(infra: Infra, run_service) -> None:
    _require_chromium()
    scenario = Scenario.co_owned_day()  # a donated relic, co-owned 70/30
    await publish(infra.kafka_bootstrap, scenario.all_events())
    service = run_service("analytics")
    api = await wait_for_totals(service, scenario)
    token = museum_token(scenario.museum_id)
    url = f"{service.url}/dashboard?from={DAY}&to={NEXT}&lang=en#token={token}"

    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1500})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(url)
            await page.wait_for_selector("#status[data-state=ready]", timeout=15_000)

            # every request stayed on the service: ECharts came from /static, no CDN
            assert all(r.startswith(service.url) for r in requests), requests
            assert any(r.endswith("/static/echarts.min.js") for r in requests)
            assert errors == []

            # the figures shown are the API's, formatted exactly
            kpis = await shown(page)
            totals = api["totals"]
            for name, text in kpis.items():
                value, label = text.split("|", 1)
                assert int(value) == totals[name], name
                if name == "refund_rate_bps":
                    assert label == percent(totals[name])
                elif name in {"orders", "net_units"}:
                    assert label == f"{totals[name]:,}"
                else:
                    assert label == yuan(totals[name]), name
            assert await page.text_content("h1 small") == "Sanxingdui Test Museum"

            # the charts rendered (a canvas each) with the API's data
            charts = await page.evaluate(CHART_DATA)
            for chart_id, chart in charts.items():
                assert chart is not None, chart_id
                assert chart["canvas"], chart_id
                assert chart["canvas"][0] > 0, chart_id
            revenue = {s["id"]: cents(s["data"]) for s in charts["chart-revenue"]["series"]}
            assert charts["chart-revenue"]["categories"] == [p["period"] for p in api["series"]]
            assert revenue["net"] == [p["net_fen"] for p in api["series"]]
            assert revenue["royalty"] == [p["royalty_net_fen"] for p in api["series"]]
            assert revenue["paid"] == [p["royalty_paid_fen"] for p in api["series"]]
            products = charts["chart-products"]
            assert cents(products["series"][0]["data"]) == [
                r["net_fen"] for r in reversed(api["top_products"])
            ]
            assert products["categories"] == [r["name_en"] for r in reversed(api["top_products"])]
            relics = charts["chart-relics"]
            assert relics["categories"] == [r["name_en"] for r in reversed(api["top_relics"])]
            assert cents(relics["series"][1]["data"]) == [
                r["royalty_net_fen"] for r in reversed(api["top_relics"])
            ]
            assert sorted(cents(charts["chart-licensees"]["series"][0]["data"])) == sorted(
                r["net_fen"] for r in api["top_licensees"]
            )
            with_guarantee = [g for g in api["guarantees"] if g["minimum_guarantee_fen"]]
            assert charts["chart-guarantees"]["series"][0]["data"] == [
                g["progress_bps"] / 100 for g in with_guarantee
            ]
            # the tables too
            cells = await page.eval_on_selector_all(
                "#table-revenue td[data-col=net_fen]", "els => els.map(e => e.textContent)"
            )
            assert cells == [yuan(p["net_fen"]) for p in api["series"]]

            # royalties by holder: the museum's own share and the donor's, beside
            # the licence royalty (all holders), labelled so
            want = scenario.expected_holders()
            ((donor, _),) = scenario.donors.values()
            for prefix, holder in (("museum_share", scenario.museum_id), ("co_owner_share", donor)):
                for figure in ("accrued_fen", "reversed_fen", "paid_fen", "outstanding_fen"):
                    value, label = kpis[f"{prefix}_{figure}"].split("|", 1)
                    assert int(value) == want[holder][figure], (prefix, figure)
                    assert label == yuan(want[holder][figure])
            licence_label = await page.text_content(
                ".kpi:has([data-kpi=royalty_accrued_fen]) > span"
            )
            assert licence_label == "Licence royalty accrued (all holders)"
            assert await page.text_content("[data-group=museum] h2") == "Museum's own share"
            rows = await page.eval_on_selector_all(
                "#table-holders tbody tr",
                """els => els.map(tr => [tr.dataset.row, Object.fromEntries(
                    [...tr.querySelectorAll('td[data-value]')].map(
                        td => [td.dataset.col, Number(td.dataset.value)]))])""",
            )
            assert [holder for holder, _ in rows] == [scenario.museum_id, donor]
            for holder, cols in rows:
                assert cols["net_share"] == want[holder]["net_fen"], holder
                assert cols["outstanding_fen"] == want[holder]["outstanding_fen"], holder
            assert revenue["museum_share"] == [p["museum_share_net_fen"] for p in api["series"]]
            relic_shares = await page.eval_on_selector_all(
                "#table-top-relics td[data-col=co_owner_share_net_fen]",
                "els => els.map(e => Number(e.dataset.value))",
            )
            assert relic_shares == [r["co_owner_share_net_fen"] for r in api["top_relics"]]
            assert sum(relic_shares) == want[donor]["net_fen"]

            await page.screenshot(path=str(LOGS / "dashboard-en.png"), full_page=True)

            # Chinese labels
            await page.click("button[data-lang=zh]")
            assert await page.text_content("[data-i18n=net_fen]") == "净销售额"
            assert await page.text_content("h1 [data-i18n=title]") == "文创销售与版税"

            # the date-range picker: only the first day now
            await page.fill("#to", DAY.isoformat())
            await page.click("#controls button[type=submit]")
            await page.wait_for_function(
                "() => document.querySelectorAll('#table-revenue tbody tr').length === 1"
                " && document.getElementById('status').dataset.state === 'ready'"
            )
            first_day = await dashboard(
                service, scenario.museum_id, **{"from": DAY.isoformat(), "to": DAY.isoformat()}
            )
            kpis = await shown(page)
            for name in ("gross_fen", "refunds_fen", "net_fen", "royalty_paid_fen"):
                assert int(kpis[name].split("|")[0]) == first_day["totals"][name], name
            assert first_day["totals"]["gross_fen"] != totals["gross_fen"]

            # CSV export from the page, with the token
            async with page.expect_download() as download_info:
                await page.click("button[data-export=top-products]")
            download = await download_info.value
            csv_path = LOGS / "top-products.csv"
            await download.save_as(str(csv_path))
            assert csv_path.read_text().splitlines()[0].startswith("id,name_zh,name_en")
            async with page.expect_download() as download_info:
                await page.click("button[data-export=holders]")
            holders_csv = LOGS / "holders.csv"
            await (await download_info.value).save_as(str(holders_csv))
            lines = holders_csv.read_text().splitlines()
            assert lines[0].startswith("holder_id,holder_kind,name,accrued_fen")
            assert [line.split(",")[0] for line in lines[1:]] == [scenario.museum_id, donor]

            await page.screenshot(path=str(LOGS / "dashboard-zh.png"), full_page=True)
        finally:
            await browser.close()


@pytest.mark.usefixtures("echarts_bundle")
async def test_a_museum_token_sees_only_its_own_museum(infra: Infra, run_service) -> None:
    _require_chromium()
    scenario = Scenario.scripted_day()
    await publish(infra.kafka_bootstrap, scenario.setup_events())
    service = run_service("analytics")
    link = f"{service.url}/dashboard?museum={scenario.museum_id}&lang=en#token="
    intruder = museum_token("some-other-museum")
    licensee = TOKENS.mint(Principal("lic-1", Role.LICENSEE, licensee_id="lic-1"))
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            # a museum's staff: the link names another museum, the page shows its own
            # and offers no other
            page = await browser.new_page()
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            await page.goto(link + intruder)
            await page.wait_for_selector("#status[data-state=ready]", timeout=15_000)
            assert await page.input_value("#museum") == "some-other-museum"
            assert await page.eval_on_selector("#museum", "e => e.readOnly")
            assert [r for r in requests if f"/museums/{scenario.museum_id}" in r] == []
            assert await page.text_content("[data-kpi=net_fen]") == "¥0.00"

            # a token that may not read the museum it asks for sees no figures
            page = await browser.new_page()
            await page.goto(link + licensee)
            await page.wait_for_selector("#status[data-state=error]", timeout=15_000)
            assert await page.text_content("#status") == "You may not see this museum"
            assert await page.text_content("[data-kpi=net_fen]") == ""
        finally:
            await browser.close()
    async with service.client(intruder) as client:
        refused = await client.get(f"/museums/{scenario.museum_id}/dashboard")
    assert refused.status_code == 403
