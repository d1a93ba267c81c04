"""ip's order consumer as a batch handler (ip.handlers.handle_batch), against
real Kafka and the real store: a batch costs a constant number of store
commands whatever its size, a whole batch redelivered after a crash between
its writes and its commit changes nothing, a poison event mid-batch is
dead-lettered while the events around it post once, and a paid order and its
refund in one batch end as if applied one by one."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient, monitoring

from contracts import Event, dlq_topic
from contracts.catalog import DonorRef, RelicRegistered
from contracts.orders import OrderPaid, OrderRefunded, RefundLine
from ip.domain import LicenseScope, RoyaltyTerms
from ip.handlers import CONSUMED, Services, build_services, handle_batch
from ip.royalty import Tier
from ip.store import Store, ensure_indexes
from servicekit.auth import Principal, Role
from servicekit.bus import KafkaPublisher
from servicekit.consumer import BatchSubscription, ConsumerRunner, EventMeta
from servicekit.envelope import Envelope, encode
from servicekit.queries import BOUNDED, filters_of, served_by_id
from tests.conftest import Infra
from tests.integration.kafka_helpers import create_topics, read_all
from tests.ip.conftest import envelope, order_paid
from tests.support import eventually, unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]
NOW = datetime.now(UTC)
QUIET = {"hello", "ismaster", "isMaster", "ping", "endSessions", "saslStart", "saslContinue"}


class _Commands(monitoring.CommandListener):
    """Every store command sent, and those the store would not serve by `_id`."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.scans: list[tuple[str, str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in QUIET:
            return
        self.sent.append(event.command_name)
        target = event.command.get(event.command_name)
        if isinstance(target, str) and target not in BOUNDED:
            for query in filters_of(event.command_name, event.command):
                if not served_by_id(query):
                    self.scans.append((event.command_name, target, query))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest_asyncio.fixture
async def engine(infra: Infra) -> AsyncIterator[tuple[Services, _Commands]]:
    commands = _Commands()
    client: AsyncMongoClient = AsyncMongoClient(
        infra.mongodb_url, tz_aware=True, event_listeners=[commands]
    )
    db = client[unique("ipbatch").replace("-", "_")]
    await ensure_indexes(db)
    yield build_services(Store(db), donor_share_bps=3000, close_grace_s=0), commands
    await client.close()


def _meta(event: Event, offset: int = 0, event_id: str | None = None) -> EventMeta:
    return EventMeta(event_id or str(uuid.uuid4()), event.TYPE, "tests", "s", NOW, "t", 0, offset)


class World:
    """A museum, a donor, a licensee and a tiered license on one relic."""

    def __init__(self, museum: str, donor: str, licensee: str, relic: str, license_id: str):
        self.museum, self.donor, self.licensee = museum, donor, licensee
        self.relic, self.license_id = relic, license_id

    def paid(self, quantity: int, order_id: str | None = None) -> OrderPaid:
        return order_paid(
            order_id or unique("order"),
            self.license_id,
            self.licensee,
            self.relic,
            self.museum,
            quantity=quantity,
            unit_price_fen=1000,
            paid_at=NOW,
        )

    def refund(self, order_id: str, quantity: int, refund_id: str | None = None) -> OrderRefunded:
        line = RefundLine(
            line_id="line-1",
            product_id="prod-1",
            sku="SKU-1",
            quantity=quantity,
            amount_fen=quantity * 1000,
            license_id=self.license_id,
            licensee_id=self.licensee,
            relic_ids=[self.relic],
            museum_id=self.museum,
        )
        return OrderRefunded(
            order_id=order_id,
            refund_id=refund_id or unique("refund"),
            lines=[line],
            amount_fen=quantity * 1000,
            restock=False,
            refunded_at=NOW,
        )


async def _world(
    svc: Services, museum: str | None = None, donor: str | None = None, licensee: str | None = None
) -> World:
    museum, donor = museum or unique("museum"), donor or unique("donor")
    licensee, relic = licensee or unique("lic"), unique("relic")
    registered = RelicRegistered(
        relic_id=relic,
        museum_id=museum,
        name_zh="鼎",
        name_en="Ding",
        category="bronze",
        protection_grade="first",
        donor=DonorRef(donor_id=donor, name="Donor"),
    )
    await handle_batch(svc, [(registered, _meta(registered))])
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
    terms = RoyaltyTerms(1000, tiers=(Tier(50, 2000),))
    applicant = Principal("u1", Role.LICENSEE, licensee_id=licensee)
    lic = await svc.licensing.apply(applicant, scope=scope, terms=terms, now=NOW)
    owner = Principal("u2", Role.MUSEUM, museum_id=museum)
    await svc.licensing.act(owner, lic.license_id, "approve", now=NOW)
    return World(museum, donor, licensee, relic, lic.license_id)


