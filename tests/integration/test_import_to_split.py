"""Issue 19 end to end, on real Kafka and the real store with catalog, ip and
orders as real processes: a collection ledger as a Chongqing museum exports
it (the demo's GB18030 file: CRLF, Chinese headers, grades in 级别, donors in
捐赠人, a bad grade, a row without a Chinese title) goes through catalog's
import API; ip opens the donated relics as museum/donor co-ownerships and
learns their grades; a licence on a first-grade donated relic waits for its
state approval reference; a licensed product on it is sold and paid through
orders, and ip's ledger splits the royalty between museum and donor to the
fen. A corrected file imported again updates in place: the new donor and
grades reach ip as an effective-dated ownership change, with no duplicate
holders and no change to the royalty already accrued."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from catalog.importer.values import ACCEPTED_GRADES
from deploy.demo.dataset import COLLECTION_SHEET
from servicekit.auth import Role
from tests.catalog.helpers import make_museum, token
from tests.conftest import Infra
from tests.orders.conftest import orders_env
from tests.orders.helpers import order_in, product_on_sale
from tests.support import ServiceProcess, eventually, unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]

PROBLEM = "application/problem+json"
BAD_GRADE = f"not a protection grade: '特级'; accepted: {ACCEPTED_GRADES}"
NO_CHINESE_TITLE = "missing: the Chinese title is required (英文名称 is English)"
# the file's grades and donors (docs/import.md; tests/catalog/test_import_ledger.py)
GRADES = {
    "CQ-2025-001": "grade_1",
    "CQ-2025-002": "grade_1",  # 国家一级文物, donated by 李明远 (来源 only says 捐赠)
    "CQ-2025-003": "grade_2",
    "CQ-2025-004": "grade_2",  # 2级, donated by 王芳 (来源 empty)
    "CQ-2025-005": "grade_3",
    "CQ-2025-006": "general",
    "CQ-2025-009": "general",
    "CQ-2025-010": "grade_1",
}
PRICE_FEN, RATE_BPS = 4_123, 1_000


@dataclass
class Platform:
    catalog: ServiceProcess
    ip: ServiceProcess
    orders: ServiceProcess


@pytest.fixture(scope="module")
def platform(infra: Infra) -> Iterator[Platform]:
    """The three services, each with its own database and consumer group."""
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "MONGODB_URL": infra.mongodb_url,
        "ENVIRONMENT": "test",
    }
    # the sandbox provider's charges are store writes: give them time on a busy machine
    orders = orders_env(infra, ORDERS_PAYMENT_PROVIDER_TIMEOUT_SECONDS="10")
    started: list[ServiceProcess] = []
    try:
        for name, extra in (("catalog", {}), ("ip", {}), ("orders", orders)):
            started.append(ServiceProcess(name, {**env, **extra}))
        yield Platform(*started)
    finally:
        for process in started:
            process.stop()


async def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def _import(catalog: httpx.AsyncClient, museum_id: str, data: bytes) -> dict[str, Any]:
    response = await catalog.post(
        "/relics:import",
        params={"museum_id": museum_id},
        content=data,
        headers={
            "Authorization": f"Bearer {token(Role.MUSEUM, museum_id=museum_id)}",
            "Content-Type": "text/csv",  # no charset: GB18030 is detected
        },
        timeout=120,
    )
    return dict(await _ok(response, 201))


async def _relics_by_number(catalog: httpx.AsyncClient, relic_ids: list[str]) -> dict[str, Any]:
    """The imported relics through catalog's API, by the file's object number."""
    found = {}
    for relic_id in relic_ids:
        relic = await _ok(await catalog.get(f"/relics/{relic_id}"))
        found[relic["provenance"]["notes"].split("\n")[0].removeprefix("object number ")] = relic
    return found


async def _asset(ip: httpx.AsyncClient, relic_id: str, entries: int = 1) -> dict[str, Any]:
    """ip's asset of a relic once it has `entries` ownership entries."""
    seen: dict[str, Any] = {}

    async def there() -> bool:
        response = await ip.get(f"/assets/relic-{relic_id}")
        if response.status_code == 200:
            seen.update(response.json())
        return len(seen.get("ownership", ())) == entries

    await eventually(there, timeout=60, what=f"ip's asset of {relic_id} ({entries} entries)")
    return seen


