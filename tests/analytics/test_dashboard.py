"""The analytics service against real Kafka and FerretDB: dashboard figures
equal the scripted inputs to the fen, redelivery changes nothing, museums see
only their own dashboards, the overview reads Kafka, a replay rebuilds the
same figures."""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
import sys
from typing import Any

import pytest

from servicekit.auth import Principal, Role
from tests.analytics.helpers import (
    OPERATOR,
    RANGE,
    TOKENS,
    dashboard,
    group_members,
    live_group,
    museum_token,
    wait_for_totals,
)
from tests.analytics.scenario import (
    DAY,
    NEXT,
    Sale,
    Scenario,
    at,
    caught_up,
    publish,
    rewind,
)
from tests.conftest import Infra
from tests.support import ROOT, eventually, unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]


def figures(payload: dict[str, Any]) -> dict[str, Any]:
    """What a museum sees, without the bookkeeping that may differ (version)."""
    return {k: v for k, v in payload.items() if k != "projection_version"}


async def test_a_scripted_day_shows_to_the_fen(infra: Infra, run_service) -> None:
    scenario = Scenario.scripted_day()
    await publish(infra.kafka_bootstrap, scenario.all_events())
    service = run_service("analytics")

    payload = await wait_for_totals(service, scenario)

    # totals over the range, and the refund rate
    expected = scenario.expected_totals()
    totals = payload["totals"]
    for name, value in expected.items():
        assert totals[name] == value, name
    assert totals["refund_rate_bps"] == round(
        expected["refunds_fen"] * 10_000 / expected["gross_fen"]
    )
    # by day: the order paid at 00:30 Shanghai time belongs to the next day
    days = scenario.expected_days()
    series = {p["period"]: p for p in payload["series"]}
    assert list(series) == [DAY.isoformat(), NEXT.isoformat()]
    for day, figures_of_day in days.items():
        for name, value in figures_of_day.items():
            assert series[day][name] == value, (day, name)
    assert series[DAY.isoformat()]["orders"] == 2
    # by week and month: one bucket each here, equal to the totals
    for granularity in ("week", "month"):
        grouped = await dashboard(service, scenario.museum_id, granularity=granularity)
        assert len(grouped["series"]) == 1
        assert grouped["series"][0]["net_fen"] == expected["net_fen"]
        assert (
            grouped["series"][0]["royalty_outstanding_fen"] == (expected["royalty_outstanding_fen"])
        )

    # top tables: net sales and net royalty per product, relic and licensee
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
            assert got[ident]["royalty_net_fen"] == values["royalty_net_fen"], (table, ident)
        nets = [row["net_fen"] for row in payload[table]]
        assert nets == sorted(nets, reverse=True)
    assert {r["name_en"] for r in payload["top_relics"]} == set(scenario.relics.values())
    assert payload["museum_name_en"] == "Sanxingdui Test Museum"

    # guarantee progress per license
    want = scenario.expected_by("license")
    for row in payload["guarantees"]:
        earned = want[row["license_id"]]["royalty_net_fen"]
        guarantee = scenario.guarantees[row["license_id"]]
        assert row["earned_fen"] == earned
        assert row["minimum_guarantee_fen"] == guarantee
        if guarantee:
            assert row["progress_bps"] == min(round(earned * 10_000 / guarantee), 10_000)
            assert row["shortfall_fen"] == max(guarantee - earned, 0)

    # every table exports as CSV with the same figures
    async with service.client(museum_token(scenario.museum_id)) as client:
        for table, rows in (
            ("revenue", payload["series"]),
            ("top-products", payload["top_products"]),
            ("top-relics", payload["top_relics"]),
            ("top-licensees", payload["top_licensees"]),
            ("guarantees", payload["guarantees"]),
        ):
            response = await client.get(
                f"/museums/{scenario.museum_id}/export/{table}.csv", params=RANGE
            )
            assert response.status_code == 200, response.text
            assert response.headers["content-type"].startswith("text/csv")
            parsed = list(csv.DictReader(io.StringIO(response.text)))
            assert len(parsed) == len(rows), table
            for line, row in zip(parsed, rows, strict=True):
                assert int(line["net_fen"]) == row["net_fen"], table


async def test_a_paid_order_shows_within_five_seconds(infra: Infra, run_service) -> None:
    service = run_service("analytics")
    scenario = Scenario.scripted_day()
    await publish(infra.kafka_bootstrap, scenario.setup_events())
    await eventually(
        lambda: caught_up(infra.kafka_bootstrap, live_group(service)),
        timeout=60,
        what="the service caught up",
    )
    product = scenario.products[0]
    sale = Sale(unique("order"), at(DAY, 15, 0), [(product, 4)])
    await publish(infra.kafka_bootstrap, scenario.sale_events(sale))

    async def shown() -> bool:
        totals = (await dashboard(service, scenario.museum_id))["totals"]
        return totals["gross_fen"] == product.price_fen * 4

    await eventually(shown, timeout=5, what="the paid order on the dashboard")


