"""The ledger's `_id`-keyed read side (ip.books) against real Kafka and the
real store: pages in posting order across day buckets by an opaque cursor,
balances exact to the fen under redelivery, and hot paths without scans."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient, monitoring

from contracts.catalog import DonorRef, RelicRegistered
from contracts.orders import OrderRefunded, RefundLine
from ip.book_docs import BALANCES, BUCKETS, CHUNK, MONTHS, BookLine, chunk_id
from ip.book_pages import PageQuery, read_page
from ip.certificates import cert_id
from ip.domain import LicenseScope, RoyaltyTerms
from ip.handlers import Services, build_services
from ip.history import load_history
from ip.serials import derive_serial
from ip.signing import verify_jws
from ip.store import Store, ensure_indexes
from servicekit.auth import Principal, Role
from servicekit.consumer import EventMeta
from servicekit.queries import BOUNDED, filters_of, served_by_id
from tests.conftest import Infra
from tests.ip.conftest import Ip, envelope, order_paid
from tests.support import eventually, unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]
NOW = datetime.now(UTC)


async def _seed(ip: Ip) -> tuple[str, str, str, str, str]:
    museum, donor, licensee = unique("museum"), unique("donor"), unique("licensee")
    await ip.museum(museum)
    relic = await ip.relic(museum, donor_id=donor)
    license_id = await ip.license(museum, licensee, relic, terms={"rate_bps": 1000})
    return museum, donor, licensee, relic, license_id


async def _all_pages(ip: Ip, path: str, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Every posting of a ledger, page by page; and how many pages."""
    postings: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = await ip.get(path, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        postings += body["postings"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return postings, pages
        assert len(body["postings"]) == limit


async def test_the_ledger_pages_by_cursor_across_day_buckets_in_posting_order(ip: Ip) -> None:
    museum, _, licensee, relic, license_id = await _seed(ip)
    # midnight, so the latest offset (+3 days 2 h) stays inside the 4th day at any hour
    base = (NOW - timedelta(days=5)).replace(hour=0, minute=0, second=0, microsecond=0)
    # 9 sales over 4 days, sent out of order; two share one instant
    offsets = [timedelta(days=d, hours=h) for d, h in ((0, 1), (2, 3), (0, 5), (1, 0), (3, 2))]
    offsets += [timedelta(days=2, hours=3), timedelta(days=1, hours=9), timedelta(0), offsets[3]]
    orders = []
    for i, offset in enumerate(offsets):
        order_id, _ = await ip.pay(
            license_id,
            licensee,
            relic,
            museum,
            quantity=1 + i % 3,
            unit_price_fen=1000 + i,
            paid_at=base + offset,
        )
        orders.append(order_id)

    async def all_posted() -> bool:
        response = await ip.get(f"/holders/{museum}/ledger", limit=100)
        return len(response.json()["postings"]) == len(orders)

    await eventually(all_posted, timeout=120, what="every sale posted")
    postings, pages = await _all_pages(ip, f"/holders/{museum}/ledger", limit=2)
    assert pages == 5
    ids = [p["posting_id"] for p in postings]
    assert sorted(ids) == sorted(f"accrual:{o}:line-1" for o in orders)
    keys = [(datetime.fromisoformat(p["posted_at"]), p["posting_id"]) for p in postings]
    assert keys == sorted(keys)
    assert len({k[0].date() for k in keys}) == 4
    # one period at a time, and the licensee's payables the same way
    period = postings[0]["period"]
    only = (await ip.get(f"/holders/{museum}/ledger", period=period, limit=100)).json()
    assert [p["posting_id"] for p in only["postings"]] == [
        p["posting_id"] for p in postings if p["period"] == period
    ]
    payables, _ = await _all_pages(ip, f"/licensees/{licensee}/payables", limit=3)
    assert [p["posting_id"] for p in payables] == ids
    assert (await ip.get(f"/holders/{museum}/ledger", cursor="bogus")).status_code == 422


async def test_the_balance_is_the_ledger_sum_after_redelivery_to_the_fen(ip: Ip) -> None:
    museum, donor, licensee, relic, license_id = await _seed(ip)
    order_id, first = await ip.pay(
        license_id, licensee, relic, museum, quantity=3, unit_price_fen=3333
    )
    await ip.feed.send(first, first, first)  # redelivered as is
    again = order_paid(
        order_id,
        license_id,
        licensee,
        relic,
        museum,
        quantity=3,
        unit_price_fen=3333,
        paid_at=NOW,
    )
    await ip.feed.send(envelope(again))  # the same order under a second event id
    # a partial refund of the same order (same key, so handled after them all)
    refund_id = await ip.refund(
        order_id, license_id, licensee, relic, museum, quantity=1, amount_fen=3333
    )
    await ip.wait_for(f"/ledger/postings/reversal:{refund_id}:line-1", "the reversal")
    for holder in (museum, donor):
        postings, _ = await _all_pages(ip, f"/holders/{holder}/ledger", limit=1)
        assert [p["kind"] for p in postings] == ["accrual", "reversal"]
        owed = -sum(
            e["amount_fen"] for p in postings for e in p["entries"] if e["party_id"] == holder
        )
        await ip.wait_balance(holder, owed)
    # 10 % of 9,999 = 999.9 -> 1,000; a third refunded: 333 back
    assert await ip.balance(museum) + await ip.balance(donor) == 1000 - 333
    assert await ip.trial_total() == 0


# --- the engine on the real store, without HTTP ---------------------------------


class _Scans(monitoring.CommandListener):
    """Commands whose filter the store would not serve by `_id`; each `find`
    (collection, filter); each update statement (collection, statement)."""

    def __init__(self) -> None:
        self.found: list[tuple[str, str, Any]] = []
        self.finds: list[tuple[str, Any]] = []
        self.updates: list[tuple[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        if event.command_name == "find" and isinstance(target, str):
            self.finds.append((target, event.command.get("filter")))
        if event.command_name == "update" and isinstance(target, str):
            self.updates += [(target, u) for u in event.command.get("updates", [])]
        if not isinstance(target, str) or target in BOUNDED:
            return
        for query in filters_of(event.command_name, event.command):
            if not served_by_id(query):
                self.found.append((event.command_name, target, query))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def _meta(event_type: str) -> EventMeta:
    return EventMeta(str(uuid.uuid4()), event_type, "tests", "s", NOW, "orders.orders", 0, 0)


def _services(db: Any) -> Services:
    """ip's engine on `db`, as one process builds it (nothing kept yet)."""
    return build_services(Store(db), donor_share_bps=3000, close_grace_s=0)


@pytest_asyncio.fixture
async def engine(infra: Infra) -> AsyncIterator[tuple[Services, _Scans]]:
    scans = _Scans()
    client: AsyncMongoClient = AsyncMongoClient(
        infra.mongodb_url, tz_aware=True, event_listeners=[scans]
    )
    db = client[unique("ipbooks").replace("-", "_")]
    await ensure_indexes(db)
    yield _services(db), scans
    await client.close()


async def _licensed(svc: Services) -> tuple[str, str, str, str, str]:
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
        _meta(RelicRegistered.TYPE),
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
    lic = await svc.licensing.apply(applicant, scope=scope, terms=RoyaltyTerms(1000), now=NOW)
    await svc.licensing.act(
        Principal("u2", Role.MUSEUM, museum_id=museum), lic.license_id, "approve", now=NOW
    )
    return museum, donor, licensee, relic, lic.license_id


async def test_concurrent_redelivery_posts_once_and_the_books_stay_exact(
    engine: tuple[Services, _Scans],
) -> None:
    svc, scans = engine
    museum, donor, licensee, relic, license_id = await _licensed(svc)
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
    scans.found.clear()
    same = _meta(event.TYPE)
    await asyncio.gather(
        *(svc.ledger.accrue_order(event, same) for _ in range(8)),
        *(svc.ledger.accrue_order(event, _meta(event.TYPE)) for _ in range(4)),
    )
    assert scans.found == []  # the consumer's every command is served by `_id`
    assert await svc.store.count_postings({"license_id": license_id}) == 1
    # 10 % of 1,998 = 199.8 -> 200: 140 / 60
    assert (await svc.ledger.holder_balance(museum), await svc.ledger.holder_balance(donor)) == (
        140,
        60,
    )
    assert await svc.store.account_balance(f"licensee:{licensee}") == 200
    page = await read_page(svc.store.books, f"holder:{museum}", PageQuery(10))
    assert [x.posting_id for x in page.lines] == [f"accrual:{event.order_id}:line-1"]


async def test_a_page_reads_a_month_index_again_only_once_the_balance_moved(
    engine: tuple[Services, _Scans],
) -> None:
    svc, scans = engine
    museum, _, licensee, relic, license_id = await _licensed(svc)
    account, parties = f"holder:{museum}", (license_id, licensee, relic, museum)

    async def sale(hours_ago: int) -> str:
        paid_at = NOW - timedelta(hours=hours_ago)
        event = order_paid(unique("o"), *parties, quantity=1, unit_price_fen=1000, paid_at=paid_at)
        await svc.ledger.accrue_order(event, _meta(event.TYPE))
        return f"accrual:{event.order_id}:line-1"

    first = await sale(2)
    page = await read_page(svc.store.books, account, PageQuery(10))
    assert [x.posting_id for x in page.lines] == [first]
    scans.finds.clear()
    assert await read_page(svc.store.books, account, PageQuery(10)) == page
    read = [c for c, _ in scans.finds]
    assert MONTHS not in read  # kept (ip.kept_months): the balance counts nothing new
    second = await sale(1)
    scans.finds.clear()
    page = await read_page(svc.store.books, account, PageQuery(10))
    assert [x.posting_id for x in page.lines] == [first, second]
    assert MONTHS in [c for c, _ in scans.finds]


_DAY, _PERIOD = "2026-11-04", "2026-11"


def _sale(i: int) -> BookLine:
    """The i-th posting of one day to one account, in time order."""
    at = f"{_DAY}T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000+00:00"
    return BookLine(f"p-{i:04d}", at, _PERIOD, "accrual", 100)


async def test_a_projection_reads_a_full_chunk_once_and_still_dedupes_by_it(
    engine: tuple[Services, _Scans],
) -> None:
    svc, scans = engine
    books = svc.store.books
    account = unique("holder")

    def asked() -> list[str]:
        return [i for c, f in scans.finds if c == BUCKETS for i in f["_id"]["$in"]]

    await books.project([(account, _sale(i)) for i in range(CHUNK + 1)])  # chunk 0 full
    await books.project([(account, _sale(CHUNK + 1))])  # reads chunk 0, full: kept
    scans.finds.clear()
    await books.project([(account, _sale(CHUNK + 2)), (account, _sale(5))])  # line 5: a redelivery
    assert chunk_id(account, _DAY, _PERIOD, 0) not in asked()
    assert chunk_id(account, _DAY, _PERIOD, 1) in asked()
    page = await read_page(books, account, PageQuery(CHUNK + 10))
    assert [x.posting_id for x in page.lines] == [f"p-{i:04d}" for i in range(CHUNK + 3)]


async def test_a_round_rewrites_a_month_index_once_for_the_chunks_it_moved(
    engine: tuple[Services, _Scans],
) -> None:
    svc, scans = engine
    books = svc.store.books
    account = unique("holder")

    def month_updates() -> list[Any]:
        return [u for c, u in scans.updates if c == MONTHS]

    await books.project([(account, _sale(i)) for i in range(3 * CHUNK + 1)])  # 0-2 full, 3 open
    scans.updates.clear()
    await books.project([(account, _sale(3 * CHUNK + 1))])
    [moved] = month_updates()  # not one per chunk of the day, nor the index's creation
    assert list(moved["u"]["$set"]) == [f"chunks.{_DAY}_{_PERIOD}_3"]
    assert (await books.book(account)).sum_fen == (3 * CHUNK + 2) * 100

    # another process (nothing copied yet, by its own count) moves the open chunk
    rival = _services(svc.store.db)
    scans.updates.clear()
    await rival.store.books.project([(account, _sale(3 * CHUNK + 2))])
    assert len(month_updates()) > 1  # its copy of chunks 0-2 was refused: one by one
    assert (await rival.store.books.book(account)).sum_fen == (3 * CHUNK + 3) * 100
    await books.project([(account, _sale(3 * CHUNK + 3))])
    assert (await books.book(account)).sum_fen == (3 * CHUNK + 4) * 100
    page = await read_page(books, account, PageQuery(500))
    assert [x.posting_id for x in page.lines] == [f"p-{i:04d}" for i in range(3 * CHUNK + 4)]


async def test_a_crash_before_the_books_heals_on_redelivery(
    engine: tuple[Services, _Scans],
) -> None:
    svc, _ = engine
    museum, donor, licensee, relic, license_id = await _licensed(svc)
    event = order_paid(
        unique("order"),
        license_id,
        licensee,
        relic,
        museum,
        quantity=1,
        unit_price_fen=10_000,
        paid_at=NOW,
    )
    meta = _meta(event.TYPE)
    await svc.ledger.accrue_order(event, meta)
    # as if the process died right after the journal insert: no books at all
    db = svc.store.db
    for account in (f"holder:{museum}", f"holder:{donor}", f"licensee:{licensee}"):
        await db[BALANCES].delete_one({"_id": account})
    held = {"$in": [f"holder:{museum}", f"holder:{donor}"]}
    await db[BUCKETS].delete_many({"account": held})  # a test may scan
    for account in (f"holder:{museum}", f"holder:{donor}", f"licensee:{licensee}"):
        await db[MONTHS].delete_many({"_id": {"$regex": f"^{account}/"}})
    assert await svc.ledger.holder_balance(museum) == 0
    # the redelivery, to the process that replaced it (nothing kept in memory)
    restarted = _services(db)
    await restarted.ledger.accrue_order(event, meta)
    assert await restarted.ledger.holder_balance(museum) == 700
    assert await restarted.ledger.holder_balance(donor) == 300
    assert await restarted.store.account_balance(f"licensee:{licensee}") == 1000


async def test_reversals_of_an_accrual_are_read_by_id(engine: tuple[Services, _Scans]) -> None:
    svc, scans = engine
    museum, donor, licensee, relic, license_id = await _licensed(svc)
    paid = order_paid(
        unique("order"),
        license_id,
        licensee,
        relic,
        museum,
        quantity=4,
        unit_price_fen=1000,
        paid_at=NOW,
    )
    await svc.ledger.accrue_order(paid, _meta(paid.TYPE))
    scans.found.clear()
    for _ in range(3):  # 3 of 4 units back, one refund at a time
        refund = OrderRefunded(
            order_id=paid.order_id,
            refund_id=unique("refund"),
            lines=[
                RefundLine(
                    line_id="line-1",
                    product_id="prod-1",
                    sku="SKU-1",
                    quantity=1,
                    amount_fen=1000,
                    license_id=license_id,
                    licensee_id=licensee,
                    relic_ids=[relic],
                    museum_id=museum,
                )
            ],
            amount_fen=1000,
            restock=False,
            refunded_at=NOW,
        )
        await svc.ledger.reverse_refund(refund, _meta(refund.TYPE))
    assert scans.found == []
    # 400 accrued, 300 reversed: 100 left, 70 / 30
    assert (await svc.ledger.holder_balance(museum), await svc.ledger.holder_balance(donor)) == (
        70,
        30,
    )


async def test_the_history_loader_posts_what_the_consumer_would(
    engine: tuple[Services, _Scans],
) -> None:
    svc, _ = engine
    museum, donor, licensee, relic, license_id = await _licensed(svc)
    paid = [
        order_paid(
            unique("order"),
            license_id,
            licensee,
            relic,
            museum,
            quantity=1 + i % 2,
            unit_price_fen=1234,
            paid_at=NOW - timedelta(days=40 - i),
        )
        for i in range(6)
    ]
    refund = OrderRefunded(
        order_id=paid[1].order_id,
        refund_id=unique("refund"),
        lines=[
            RefundLine(
                line_id="line-1",
                product_id="prod-1",
                sku="SKU-1",
                quantity=1,
                amount_fen=1234,
                license_id=license_id,
                licensee_id=licensee,
                relic_ids=[relic],
                museum_id=museum,
            )
        ],
        amount_fen=1234,
        restock=True,
        refunded_at=NOW - timedelta(days=30),
    )
    events = [envelope(e) for e in (*paid, refund)]
    keys = svc.authenticity.keys
    published = await load_history(svc.store.db, events, cert_keys=keys)
    assert [e.id for e in published] == [
        *(f"accrual:{p.order_id}:line-1" for p in paid),
        f"reversal:{refund.refund_id}:line-1",
    ]
    assert await load_history(svc.store.db, events, cert_keys=keys) == []  # loaded once
    # every past unit has its certificate, as the consumer would have issued
    # it: 1 + 2 + 1 + 2 + 1 + 2 units, the refunded one revoked, none twice
    serials = [
        derive_serial(keys.serial_key, cert_id(p.order_id, "line-1", u))
        for p in paid
        for u in range(1, p.lines[0].quantity + 1)
    ]
    certs = [await svc.authenticity.verify(serial) for serial in serials]
    assert len(certs) == 9
    assert [c.status for c in certs].count("revoked") == 1
    assert {c.order_id for c in certs if c.status == "revoked"} == {refund.order_id}
    claims = [verify_jws(c.jws, keys.ring.public_keys()) for c in certs]
    assert sorted(str(x["serial"]) for x in claims) == sorted(serials)
    page = await read_page(svc.store.books, f"holder:{museum}", PageQuery(100))
    postings = await svc.store.postings_by_ids([x.posting_id for x in page.lines])
    owed = -sum(e.amount_fen for p in postings for e in p.entries if e.party_id == museum)
    assert await svc.ledger.holder_balance(museum) == owed > 0
    # the consumer goes on from the loaded chain: next position, same engine
    more = order_paid(
        unique("order"),
        license_id,
        licensee,
        relic,
        museum,
        quantity=1,
        unit_price_fen=1000,
        paid_at=NOW,
    )
    await svc.ledger.accrue_order(more, _meta(more.TYPE))
    posting = await svc.store.posting(f"accrual:{more.order_id}:line-1")
    assert posting is not None
    assert posting.license_seq == len(paid) + 2
    assert await svc.ledger.holder_balance(museum) == owed + 70
