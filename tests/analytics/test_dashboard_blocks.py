"""A year of one museum's orders, projected live (batches of the projector)
and by the history loader, against the real store: the dashboard of any
range, aligned with the breakdown blocks or not, shows the script's own
figures to the fen, reading the day buckets and the few blocks covering the
range, each by `_id`. Day buckets written before the blocks existed (their
breakdown nested in them) still count.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.monitoring import CommandListener, CommandStartedEvent

from analytics.changes import (
    MUSEUM_BLOCKS,
    MUSEUM_DAYS,
    block_cover,
    blocks_of_day,
    museum_day_id,
)
from analytics.handlers import project_batch
from analytics.history import load_history
from analytics.queries import museum_dashboard
from analytics.reports import Granularity
from analytics.store import ProjectionState, ProjectionStore, collection_name
from contracts import Event, contract_for
from servicekit.consumer import EventMeta
from servicekit.envelope import Envelope
from servicekit.queries import filters_of, served_by_id
from tests.analytics.museum_year import Truth, year_events, year_of_orders
from tests.conftest import Infra
from tests.support import unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]

LAST = date(2026, 11, 20)
COUNTERS = (
    "gross_fen",
    "refunds_fen",
    "units",
    "refunded_units",
    "royalty_accrued_fen",
    "royalty_reversed_fen",
)


def _block(day: date, span: int) -> tuple[date, date]:
    """The days of the block of `span` days that holds `day`."""
    first = {s: f for f, s in blocks_of_day(day)}[span]
    return first, first + timedelta(days=span - 1)


RANGES = {
    "one 32-day block": _block(date(2026, 10, 20), 32),
    "one 16-day block": _block(date(2026, 9, 9), 16),
    "one day": (date(2026, 8, 3), date(2026, 8, 3)),
    "the default 30 days": (LAST - timedelta(days=29), LAST),
    "an odd week": (date(2026, 6, 3), date(2026, 6, 9)),
    "33 days across two 32-day blocks": (
        _block(date(2026, 10, 20), 32)[0] - timedelta(days=1),
        _block(date(2026, 10, 20), 32)[1],
    ),
    "a quarter": (date(2026, 5, 17), date(2026, 8, 14)),
    "the whole year and before": (LAST - timedelta(days=400), LAST),
}


class Commands(CommandListener):
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, list[Any]]] = []

    def started(self, event: CommandStartedEvent) -> None:
        filters = filters_of(event.command_name, event.command)
        self.sent.append((event.command_name, str(event.command.get(event.command_name)), filters))

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass


@pytest_asyncio.fixture
async def mongo(infra: Infra) -> AsyncIterator[tuple[AsyncMongoClient, Commands, list[str]]]:
    commands = Commands()
    client: AsyncMongoClient = AsyncMongoClient(
        infra.mongodb_url, tz_aware=True, event_listeners=[commands]
    )
    names: list[str] = []
    yield client, commands, names
    for name in names:
        await client.drop_database(name)
    await client.close()


def _items(events: list[Envelope]) -> list[tuple[Event, EventMeta]]:
    """The events as the projector gets them: two partitions per topic,
    increasing offsets in each."""
    offsets: dict[tuple[str, int], int] = {}
    out = []
    for env in events:
        contract = contract_for(env.type)
        assert contract is not None
        partition = hash(env.subject) % 2
        key = (contract.TOPIC, partition)
        offset = offsets[key] = offsets.get(key, -1) + 1
        meta = EventMeta(
            env.id, env.type, env.source, env.subject, env.time, contract.TOPIC, partition, offset
        )
        out.append((contract.model_validate(env.data), meta))
    return out


def assert_shows(payload: Any, truth: Truth, start: date, end: date, what: str) -> None:
    days = truth.days(start, end)
    for name in (*COUNTERS, "orders", "refunds", "royalty_paid_fen"):
        want = sum(f.get(name, 0) for f in days.values())
        assert getattr(payload.totals, name) == want, (what, name)
    series = {p.period: p for p in payload.series}
    assert len(series) == (end - start).days + 1
    for day, figures in days.items():
        assert series[day].gross_fen == figures.get("gross_fen", 0), (what, day)
    for table, key in (
        (payload.top_products, "product"),
        (payload.top_relics, "relic"),
        (payload.top_licensees, "licensee"),
    ):
        want = truth.by(key, start, end)
        assert {row.id for row in table} == set(want), (what, key)
        for row in table:
            figures = want[row.id]
            for name in COUNTERS:
                if name != "refunded_units":  # shown as net units
                    assert getattr(row, name) == figures.get(name, 0), (what, key, row.id, name)
            net_units = figures["units"] - figures.get("refunded_units", 0)
            assert row.net_units == net_units, (what, key, row.id)


async def test_any_range_shows_the_script_to_the_fen(
    mongo: tuple[AsyncMongoClient, Commands, list[str]],
) -> None:
    client, commands, names = mongo
    scenario = year_of_orders(orders=700, last=LAST, seed=11)
    events = year_events(scenario)
    truth = Truth(scenario)
    names += [unique("analytics_blocks").replace("-", "_") for _ in range(2)]
    live = ProjectionStore(client[names[0]], 1)
    await live.prepare()
    items = _items(events)
    for i in range(0, len(items), 150):  # polls of the live projector
        await project_batch(items[i : i + 150], store=live)
    assert await load_history(client[names[1]], events) == []
    db = client[names[1]]
    loaded = ProjectionStore(db, await ProjectionState(db).active_version())

    for what, (start, end) in RANGES.items():
        payloads = []
        for store in (live, loaded):
            commands.sent.clear()
            payload = await museum_dashboard(
                store=store,
                museum_id=scenario.museum_id,
                start=start,
                end=end,
                granularity=Granularity.DAY,
                top=1_000,
            )
            assert all(served_by_id(f) for _, _, fs in commands.sent for f in fs), what
            blocks = collection_name(MUSEUM_BLOCKS, store.version)
            block_reads = [fs for _, c, fs in commands.sent if c == blocks]
            assert [len(f[0]["_id"]["$in"]) for f in block_reads] == [len(block_cover(start, end))]
            assert_shows(payload, truth, start, end, what)
            payloads.append(payload.model_copy(update={"projection_version": 0}))
        assert payloads[0] == payloads[1], what  # the loader made what the projector makes
        if what.startswith("one "):
            assert len(block_cover(start, end)) == 1, what


async def test_day_buckets_of_the_older_layout_still_count(
    mongo: tuple[AsyncMongoClient, Commands, list[str]],
) -> None:
    """A day bucket that carries its own breakdown (written before the
    blocks) adds to the blocks' figures: each event counted in one of them."""
    client, _, names = mongo
    scenario = year_of_orders(orders=60, last=LAST, seed=3)
    names.append(unique("analytics_layout").replace("-", "_"))
    db = client[names[0]]
    await load_history(db, year_events(scenario))
    store = ProjectionStore(db, await ProjectionState(db).active_version())
    product = scenario.products[0]
    old_day = LAST - timedelta(days=400)  # before the script: nothing else on it
    await store.collection(MUSEUM_DAYS).insert_one(
        {
            "_id": museum_day_id(scenario.museum_id, old_day.isoformat()),
            "museum_id": scenario.museum_id,
            "day": old_day.isoformat(),
            "gross_fen": 1_000,
            "units": 2,
            "products": {product.product_id: {"gross_fen": 1_000, "units": 2}},
        }
    )
    start = old_day
    payload = await museum_dashboard(
        store=store,
        museum_id=scenario.museum_id,
        start=start,
        end=LAST,
        granularity=Granularity.MONTH,
        top=1_000,
    )
    want = Truth(scenario).by("product", start, LAST)
    row = next(r for r in payload.top_products if r.id == product.product_id)
    assert row.gross_fen == want[product.product_id]["gross_fen"] + 1_000
    assert row.units == want[product.product_id]["units"] + 2
    assert payload.totals.gross_fen == sum(p.gross_fen for p in payload.top_products)
