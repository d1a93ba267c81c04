"""Dashboards and the overview from `_id`-keyed buckets, against the real store.

The events of a scripted museum over six weeks are projected twice: one at a
time through the live handler (guarded upserts, seen ids) and folded in bulk
by the history loader. Both give the script's own figures to the fen, by day
and per product, relic, licensee and license; every command the dashboard and
the overview send names its documents by `_id`; and their number depends on
the days shown, not on how many orders the store holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.monitoring import CommandListener, CommandStartedEvent

from analytics.handlers import project_event
from analytics.history import load_history
from analytics.overview import KafkaSnapshot
from analytics.queries import museum_dashboard, overview
from analytics.reports import Granularity
from analytics.store import ProjectionState, ProjectionStore
from contracts import contract_for
from servicekit.consumer import EventMeta
from servicekit.envelope import Envelope
from servicekit.queries import filters_of, served_by_id
from tests.analytics.scenario import CST, DAY, Refund, Sale, Scenario, at
from tests.conftest import Infra
from tests.support import unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]

WEEKS = 6
LAST = DAY + timedelta(days=7 * WEEKS - 1)


class Commands(CommandListener):
    """Every command the client sends, with its filters."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, list[Any]]] = []

    def started(self, event: CommandStartedEvent) -> None:
        collection = event.command.get(event.command_name)
        filters = filters_of(event.command_name, event.command)
        self.sent.append((event.command_name, str(collection), filters))

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass

    def scans(self) -> list[tuple[str, str, list[Any]]]:
        return [c for c in self.sent if not all(served_by_id(f) for f in c[2])]


@pytest_asyncio.fixture
async def client(infra: Infra) -> AsyncIterator[tuple[AsyncMongoClient, Commands]]:
    commands = Commands()
    mongo: AsyncMongoClient = AsyncMongoClient(
        infra.mongodb_url, tz_aware=True, event_listeners=[commands]
    )
    yield mongo, commands
    await mongo.close()


@pytest_asyncio.fixture
async def databases(client: tuple[AsyncMongoClient, Commands]) -> AsyncIterator[list[Any]]:
    mongo, _ = client
    names = [unique("analytics_buckets").replace("-", "_") for _ in range(2)]
    yield [mongo[name] for name in names]
    for name in names:
        await mongo.drop_database(name)


def six_weeks() -> Scenario:
    """Two products sold every few days for six weeks, refunds and payouts
    on other days."""
    s = Scenario.scripted_day()
    p1, p2 = s.products
    s.sales = [
        Sale(unique("order"), at(DAY + timedelta(days=d), 9 + d % 12, d % 60), [(p1, 1 + d % 3)])
        if d % 2
        else Sale(unique("order"), at(DAY + timedelta(days=d), 23, 50), [(p1, 1), (p2, 2)])
        for d in range(0, 7 * WEEKS, 3)
    ]
    s.refunds = [
        Refund(s.sales[1].order_id, at(DAY + timedelta(days=8), 11), [(p1, 1)]),
        Refund(s.sales[4].order_id, at(DAY + timedelta(days=20), 0, 10), [(p2, 1)]),
    ]
    s.payouts = [(at(DAY + timedelta(days=15), 12), 700), (at(LAST, 18), 1_100)]
    return s


async def project_live(
    store: ProjectionStore, events: list[Envelope], offsets: Counter[str] | None = None
) -> None:
    """Each event through the live handler, at increasing offsets per topic."""
    offsets = Counter() if offsets is None else offsets
    for env in events:
        contract = contract_for(env.type)
        assert contract is not None
        meta = EventMeta(
            id=env.id,
            type=env.type,
            source=env.source,
            subject=env.subject,
            time=env.time,
            topic=contract.TOPIC,
            partition=0,
            offset=offsets[contract.TOPIC],
        )
        offsets[contract.TOPIC] += 1
        await project_event(contract.model_validate(env.data), meta, store=store)


async def dashboard(store: ProjectionStore, museum_id: str, start: date, end: date) -> Any:
    return await museum_dashboard(
        store=store, museum_id=museum_id, start=start, end=end, granularity=Granularity.DAY, top=50
    )


def assert_shows_the_script(payload: dict[str, Any], scenario: Scenario) -> None:
    for name, value in scenario.expected_totals().items():
        assert payload["totals"][name] == value, name
    series = {p["period"]: p for p in payload["series"]}
    assert len(series) == 7 * WEEKS
    for day, figures in scenario.expected_days().items():
        for name, value in figures.items():
            assert series[day][name] == value, (day, name)
    for table, key in (
        ("top_products", "product"),
        ("top_relics", "relic"),
        ("top_licensees", "licensee"),
    ):
        want = scenario.expected_by(key)
        got = {row["id"]: row for row in payload[table]}
        assert set(got) == set(want), table
        for ident, values in want.items():
            assert got[ident]["net_fen"] == values["net_fen"], (table, ident)
            assert got[ident]["net_units"] == values["units"] - sum(
                q for r in scenario.refunds for p, q in r.items if ident in _keys(p, key)
            )
            assert got[ident]["royalty_net_fen"] == values["royalty_net_fen"], (table, ident)
    want = scenario.expected_by("license")
    assert {row["license_id"] for row in payload["guarantees"]} == set(want)
    for row in payload["guarantees"]:
        assert row["earned_fen"] == want[row["license_id"]]["royalty_net_fen"]
        assert row["net_fen"] == want[row["license_id"]]["net_fen"]