def _shares(entry: dict[str, Any]) -> dict[str, tuple[str, int]]:
    return {s["holder_id"]: (s["holder_kind"], s["share_bps"]) for s in entry["shares"]}


async def _sell(
    orders: ServiceProcess, product: dict[str, Any], quantity: int
) -> tuple[str, str, datetime]:
    """A tourist orders and pays: (order id, line id, paid at)."""
    async with orders.client(token(Role.TOURIST)) as tourist:
        await product_on_sale(tourist, product["id"], version=product["version"])
        placed = await _ok(
            await tourist.post(
                "/orders",
                json={"lines": [{"product_id": product["id"], "quantity": quantity}]},
                headers={"Idempotency-Key": uuid.uuid4().hex},
            ),
            201,
        )
        await order_in(tourist, placed["order_id"], "CONFIRMED")  # catalog reserved the stock
        await _ok(
            await tourist.post(
                f"/orders/{placed['order_id']}/payments",
                json={"card_token": "tok_sandbox_approve"},
            ),
            201,
        )
        paid = await order_in(tourist, placed["order_id"], "PAID")
    return placed["order_id"], paid["lines"][0]["line_id"], datetime.fromisoformat(paid["paid_at"])


async def _posting(ip: httpx.AsyncClient, order_id: str, line_id: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def posted() -> bool:
        response = await ip.get(f"/ledger/postings/accrual:{order_id}:{line_id}")
        if response.status_code == 200:
            found.update(response.json())
        return bool(found)

    await eventually(posted, timeout=60, what=f"ip's accrual of order {order_id}")
    return found


def _credited(posting: dict[str, Any]) -> dict[str, int]:
    """What each rights holder was credited by a posting (fen)."""
    return {
        e["party_id"]: -e["amount_fen"]
        for e in posting["entries"]
        if e["account"].startswith("holder:")
    }


async def _balances(ip: httpx.AsyncClient, holders: tuple[str, ...], want: tuple[int, ...]) -> None:
    """The holders' balances reach `want` (ip updates balances in the same
    batch as the postings, a moment after the journal)."""

    async def reached() -> bool:
        found = [await _ok(await ip.get(f"/holders/{h}/balance")) for h in holders]
        return tuple(int(b["balance_fen"]) for b in found) == want

    await eventually(reached, timeout=60, what=f"balances {want} of {holders}")


def _licence_body(relic_id: str) -> dict[str, Any]:
    start = datetime.now(UTC) - timedelta(days=1)
    return {
        "asset_ids": [f"relic-{relic_id}"],
        "categories": ["stationery"],
        "territory": "CN",
        "channels": ["online"],
        "exclusivity": "non_exclusive",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(days=365)).isoformat(),
        "terms": {"rate_bps": RATE_BPS},
    }