async def _state(svc: Services) -> dict[str, list[dict[str, Any]]]:
    """Everything the order consumer writes, whole (a test may scan)."""
    db = svc.store.db
    names = ["journal", "license_heads", "ledger_days", "ledger_months", "ledger_balances"]
    names += ["accrual_reversals", "order_postings"]
    names += ["unmatched", "outbox_pending"]
    return {n: [d async for d in db[n].find({}).sort("_id", 1)] for n in names}


async def _balances(svc: Services, world: World) -> tuple[int, int, int]:
    return (
        await svc.ledger.holder_balance(world.museum),
        await svc.ledger.holder_balance(world.donor),
        await svc.store.account_balance(f"licensee:{world.licensee}"),
    )


# --- store commands per event ---------------------------------------------------


async def test_a_batch_of_paid_orders_costs_the_same_commands_whatever_its_size(
    engine: tuple[Services, _Commands],
) -> None:
    svc, commands = engine
    worlds = [await _world(svc), await _world(svc)]
    commands.scans.clear()  # setting up (license grants) is not the consumer

    async def batch(size: int) -> int:
        items = [(e, _meta(e)) for e in (worlds[i % 2].paid(1 + i % 3) for i in range(size))]
        commands.sent.clear()
        await handle_batch(svc, items)
        return len(commands.sent)

    await batch(4)  # heads, buckets and balances exist: steady state from here
    small, large = await batch(10), await batch(100)
    print(f"\nip store commands: {small} for 10 paid orders, {large} for 100")  # noqa: T201
    assert large == small  # structural: a constant per batch, not per event
    assert large / 100 <= 2
    assert commands.scans == []  # every command served by `_id`
    postings = await svc.store.postings({"kind": "accrual"})
    assert len(postings) == 114
    for w in worlds:
        seqs = sorted(p.license_seq or 0 for p in postings if p.license_id == w.license_id)
        assert seqs == list(range(1, 58))


async def test_a_paid_order_and_its_refund_in_one_batch_end_as_applied_one_by_one(
    infra: Infra,
) -> None:
    client: AsyncMongoClient = AsyncMongoClient(infra.mongodb_url, tz_aware=True)
    results = []
    museum, donor, licensee = unique("museum"), unique("donor"), unique("lic")
    order_id, refund_id = unique("order"), unique("refund")
    others = unique("order"), unique("order")
    try:
        for together in (True, False):
            db = client[unique("ipfold").replace("-", "_")]
            await ensure_indexes(db)
            svc = build_services(Store(db), donor_share_bps=3000, close_grace_s=0)
            world = await _world(svc, museum, donor, licensee)
            events: list[Event] = [
                world.paid(30, others[0]),
                world.paid(25, order_id),  # crosses the tier at unit 50
                world.refund(order_id, 10, refund_id),
                world.paid(5, others[1]),
            ]
            items = [(e, _meta(e, i, f"evt-{i}")) for i, e in enumerate(events)]
            if together:
                await handle_batch(svc, items)
            else:
                for item in items:
                    await handle_batch(svc, [item])
            postings = await svc.store.postings({})
            shape = sorted(
                (p.license_seq or 0, p.posting_id, p.amounts, p.cum_after, p.entries)
                for p in postings
                if p.kind in {"accrual", "reversal"}
            )
            named = [p.posting_id for p in postings if p.order_id == order_id]
            results.append((shape, named, await _balances(svc, world)))
    finally:
        await client.close()
    assert results[0] == results[1]
    shape, named, _ = results[0]
    assert [s[0] for s in shape] == [1, 2, 3, 4]
    assert named == [f"accrual:{order_id}:line-1", f"reversal:{refund_id}:line-1"]


# --- through real Kafka -----------------------------------------------------------


async def _publish(bootstrap: str, topic: str, envelopes: Sequence[Envelope]) -> None:
    publisher = KafkaPublisher(bootstrap, "ip-batch-tests")
    try:
        await publisher.publish(topic, [encode(e) for e in envelopes])
    finally:
        await publisher.stop()


def _runner(infra: Infra, topic: str, handle: Any, dlq: KafkaPublisher) -> ConsumerRunner:
    return ConsumerRunner(
        bootstrap_servers=infra.kafka_bootstrap,
        group_id=f"group-{topic}",
        topics=[topic],
        batch=BatchSubscription(CONSUMED, handle),
        dead_letters=dlq,
        backoff=0.01,
    )


async def _drain(runner: ConsumerRunner, done: Any, what: str) -> None:
    task = asyncio.create_task(runner.run())
    try:
        await eventually(done, timeout=90, what=what)
    finally:
        await runner.stop()
        await task