def _keys(product: Any, key: str) -> list[str]:
    return {
        "product": [product.product_id],
        "relic": list(product.relic_ids),
        "licensee": [product.licensee_id],
    }[key]


async def test_live_and_history_buckets_show_the_script_across_days(
    client: tuple[AsyncMongoClient, Commands], databases: list[Any]
) -> None:
    _, commands = client
    scenario = six_weeks()
    events = scenario.all_events()
    live = ProjectionStore(databases[0], 1)
    await live.prepare()
    await project_live(live, events)
    assert await load_history(databases[1], events) == []
    loaded = ProjectionStore(databases[1], await ProjectionState(databases[1]).active_version())

    payloads = []
    for store in (live, loaded):
        commands.sent.clear()
        payload = (await dashboard(store, scenario.museum_id, DAY, LAST)).model_dump(mode="json")
        assert commands.scans() == [], commands.scans()
        assert_shows_the_script(payload, scenario)
        payloads.append({k: v for k, v in payload.items() if k != "projection_version"})
    assert payloads[0] == payloads[1]  # the loader made what the projector makes

    # a sub-range: only its days count, weeks clipped to it
    start, end = DAY + timedelta(days=7), DAY + timedelta(days=20)
    part = await museum_dashboard(
        store=live,
        museum_id=scenario.museum_id,
        start=start,
        end=end,
        granularity=Granularity.WEEK,
        top=50,
    )
    days = scenario.expected_days()
    inside = [f for d, f in days.items() if start <= date.fromisoformat(d) <= end]
    assert part.totals.gross_fen == sum(f.get("gross_fen", 0) for f in inside)
    assert part.totals.refunds_fen == sum(f.get("refunds_fen", 0) for f in inside)
    assert sum(p.gross_fen for p in part.series) == part.totals.gross_fen
    assert sum(p.net_fen for p in part.top_products) == part.totals.net_fen

    # the overview: all time, today's bucket, the last hour's minutes
    now = scenario.sales[-1].paid_at + timedelta(minutes=5)
    for store in (live, loaded):
        commands.sent.clear()
        view = await overview(store=store, kafka=KafkaSnapshot([], [], {}), now=now)
        assert commands.scans() == [], commands.scans()
        expected = scenario.expected_totals()
        assert view.gmv_fen == expected["gross_fen"]
        assert view.refunds_fen == expected["refunds_fen"]
        assert view.orders == len(scenario.sales)
        today = now.astimezone(CST).date().isoformat()
        assert view.today.gross_fen == days[today]["gross_fen"]
        assert len(view.minutes) == 60
        last = scenario.sales[-1]
        assert sum(m.gross_fen for m in view.minutes) == sum(p.price_fen * q for p, q in last.items)


async def test_the_dashboard_reads_as_much_with_a_year_of_history(
    client: tuple[AsyncMongoClient, Commands], databases: list[Any]
) -> None:
    """The same dashboard before and after 365 more days of orders: the same
    commands, each by `_id`, the same number of documents."""
    _, commands = client
    db = databases[0]
    scenario = six_weeks()
    await load_history(db, scenario.all_events())
    store = ProjectionStore(db, await ProjectionState(db).active_version())
    start, end = LAST - timedelta(days=29), LAST

    async def read() -> tuple[list[tuple[str, str]], Any]:
        commands.sent.clear()
        payload = await dashboard(store, scenario.museum_id, start, end)
        assert commands.scans() == [], commands.scans()
        return [(name, coll) for name, coll, _ in commands.sent], payload

    before, first = await read()
    p1, p2 = scenario.products
    year = Scenario(museum_id=scenario.museum_id, products=scenario.products)
    year.guarantees, year.relics = scenario.guarantees, scenario.relics
    year.sales = [
        Sale(unique("order"), at(DAY - timedelta(days=d), 14), [(p1, 1), (p2, 1)])
        for d in range(1, 366)
    ]
    history = [e for sale in year.sales for e in year.sale_events(sale)]
    await load_history(db, history)
    after, second = await read()
    assert after == before
    # the year before the range does not show in it (guarantees are all-time)
    assert second.model_copy(update={"guarantees": []}) == first.model_copy(
        update={"guarantees": []}
    )
    assert [g.gross_fen for g in second.guarantees] != [g.gross_fen for g in first.guarantees]
    everything = await dashboard(store, scenario.museum_id, DAY - timedelta(days=365), LAST)
    assert everything.totals.orders == len(scenario.sales) + 365


async def test_history_then_live_events_add_up_exactly(databases: list[Any]) -> None:
    """Documents the loader wrote take later live events on top (`_hwm`
    starts empty), and an id recorded live is skipped when republished."""
    db = databases[0]
    scenario = six_weeks()
    events = scenario.all_events()
    half = len(events) // 2
    await load_history(db, events[:half])
    store = ProjectionStore(db, await ProjectionState(db).active_version())
    await store.prepare()
    offsets: Counter[str] = Counter()
    await project_live(store, events[half:], offsets)
    await project_live(store, events[half:], offsets)  # republished: new offsets, same ids
    payload = (await dashboard(store, scenario.museum_id, DAY, LAST)).model_dump(mode="json")
    assert_shows_the_script(payload, scenario)
    doc = await db[f"v{store.version}_museum_days"].find_one(
        {"_id": f"{scenario.museum_id}|{LAST.isoformat()}"}
    )
    assert doc is not None
    assert doc["_hwm"]  # live offsets recorded on top of the loaded document