async def test_redelivering_everything_changes_nothing(infra: Infra, run_service) -> None:
    scenario = Scenario.scripted_day()
    events = scenario.all_events()
    await publish(infra.kafka_bootstrap, events)
    service = run_service("analytics")
    group = live_group(service)
    before = await wait_for_totals(service, scenario)

    # 1. the same events again (same ids, new offsets): a relay republishing
    await publish(infra.kafka_bootstrap, events)
    await eventually(lambda: caught_up(infra.kafka_bootstrap, group), what="caught up")
    assert figures(await dashboard(service, scenario.museum_id)) == figures(before)

    # 2. the same records again (same offsets): the group rewound to the start
    service.stop()
    await rewind(infra.kafka_bootstrap, group)
    service.start()
    await eventually(lambda: caught_up(infra.kafka_bootstrap, group), what="caught up again")
    assert figures(await dashboard(service, scenario.museum_id)) == figures(before)


async def test_a_museum_sees_only_its_own_dashboard(run_service) -> None:
    service = run_service("analytics")
    mine, theirs = unique("museum"), unique("museum")
    async with service.client(museum_token(mine)) as client:
        assert (await client.get(f"/museums/{mine}/dashboard")).status_code == 200
        response = await client.get(f"/museums/{theirs}/dashboard")
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("application/problem+json")
        assert (await client.get(f"/museums/{theirs}/export/revenue.csv")).status_code == 403
        assert (await client.get("/overview")).status_code == 403
        assert (await client.post("/replays")).status_code == 403
    tourist = TOKENS.mint(Principal("t-1", Role.TOURIST))
    async with service.client(tourist) as client:
        assert (await client.get(f"/museums/{mine}/dashboard")).status_code == 403
    async with service.client() as client:
        assert (await client.get(f"/museums/{mine}/dashboard")).status_code == 401
    async with service.client(OPERATOR) as client:
        assert (await client.get(f"/museums/{theirs}/dashboard")).status_code == 200
        # a museum id in another script still names its CSV (found by tests/fuzz)
        export = await client.get("/museums/三星堆/export/revenue.csv")
        assert export.status_code == 200, export.text
        disposition = export.headers["content-disposition"]
        assert disposition.startswith("attachment; filename*=UTF-8''%E4%B8%89"), disposition
        bad = await client.get(
            f"/museums/{theirs}/dashboard", params={"from": "2026-02-01", "to": "2026-01-01"}
        )
        assert bad.status_code == 422


async def test_operator_overview_reads_gmv_lag_and_dead_letters(infra: Infra, run_service) -> None:
    scenario = Scenario.scripted_day()
    await publish(infra.kafka_bootstrap, scenario.all_events())
    service = run_service("analytics", OVERVIEW_SAMPLE_MS="200")
    await wait_for_totals(service, scenario)
    group = live_group(service)

    # a poison message: analytics dead-letters it, and the overview counts it
    from cloudevents.core.bindings.kafka import KafkaMessage

    from servicekit.bus import KafkaPublisher

    async with service.client(OPERATOR) as client:
        first = (await client.get("/overview")).json()
        publisher = KafkaPublisher(infra.kafka_bootstrap, "test-poison")
        try:
            await publisher.publish(
                "orders.orders",
                [
                    KafkaMessage(
                        headers={
                            "ce_id": b"poison-1",
                            "ce_type": b"rebirth.orders.order.paid.v1",
                            "ce_source": b"test",
                            "ce_specversion": b"1.0",
                        },
                        key=b"poison",
                        value=b'{"order_id": "poison"}',
                    )
                ],
            )
        finally:
            await publisher.stop()

        async def counted() -> bool:
            overview = (await client.get("/overview")).json()
            return overview["dead_letters_total"] > first["dead_letters_total"]

        await eventually(counted, what="the dead letter counted")
        await eventually(lambda: caught_up(infra.kafka_bootstrap, group), what="caught up")
        overview = (await client.get("/overview")).json()

    expected = scenario.expected_totals()
    assert overview["gmv_fen"] >= expected["gross_fen"]
    assert overview["orders"] >= len(scenario.sales)
    topics = {t["topic"]: t for t in overview["topics"]}
    assert set(topics) >= {"orders.orders", "ip.royalties", "catalog.products"}
    assert topics["orders.orders"]["dead_letters"] >= 1
    assert topics["orders.orders"]["events_per_second"] is not None
    ours = [lag for lag in overview["lags"] if lag["group"] == group]
    assert {lag["topic"] for lag in ours} >= {"orders.orders", "ip.royalties"}
    assert all(lag["lag"] == 0 for lag in ours)
    assert all(lag["service"] == "analytics" for lag in ours)
    assert len(overview["minutes"]) == 60


