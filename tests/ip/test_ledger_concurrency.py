"""The posting engine under real concurrency, against the real store (no HTTP,
no Kafka): the license chain never counts a sale twice or skips one, and
concurrent payouts never overdraw."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient

from contracts.catalog import DonorRef, RelicRegistered
from contracts.orders import OrderRefunded, RefundLine
from ip.domain import LicenseScope, RoyaltyTerms
from ip.errors import InsufficientBalance
from ip.handlers import Services, build_services
from ip.royalty import Tier
from ip.store import Store, ensure_indexes
from servicekit.auth import Principal, Role
from servicekit.consumer import EventMeta
from servicekit.errors import Conflict
from tests.conftest import Infra
from tests.ip.conftest import order_paid
from tests.support import unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]
NOW = datetime.now(UTC)


def meta(event_type: str, offset: int = 0) -> EventMeta:
    return EventMeta(
        id=str(uuid.uuid4()),
        type=event_type,
        source="tests",
        subject="s",
        time=NOW,
        topic="orders.orders",
        partition=0,
        offset=offset,
    )


@pytest_asyncio.fixture
async def svc(infra: Infra) -> AsyncIterator[Services]:
    client: AsyncMongoClient = AsyncMongoClient(infra.mongodb_url, tz_aware=True)
    db = client[unique("ipchain").replace("-", "_")]
    await ensure_indexes(db)
    yield build_services(Store(db), donor_share_bps=3000, close_grace_s=0)
    await client.close()


async def _licensed(svc: Services, terms: RoyaltyTerms) -> tuple[str, str, str, str, str]:
    museum, donor, licensee, relic = (unique(x) for x in ("museum", "donor", "lic", "relic"))
    await svc.rights.relic_registered(
        RelicRegistered(
            relic_id=relic,
            museum_id=museum,
            name_zh="鼎",
            name_en="Ding",
            category="bronze",
            protection_grade="first",
            donor=DonorRef(donor_id=donor, name="Donor"),
        ),
        meta(RelicRegistered.TYPE),
    )
    scope = LicenseScope(
        licensee_id=licensee,
        asset_ids=frozenset({f"relic-{relic}"}),
        categories=frozenset({"toys"}),
        territory="CN",
        channels=frozenset({"online"}),
        starts_at=NOW - timedelta(days=30),
        ends_at=NOW + timedelta(days=300),
        exclusivity="non_exclusive",
    )
    applicant = Principal("u1", Role.LICENSEE, licensee_id=licensee)
    lic = await svc.licensing.apply(applicant, scope=scope, terms=terms, now=NOW)
    owner = Principal("u2", Role.MUSEUM, museum_id=museum)
    await svc.licensing.act(owner, lic.license_id, "approve", now=NOW)
    return museum, donor, licensee, relic, lic.license_id


async def test_concurrent_sales_on_one_tiered_license_chain_exactly(svc: Services) -> None:
    terms = RoyaltyTerms(rate_bps=1000, tiers=(Tier(20, 2000),))
    museum, donor, licensee, relic, license_id = await _licensed(svc, terms)
    quantities = [1 + i % 3 for i in range(20)]  # 39 units, crossing the tier at unit 20
    events = [
        order_paid(
            unique("order"),
            license_id,
            licensee,
            relic,
            museum,
            quantity=q,
            unit_price_fen=1000,
            paid_at=NOW,
        )
        for q in quantities
    ]
    await asyncio.gather(*(svc.ledger.accrue_order(e, meta(e.TYPE)) for e in events))

    postings = await svc.store.postings({"license_id": license_id, "kind": "accrual"})
    assert len(postings) == len(events)
    assert sorted(p.license_seq for p in postings) == list(range(1, len(events) + 1))
    units = sum(quantities)
    # unit price 1,000: 100 fen per unit below 20 units, 200 from the 20th on
    assert sum(p.amounts.royalty_fen for p in postings) == 20 * 100 + (units - 20) * 200
    seq, head = await svc.store.license_head(license_id)
    assert (seq, head.units, head.net_sales_fen) == (len(events), units, units * 1000)
    for p in postings:
        assert sum(e.amount_fen for e in p.entries) == 0


async def test_concurrent_copies_of_one_event_post_once(svc: Services) -> None:
    museum, _, licensee, relic, license_id = await _licensed(svc, RoyaltyTerms(rate_bps=500))
    event = order_paid(
        unique("order"),
        license_id,
        licensee,
        relic,
        museum,
        quantity=2,
        unit_price_fen=999,
        paid_at=NOW,
    )
    same = meta(event.TYPE)
    await asyncio.gather(
        *(svc.ledger.accrue_order(event, same) for _ in range(8)),
        *(svc.ledger.accrue_order(event, meta(event.TYPE)) for _ in range(4)),
    )
    assert await svc.store.count_postings({"license_id": license_id}) == 1


async def test_concurrent_refunds_never_reverse_more_than_accrued(svc: Services) -> None:
    museum, donor, licensee, relic, license_id = await _licensed(svc, RoyaltyTerms(rate_bps=1000))
    paid = order_paid(
        unique("order"),
        license_id,
        licensee,
        relic,
        museum,
        quantity=5,
        unit_price_fen=777,
        paid_at=NOW,
    )
    await svc.ledger.accrue_order(paid, meta(paid.TYPE))
    refunds = [
        OrderRefunded(
            order_id=paid.order_id,
            refund_id=unique("refund"),
            lines=[
                RefundLine(
                    line_id="line-1",
                    product_id="prod-1",
                    sku="SKU-1",
                    quantity=2,
                    amount_fen=1554,
                    license_id=license_id,
                    licensee_id=licensee,
                    relic_ids=[relic],
                    museum_id=museum,
                )
            ],
            amount_fen=1554,
            restock=False,
            refunded_at=NOW,
        )
        for _ in range(5)  # 10 units refunded of 5 sold: only the 5 count
    ]
    await asyncio.gather(*(svc.ledger.reverse_refund(r, meta(r.TYPE)) for r in refunds))
    assert await svc.ledger.holder_balance(museum) == 0
    assert await svc.ledger.holder_balance(donor) == 0
    reversals = await svc.store.postings({"kind": "reversal", "license_id": license_id})
    # 10 % of 3,885 = 388.5 -> 388 (half-even) accrued; exactly that reversed, no more
    assert sum(p.amounts.royalty_fen for p in reversals) == 388
    _, head = await svc.store.license_head(license_id)
    assert (head.units, head.net_sales_fen) == (0, 0)


async def test_concurrent_payouts_never_overdraw(svc: Services) -> None:
    museum, _, licensee, relic, license_id = await _licensed(svc, RoyaltyTerms(rate_bps=1000))
    paid = order_paid(
        unique("order"),
        license_id,
        licensee,
        relic,
        museum,
        quantity=1,
        unit_price_fen=10_000,
        paid_at=NOW,
    )
    await svc.ledger.accrue_order(paid, meta(paid.TYPE))
    holder = await svc.store.holder(museum)
    assert holder is not None
    assert await svc.ledger.holder_balance(museum) == 700

    async def pay(i: int) -> bool:
        try:
            await svc.ledger.record_payout(
                holder=holder, reference=f"wire-{uuid.uuid4().hex}-{i}", amount_fen=300, at=NOW
            )
        except InsufficientBalance:
            return False
        return True

    results = await asyncio.gather(*(pay(i) for i in range(6)))
    assert results.count(True) == 2
    assert await svc.ledger.holder_balance(museum) == 100


async def test_racing_grants_of_overlapping_exclusive_licenses_grant_one(svc: Services) -> None:
    museum, relic = unique("museum"), unique("relic")
    await svc.rights.relic_registered(
        RelicRegistered(
            relic_id=relic,
            museum_id=museum,
            name_zh="鼎",
            name_en="Ding",
            category="bronze",
            protection_grade="first",
        ),
        meta(RelicRegistered.TYPE),
    )
    applications = []
    for territory in ("CN", "CN-CQ", "worldwide", "CN-SH"):
        licensee = unique("lic")
        scope = LicenseScope(
            licensee_id=licensee,
            asset_ids=frozenset({f"relic-{relic}"}),
            categories=frozenset({"toys"}),
            territory=territory,
            channels=frozenset({"online"}),
            starts_at=NOW,
            ends_at=NOW + timedelta(days=100),
            exclusivity="exclusive",
        )
        applicant = Principal("u", Role.LICENSEE, licensee_id=licensee)
        applications.append(
            await svc.licensing.apply(applicant, scope=scope, terms=RoyaltyTerms(500), now=NOW)
        )
    owner = Principal("m", Role.MUSEUM, museum_id=museum)

    async def approve(license_id: str) -> bool:
        try:
            await svc.licensing.act(owner, license_id, "approve", now=NOW)
        except Conflict:  # exclusive conflict, or another grant holds the assets
            return False
        return True

    granted = await asyncio.gather(*(approve(a.license_id) for a in applications))
    assert granted.count(True) == 1
    live = await svc.store.licenses_for(museum_id=museum, status="active")
    assert len(live) == 1