async def test_an_imported_donated_relic_sells_and_its_royalty_splits_to_the_fen(
    platform: Platform,
) -> None:
    operator = token(Role.OPERATOR)
    async with (
        platform.catalog.client(operator) as catalog,
        platform.ip.client(operator) as ip,
    ):
        museum_id = await make_museum(catalog, name_zh="重庆中国三峡博物馆")
        museum = token(Role.MUSEUM, museum_id=museum_id)

        # 1. the museum's own export, through catalog's import API --------------------
        data = COLLECTION_SHEET.read_bytes()
        assert b"\r\n" in data
        assert "级别,来源,捐赠人".encode("gb18030") in data
        report = await _import(catalog, museum_id, data)
        assert (report["rows"], report["created"], report["updated"], report["unchanged"]) == (
            8,
            8,
            0,
            0,
        )
        assert (report["rejected"], report["donors"]) == (2, 3)
        assert [(e["row"], e["field"], e["error"]) for e in report["errors"]] == [
            (8, "级别", BAD_GRADE),
            (9, "文物名称", NO_CHINESE_TITLE),
        ]
        relics = await _relics_by_number(catalog, report["relic_ids"])
        assert {n: r["protection_grade"] for n, r in relics.items()} == GRADES
        mask, sword = relics["CQ-2025-002"], relics["CQ-2025-004"]
        donor = mask["provenance"]["donor"]  # 李明远
        assert (donor["name"], mask["provenance"]["acquisition"]) == ("李明远", "donation")
        assert donor["donor_id"] in report["donor_ids"]

        # 2. ip opens the donated relic as a museum/donor co-ownership, graded -----------
        asset = await _asset(ip, mask["id"])
        assert asset["protection_grade"] == "grade_1"
        assert _shares(asset["ownership"][0]) == {
            museum_id: ("museum", 7_000),
            donor["donor_id"]: ("donor", 3_000),
        }
        assert (await _asset(ip, sword["id"]))["protection_grade"] == "grade_2"
        holder = await _ok(await ip.get(f"/holders/{donor['donor_id']}"))
        assert (holder["kind"], holder["name"]) == ("donor", "李明远")

        # 3. a licence on the first-grade relic waits for its approval reference -------
        licensee_id = unique("licensee")
        licensee = token(Role.LICENSEE, licensee_id=licensee_id)
        applied = await _ok(
            await ip.post(
                "/licenses",
                json=_licence_body(mask["id"]),
                headers={"Authorization": f"Bearer {licensee}"},
            ),
            201,
        )
        license_id = applied["license_id"]
        assert (applied["approval_required"], applied["awaiting_approval_reference"]) == (
            True,
            True,
        )
        as_museum = {"Authorization": f"Bearer {museum}"}
        refused = await ip.post(f"/licenses/{license_id}/approve", headers=as_museum)
        assert refused.status_code == 409
        assert refused.headers["content-type"].startswith(PROBLEM)
        assert refused.json()["license_id"] == license_id
        assert "first-grade" in refused.json()["reason"]
        for viewer in (museum, licensee):  # the marketplace shows who waits
            listed = await _ok(
                await ip.get("/licenses", headers={"Authorization": f"Bearer {viewer}"})
            )
            [waiting] = [x for x in listed if x["license_id"] == license_id]
            assert (waiting["status"], waiting["awaiting_approval_reference"]) == (
                "applied",
                True,
            )
        reference = {"number": "文物博函〔2026〕118号", "approved_on": date.today().isoformat()}
        recorded = await _ok(
            await ip.put(
                f"/licenses/{license_id}/approval-reference", json=reference, headers=as_museum
            )
        )
        assert recorded["awaiting_approval_reference"] is False
        approved = await _ok(await ip.post(f"/licenses/{license_id}/approve", headers=as_museum))
        assert approved["status"] == "active"

        # 4. a licensed product on the relic, sold and paid through orders ----------------
        product = await _product(catalog, licensee, mask["id"], license_id)
        order_id, line_id, paid_at = await _sell(platform.orders, product, quantity=3)
        first = await _posting(ip, order_id, line_id)
        # 3 x 4,123 = 12,369 fen at 10 %: 1,236.9 -> 1,237 fen, split 70/30 by the
        # largest remainder: 865.9 -> 866 to the museum, 371.1 -> 371 to the donor
        assert (first["net_sales_fen"], first["royalty_fen"]) == (12_369, 1_237)
        assert _credited(first) == {museum_id: 866, donor["donor_id"]: 371}
        assert sum(_credited(first).values()) == first["royalty_fen"]
        await _balances(ip, (museum_id, donor["donor_id"]), (866, 371))

        # 5. a corrected file: the relic has another donor and grade, the sword a grade ---
        text = data.decode("gb18030")
        corrected = text.replace(",陶,国家一级文物,捐赠,李明远,", ",陶,二级,捐赠,李思齐,").replace(
            ",青铜,2级,,王芳,", ",青铜,一级,,王芳,"
        )
        assert corrected.count("李思齐") == 1
        assert corrected.count(",一级,,王芳,") == 1
        again = await _import(catalog, museum_id, corrected.encode("gb18030"))
        assert (again["created"], again["updated"], again["unchanged"], again["rejected"]) == (
            0,
            2,
            6,
            2,
        )
        assert again["relic_ids"] == report["relic_ids"]  # in place
        heir = (await _ok(await catalog.get(f"/relics/{mask['id']}")))["provenance"]["donor"]
        assert heir["name"] == "李思齐"
        assert (again["donors"], again["donor_ids"]) == (1, [heir["donor_id"]])

        moved = await _asset(ip, mask["id"], entries=2)
        latest = moved["ownership"][-1]
        assert _shares(latest) == {museum_id: ("museum", 7_000), heir["donor_id"]: ("donor", 3_000)}
        assert paid_at < datetime.fromisoformat(latest["effective_at"]) <= datetime.now(UTC)
        assert moved["ownership"][0] == asset["ownership"][0]  # history kept
        assert moved["protection_grade"] == "grade_2"

        # the same corrected file once more: nothing changes anywhere
        third = await _import(catalog, museum_id, corrected.encode("gb18030"))
        assert (third["created"], third["updated"], third["unchanged"]) == (0, 0, 8)

        # the royalty accrued before the change stays as it was, to the fen
        assert await _ok(await ip.get(f"/ledger/postings/accrual:{order_id}:{line_id}")) == first
        await _balances(ip, (museum_id, donor["donor_id"], heir["donor_id"]), (866, 371, 0))

        # a sale after the change follows the new shares: 4,123 at 10 % = 412.3 -> 412,
        # split 288.4 / 123.6 -> 288 to the museum, 124 to the new donor
        order_id, line_id, _ = await _sell(platform.orders, product, quantity=1)
        second = await _posting(ip, order_id, line_id)
        assert _credited(second) == {museum_id: 288, heir["donor_id"]: 124}
        await _balances(ip, (museum_id, donor["donor_id"], heir["donor_id"]), (1_154, 371, 124))
        holders = await _ok(await ip.get("/holders", headers=as_museum))
        ids = [h["holder_id"] for h in holders]
        assert len(ids) == len(set(ids))  # no duplicate holders
        names = sorted(h["name"] for h in holders if h["kind"] == "donor")
        assert names == sorted(["李明远", "李思齐", "王芳", "陈建国"])
        assert (await _asset(ip, mask["id"], entries=2))["ownership"] == moved["ownership"]

        # ip learnt the sword's new grade: a licence on it now waits for a reference
        sword_asset = await ip.get(f"/assets/relic-{sword['id']}")
        assert (await _ok(sword_asset))["protection_grade"] == "grade_1"
        other = await _ok(
            await ip.post(
                "/licenses",
                json=_licence_body(sword["id"]),
                headers={"Authorization": f"Bearer {licensee}"},
            ),
            201,
        )
        assert other["awaiting_approval_reference"] is True
        blocked = await ip.post(f"/licenses/{other['license_id']}/approve", headers=as_museum)
        assert blocked.status_code == 409
        assert blocked.headers["content-type"].startswith(PROBLEM)


async def _product(
    catalog: httpx.AsyncClient, licensee: str, relic_id: str, license_id: str
) -> dict[str, Any]:
    """The licensee's product on the relic, on sale, once catalog's licence
    replica knows the grant (until then catalog answers 422)."""
    as_licensee = {"Authorization": f"Bearer {licensee}"}
    body = {
        "sku": unique("CQ-MASK"),
        "title_zh": "说唱俑书签",
        "title_en": "Storyteller figurine bookmark",
        "category": "stationery",
        "price_fen": PRICE_FEN,
        "relic_ids": [relic_id],
        "license_id": license_id,
        "stock": 20,
    }
    created: dict[str, Any] = {}

    async def made() -> bool:
        response = await catalog.post("/products", json=body, headers=as_licensee)
        if response.status_code == 201:
            created.update(response.json())
        return bool(created)

    await eventually(made, timeout=60, what="catalog knows the licence")
    return dict(
        await _ok(await catalog.post(f"/products/{created['id']}/activate", headers=as_licensee))
    )