async def test_a_batch_redelivered_whole_after_a_crash_before_its_commit_changes_nothing(
    infra: Infra, engine: tuple[Services, _Commands]
) -> None:
    svc, _ = engine
    world = await _world(svc)
    topic = unique("test.ip.batch")
    await create_topics(infra.kafka_bootstrap, topic)
    sales = [world.paid(1 + i % 4) for i in range(40)]
    refund = world.refund(sales[3].order_id, 1)
    envelopes = [envelope(e) for e in (*sales, refund)]
    await _publish(infra.kafka_bootstrap, topic, envelopes)
    dlq = KafkaPublisher(infra.kafka_bootstrap, "ip-batch-dlq")
    written = asyncio.Event()
    first_batch: list[int] = []

    async def crashing(items: Sequence[tuple[Event, EventMeta]]) -> None:
        await handle_batch(svc, items)
        first_batch.append(len(items))
        written.set()
        await asyncio.Event().wait()  # the process dies before its commit

    first = asyncio.create_task(_runner(infra, topic, crashing, dlq).run())
    await asyncio.wait_for(written.wait(), 60)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    after_crash = await _state(svc)
    applied = {d["_id"] for d in after_crash["journal"]}

    async def handle(items: Sequence[tuple[Event, EventMeta]]) -> None:
        await handle_batch(svc, items)

    async def all_posted() -> bool:
        return await svc.store.count_postings({}) == len(envelopes)

    try:
        await _drain(_runner(infra, topic, handle, dlq), all_posted, "every sale posted")
    finally:
        await dlq.stop()
    final = await _state(svc)
    # the first batch's postings were not touched by its redelivery
    assert [d for d in final["journal"] if d["_id"] in applied] == after_crash["journal"]
    accruals = [d for d in final["journal"] if d["kind"] == "accrual"]
    assert sorted(d["order_id"] for d in accruals) == sorted(s.order_id for s in sales)
    assert sorted(d["license_seq"] for d in final["journal"]) == list(range(1, 42))
    assert all(len(d["_outbox"]) == 1 and d["_outbox_marks"] == 1 for d in final["journal"])
    royalty = sum(
        d["royalty_fen"] * (1 if d["kind"] == "accrual" else -1) for d in final["journal"]
    )
    museum, donor, licensee = await _balances(svc, world)
    assert museum + donor == licensee == royalty
    # and the whole stream once more, as one batch: nothing moves
    await handle_batch(
        svc,
        [
            (e, _meta(e, event_id=env.id))
            for e, env in zip([*sales, refund], envelopes, strict=True)
        ],
    )
    assert await _state(svc) == final
    print(f"\nfirst batch: {first_batch[0]} events, redelivered whole: no change")  # noqa: T201


async def test_a_poison_event_mid_batch_is_dead_lettered_and_its_neighbours_post_once(
    infra: Infra, engine: tuple[Services, _Commands]
) -> None:
    svc, _ = engine
    world = await _world(svc)
    topic = unique("test.ip.poison")
    await create_topics(infra.kafka_bootstrap, topic)
    sales = [world.paid(2) for _ in range(9)]
    poison = sales[4].order_id
    await _publish(infra.kafka_bootstrap, topic, [envelope(e) for e in sales])
    dlq = KafkaPublisher(infra.kafka_bootstrap, "ip-batch-dlq")
    batches: list[int] = []

    async def poisoned(items: Sequence[tuple[Event, EventMeta]]) -> None:
        """The batch's writes land, then one of its events fails: the runner
        re-applies its events one by one."""
        batches.append(len(items))
        good = [(e, m) for e, m in items if not (isinstance(e, OrderPaid) and e.order_id == poison)]
        await handle_batch(svc, good)
        if len(good) < len(items):
            raise ValueError(f"order {poison} cannot be handled")

    async def settled() -> bool:
        dead = await read_all(infra.kafka_bootstrap, dlq_topic(topic), expected=1, timeout=1)
        return len(dead) == 1 and await svc.store.count_postings({}) == 8

    try:
        await _drain(_runner(infra, topic, poisoned, dlq), settled, "poison dead-lettered")
    finally:
        await dlq.stop()
    assert max(batches) > 1  # the poison came inside a batch
    dead = await read_all(infra.kafka_bootstrap, dlq_topic(topic), expected=1)
    assert [dict(r.headers)["dlq_error_type"] for r in dead] == [b"ValueError"]
    journal = (await _state(svc))["journal"]
    assert sorted(d["order_id"] for d in journal) == sorted(
        s.order_id for s in sales if s.order_id != poison
    )
    assert sorted(d["license_seq"] for d in journal) == list(range(1, 9))
    assert all(len(d["_outbox"]) == 1 for d in journal)
    museum, donor, licensee = await _balances(svc, world)
    assert museum + donor == licensee == 8 * 200
