"""A museum holder with a year of history (100,000 past orders, ~300 postings
a day, loaded through `ip.history.load_history`) reads its ledger a page at a
time through the real ip service: pages from the start, by cursor, recent
ones by date, one order's postings. Prints p50/p99 per kind of page (issue
22's target is p99 < 100 ms; timings are printed, never asserted) and checks
the pages are right: posting order, no posting twice, the balance exact.

`IP_SCALE_ORDERS` sets the number of orders (default 3,000, so the suite stays
short; `IP_SCALE_ORDERS=100000` is the size issue 22 measures at, and
`make bench` measures the same page through the platform)."""

from __future__ import annotations

import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from contracts.catalog import RelicRegistered
from ip.domain import LicenseScope, RoyaltyTerms
from ip.handlers import build_services
from ip.history import load_history
from ip.ledger_reads import LedgerFilter, read_ledger
from ip.store import Store, ensure_indexes
from servicekit.auth import Principal, Role
from servicekit.consumer import EventMeta
from tests.conftest import Infra
from tests.ip.conftest import Feed, Ip, _wait_ready, envelope, order_paid
from tests.support import unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]
ORDERS = int(os.environ.get("IP_SCALE_ORDERS", "3000"))
NOW = datetime.now(UTC)


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _report(name: str, samples: list[float]) -> None:
    print(  # noqa: T201
        f"\n  {name}: n={len(samples)} p50={statistics.median(samples):.1f} ms "
        f"p99={_p(samples, 0.99):.1f} ms max={max(samples):.1f} ms"
    )


async def _world(db_name: str, infra: Infra) -> tuple[str, str, str, str]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongodb_url, tz_aware=True)
    db = client[db_name]
    await ensure_indexes(db)
    svc = build_services(Store(db), donor_share_bps=3000, close_grace_s=0)
    museum, licensee, relic = unique("museum"), unique("lic"), unique("relic")
    registered = RelicRegistered(
        relic_id=relic,
        museum_id=museum,
        name_zh="鼎",
        name_en="Ding",
        category="bronze",
        protection_grade="general",
    )
    meta = EventMeta(str(uuid.uuid4()), registered.TYPE, "tests", "s", NOW, "t", 0, 0)
    await svc.rights.relic_registered(registered, meta)
    scope = LicenseScope(
        licensee_id=licensee,
        asset_ids=frozenset({f"relic-{relic}"}),
        categories=frozenset({"toys"}),
        territory="CN",
        channels=frozenset({"online"}),
        starts_at=NOW - timedelta(days=400),
        ends_at=NOW + timedelta(days=300),
        exclusivity="non_exclusive",
    )
    applicant = Principal("u1", Role.LICENSEE, licensee_id=licensee)
    lic = await svc.licensing.apply(applicant, scope=scope, terms=RoyaltyTerms(1000), now=NOW)
    owner = Principal("u2", Role.MUSEUM, museum_id=museum)
    await svc.licensing.act(owner, lic.license_id, "approve", now=NOW - timedelta(days=366))
    start = NOW - timedelta(days=365)
    step = timedelta(days=365) / ORDERS
    events = [
        envelope(
            order_paid(
                f"ord-{i:06d}",
                lic.license_id,
                licensee,
                relic,
                museum,
                quantity=1 + i % 3,
                unit_price_fen=1000 + i % 500,
                paid_at=start + i * step,
            )
        )
        for i in range(ORDERS)
    ]
    began = time.perf_counter()
    for i in range(0, len(events), 5000):
        await load_history(db, events[i : i + 5000])
    print(f"\n  loaded {ORDERS} orders in {time.perf_counter() - began:.0f} s")  # noqa: T201
    await client.close()
    return museum, licensee, relic, lic.license_id


async def test_a_ledger_page_costs_the_same_after_a_year_of_history(
    infra: Infra, run_service: Any
) -> None:
    db_name = unique("ip_scale").replace("-", "_")
    museum, licensee, _, license_id = await _world(db_name, infra)
    process = run_service("ip", IP_MONGODB_DATABASE=db_name, KAFKA_CONSUMER_GROUP=unique("ip"))
    _wait_ready(process)
    ip = Ip(process, Feed(infra.kafka_bootstrap))
    path = f"/holders/{museum}/ledger"

    async def timed(**params: Any) -> tuple[float, dict[str, Any]]:
        began = time.perf_counter()
        response = await ip.get(path, **params)
        took = (time.perf_counter() - began) * 1000
        assert response.status_code == 200, response.text
        return took, response.json()

    await timed(limit=50)  # warm up
    first = [(await timed(limit=50))[0] for _ in range(30)]
    walk: list[float] = []
    seen: list[tuple[str, str]] = []
    cursor = None
    pages = min(150, ORDERS // 50 - 1)
    for _ in range(pages):
        took, body = await timed(limit=50, **({"cursor": cursor} if cursor else {}))
        walk.append(took)
        seen += [(p["posted_at"], p["posting_id"]) for p in body["postings"]]
        cursor = body["next_cursor"]
        assert cursor is not None
    assert len(seen) == len(set(seen)) == pages * 50
    assert [datetime.fromisoformat(a) for a, _ in seen] == sorted(
        datetime.fromisoformat(a) for a, _ in seen
    )
    recent: list[float] = []
    for day in range(1, 31):
        since = (NOW - timedelta(days=day)).isoformat()
        took, body = await timed(limit=50, **{"from": since})
        recent.append(took)
        assert body["postings"]
        assert all(
            datetime.fromisoformat(p["posted_at"]) >= NOW - timedelta(days=day)
            for p in body["postings"]
        )
        assert len(body["postings"]) == 50 or body["next_cursor"] is None
    by_order: list[float] = []
    for i in range(0, ORDERS, max(1, ORDERS // 30)):
        took, body = await timed(limit=50, order_id=f"ord-{i:06d}")
        by_order.append(took)
        assert [p["posting_id"] for p in body["postings"]] == [f"accrual:ord-{i:06d}:line-1"]
    by_license: list[float] = []
    for _ in range(10):
        took, body = await timed(limit=50, license_id=license_id)
        by_license.append(took)
    print(f"\n  ledger pages of a museum holder with {ORDERS} past orders:")  # noqa: T201
    _report("first page (limit=50)", first)
    _report("next pages by cursor", walk)
    _report("recent pages (from=)", recent)
    _report("one order's postings (order_id=)", by_order)
    _report("one license's postings (license_id=)", by_license)
    _report("all pages", first + walk + recent + by_order + by_license)
    # the same walk in this process, store reads only (no HTTP, no service)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongodb_url, tz_aware=True)
    store = Store(client[db_name])
    direct: list[float] = []
    cursor = None
    for _ in range(pages):
        began = time.perf_counter()
        page = await read_ledger(store, f"holder:{museum}", LedgerFilter(limit=50, cursor=cursor))
        cursor = page.next_cursor
        direct.append((time.perf_counter() - began) * 1000)
        assert len(page.postings) == 50
    await client.close()
    _report("in-process read_ledger by cursor (store reads only)", direct)
    balance = await ip.balance(museum)
    payables = await ip.get(f"/licensees/{licensee}/payables", limit=1)
    assert payables.status_code == 200
    assert balance == payables.json()["balance"]["balance_fen"] > 0  # no donor: all the museum's