async def test_replay_rebuilds_the_same_figures_and_goes_live(infra: Infra, run_service) -> None:
    scenario = Scenario.scripted_day()
    await publish(infra.kafka_bootstrap, scenario.all_events())
    service = run_service("analytics", PROJECTION_POLL_MS="200")
    live = await wait_for_totals(service, scenario)
    assert live["projection_version"] == 1

    async def run_replay(client: Any) -> int:
        started: dict[str, Any] = {}

        async def start() -> bool:  # 409 while the previous replay's task winds down
            response = await client.post("/replays")
            assert response.status_code in (202, 409), response.text
            started.update(response.json())
            return response.status_code == 202

        await eventually(start, what="a replay started")
        version = started["version"]

        async def finished() -> bool:
            record = (await client.get(f"/replays/{version}")).json()
            assert record["status"] != "failed", record
            return record["status"] == "activated"

        await eventually(finished, timeout=60, what=f"replay {version} activated")
        return int(version)

    async with service.client(OPERATOR) as client:
        first = await run_replay(client)
        replayed = await dashboard(service, scenario.museum_id)
        assert replayed["projection_version"] == first
        assert figures(replayed) == figures(live)

        second = await run_replay(client)  # twice: nothing doubles
        again = await dashboard(service, scenario.museum_id)
        assert again["projection_version"] == second > first
        assert figures(again) == figures(live)

    # the command line does the same, with a progress bar; tiny limits make it
    # spill its fold to the store many times (upserts) instead of inserting once
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "analytics", "replay"],
        env={**service.env, "REPLAY_MAX_DOCS": "7", "REPLAY_BATCH_EVENTS": "3"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "events/s" in done.stderr
    assert "activated" in done.stderr
    third = await dashboard(service, scenario.museum_id)
    assert third["projection_version"] == second + 1
    assert figures(third) == figures(live)
    second = third["projection_version"]

    # the live projector moved to the new version: new sales land there
    sale = Sale(unique("order"), at(NEXT, 18, 0), [(scenario.products[1], 2)])
    await publish(infra.kafka_bootstrap, scenario.sale_events(sale))
    want = live["totals"]["gross_fen"] + scenario.products[1].price_fen * 2

    async def landed() -> bool:
        payload = await dashboard(service, scenario.museum_id)
        return payload["totals"]["gross_fen"] == want and payload["projection_version"] == second

    await eventually(landed, timeout=30, what="a new sale in the replayed version")


async def test_partitions_handed_over_between_replicas_count_everything_once(
    infra: Infra, run_service
) -> None:
    """A second replica joins (a rebalance splits the partitions), the first
    leaves (the second takes them all): every event still counts once.

    The replicas never write at the same moment: FerretDB 1.24 loses concurrent
    updates of one document (see test_store), so on it analytics runs one
    replica at a time; on MongoDB they may overlap."""
    shared = {
        "ANALYTICS_MONGODB_DATABASE": unique("analytics").replace("-", "_"),
        "KAFKA_CONSUMER_GROUP": unique("analytics"),
    }
    bootstrap = infra.kafka_bootstrap
    first = run_service("analytics", **shared)
    group = live_group(first)
    scenarios = [Scenario.scripted_day() for _ in range(3)]
    events = [e for s in scenarios for e in s.all_events()]
    half = len(events) // 2
    await publish(bootstrap, events[:half])
    await eventually(lambda: caught_up(bootstrap, group), what="the first replica caught up")
    second = run_service("analytics", **shared)  # same store, same group: partitions split

    async def members(n: int) -> bool:
        return await group_members(bootstrap, group) == n

    await eventually(lambda: members(2), what="both replicas in the group")
    first.stop()  # leaves the group: the second replica takes every partition
    await eventually(lambda: members(1), what="one replica left")
    await publish(bootstrap, events[half:])
    for scenario in scenarios:
        payload = await wait_for_totals(second, scenario, timeout=60)
        for name, value in scenario.expected_totals().items():
            assert payload["totals"][name] == value, (scenario.museum_id, name)


async def test_hot_paths_send_no_scan(infra: Infra, run_service) -> None:
    """Projecting (copies included), the dashboard, its CSV and the overview:
    `store_scans_total` stays empty, every command named its documents by `_id`."""
    scenario = Scenario.scripted_day()
    events = scenario.all_events()
    await publish(infra.kafka_bootstrap, events)
    service = run_service("analytics")
    await wait_for_totals(service, scenario)
    await publish(infra.kafka_bootstrap, events[-3:])  # republished copies
    group = live_group(service)
    await eventually(lambda: caught_up(infra.kafka_bootstrap, group), what="caught up")
    async with service.client(OPERATOR) as client:
        assert (await client.get("/overview")).status_code == 200
        csv_export = await client.get(f"/museums/{scenario.museum_id}/export/top-products.csv")
        assert csv_export.status_code == 200
        assert (await client.get("/replays/1")).status_code == 404
        await dashboard(service, scenario.museum_id)
        metrics = (await client.get("/metrics")).text
    # the timer saw the commands (the projector's guarded updates among them)
    assert 'store_command_duration_seconds_count{collection="v1_museum_days",command="update"}' in (
        metrics
    )
    scans = [
        line
        for line in metrics.splitlines()
        if line.startswith("store_scans_total{") and not line.endswith(" 0.0")
    ]
    assert scans == []
