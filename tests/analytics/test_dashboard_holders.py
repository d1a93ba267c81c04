"""Issue 18, item 1: the museum dashboard shows royalties by holder, against
real Kafka and the real store. The museum's own share and its donor's each
equal their splits to the fen (driven by events), and reconcile with ip's
balances for the same holders when ip itself posts the day (end to end)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.analytics.helpers import RANGE, dashboard, museum_token, wait_for_totals
from tests.analytics.scenario import CST, Scenario, publish
from tests.conftest import Infra
from tests.ip.conftest import Feed, Ip
from tests.support import eventually, unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]

SHARE = ("accrued_fen", "reversed_fen", "net_fen", "paid_fen", "outstanding_fen")


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_a_co_owned_day_shows_each_holders_share_to_the_fen(
    infra: Infra, run_service
) -> None:
    scenario = Scenario.co_owned_day()
    await publish(infra.kafka_bootstrap, scenario.all_events())
    service = run_service("analytics")
    payload = await wait_for_totals(service, scenario)

    want = scenario.expected_holders()
    museum = scenario.museum_id
    ((mask, (donor, _)),) = scenario.donors.items()
    assert set(want) == {museum, donor}
    # sanity of the script: the splits add up to the licence royalty
    totals = payload["totals"]
    assert (
        want[museum]["accrued_fen"] + want[donor]["accrued_fen"] == (totals["royalty_accrued_fen"])
    )
    assert want[donor]["accrued_fen"] > 0
    assert want[donor]["reversed_fen"] > 0

    # the museum's own share and the co-owners', in the totals and alone
    for figure in SHARE:
        assert totals[f"museum_share_{figure}"] == want[museum][figure], figure
        assert totals[f"co_owner_share_{figure}"] == want[donor][figure], figure
        assert payload["museum_share"][figure] == want[museum][figure], figure
    assert payload["museum_share"]["holder_id"] == museum
    assert payload["museum_share"]["holder_kind"] == "museum"
    # the whole-licence royalty is NOT the museum's: it is both shares together
    assert totals["royalty_net_fen"] == (
        totals["museum_share_net_fen"] + totals["co_owner_share_net_fen"]
    )
    assert totals["museum_share_net_fen"] < totals["royalty_net_fen"]

    # the donor, by holder id, with its name and the relic its share came from
    (owner,) = payload["co_owners"]
    assert (owner["holder_id"], owner["holder_kind"]) == (donor, "donor")
    assert owner["name"] == "Donor of Bronze Mask"
    for figure in SHARE:
        assert owner[figure] == want[donor][figure], figure
    assert [r["relic_id"] for r in owner["relics"]] == [mask]  # the lamp's jade is the museum's
    assert owner["relics"][0]["net_fen"] == want[donor]["net_fen"]
    assert owner["relics"][0]["name_en"] == "Bronze Mask"

    # per relic: the mask's royalty splits between the museum and the donor
    relics = {r["id"]: r for r in payload["top_relics"]}
    assert relics[mask]["co_owner_share_net_fen"] == want[donor]["net_fen"]
    assert (
        relics[mask]["museum_share_net_fen"] + want[donor]["net_fen"]
        == (relics[mask]["royalty_net_fen"])
    )
    (jade,) = set(relics) - {mask}  # the museum's alone
    assert relics[jade]["co_owner_share_net_fen"] == 0

    # per day: the series adds up to the totals
    for figure in ("museum_share_net_fen", "co_owner_share_paid_fen"):
        assert sum(p[figure] for p in payload["series"]) == totals[figure]

    # the CSVs carry the same figures
    async with service.client(museum_token(museum)) as client:
        path = f"/museums/{museum}/export"
        holders = _csv((await client.get(f"{path}/holders.csv", params=RANGE)).text)
        assert [h["holder_id"] for h in holders] == [museum, donor]
        for row in holders:
            for figure in SHARE:
                assert int(row[figure]) == want[row["holder_id"]][figure], figure
        assert holders[1]["relic_ids"] == mask
        by_relic = _csv((await client.get(f"{path}/co-owner-relics.csv", params=RANGE)).text)
        assert [(r["holder_id"], r["relic_id"], int(r["net_fen"])) for r in by_relic] == [
            (donor, mask, want[donor]["net_fen"])
        ]
        revenue = _csv((await client.get(f"{path}/revenue.csv", params=RANGE)).text)
        assert (
            sum(int(r["museum_share_outstanding_fen"]) for r in revenue)
            == (want[museum]["outstanding_fen"])
        )
        top = _csv((await client.get(f"{path}/top-relics.csv", params=RANGE)).text)
        assert {r["id"]: int(r["co_owner_share_net_fen"]) for r in top}[mask] == (
            want[donor]["net_fen"]
        )


# --- end to end with ip: the dashboard equals ip's balances ------------------------


async def _posting(ip: Ip, posting_id: str) -> dict[str, Any]:
    return await ip.wait_for(f"/ledger/postings/{posting_id}", f"posting {posting_id}")


def _holder_amounts(posting: dict[str, Any], holders: set[str]) -> dict[str, int]:
    """What a posting credited (accrual) or debited back (reversal) to each holder."""
    return {
        e["party_id"]: abs(int(e["amount_fen"]))
        for e in posting["entries"]
        if e["party_id"] in holders
    }


async def test_the_dashboard_reconciles_with_ips_balances(infra: Infra, run_service) -> None:
    ip = Ip(run_service("ip", IP_SCHEDULER_INTERVAL_S="0.5"), Feed(infra.kafka_bootstrap))
    service = run_service("analytics")
    museum, donor, licensee = unique("museum"), unique("donor"), unique("licensee")
    await ip.museum(museum)
    relic = await ip.relic(museum, donor_id=donor)  # donated: museum 70 %, donor 30 %
    license_id = await ip.license(
        museum, licensee, relic, terms={"rate_bps": 1000, "minimum_per_unit_fen": 150}
    )

    # four paid orders (one under the per-unit minimum), then a partial refund
    orders = [(7, 1001), (3, 3333), (2, 999), (5, 1299)]
    order_ids = []
    for quantity, price in orders:
        order_id, _ = await ip.pay(
            license_id, licensee, relic, museum, quantity=quantity, unit_price_fen=price
        )
        order_ids.append(order_id)
    holders = {museum, donor}
    figures: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    licence_royalty = 0
    for order_id in order_ids:
        posting = await _posting(ip, f"accrual:{order_id}:line-1")
        licence_royalty += int(posting["royalty_fen"])
        for holder, amount in _holder_amounts(posting, holders).items():
            figures[holder]["accrued_fen"] += amount
    refund_id = await ip.refund(
        order_ids[1], license_id, licensee, relic, museum, quantity=2, amount_fen=2 * 3333
    )
    reversal = await _posting(ip, f"reversal:{refund_id}:line-1")
    for holder, amount in _holder_amounts(reversal, holders).items():
        figures[holder]["reversed_fen"] += amount
    for holder, amount in ((museum, 500), (donor, 120)):
        paid = await ip.post(
            "/payouts", {"reference": unique("wire"), "holder_id": holder, "amount_fen": amount}
        )
        assert paid.status_code == 201, paid.text
        figures[holder]["paid_fen"] += amount
    balances = {holder: await ip.balance(holder) for holder in holders}
    for holder, f in figures.items():
        f["net_fen"] = f["accrued_fen"] - f["reversed_fen"]
        f["outstanding_fen"] = f["net_fen"] - f["paid_fen"]
        assert f["outstanding_fen"] == balances[holder], holder  # ip agrees with itself
    assert figures[donor]["accrued_fen"] > 0
    assert figures[donor]["reversed_fen"] > 0

    # the dashboard over the last 30 days (Shanghai), today included: all of it
    today = datetime.now(CST).date()
    span = {"from": (today - timedelta(days=29)).isoformat(), "to": today.isoformat()}

    async def shows_ips_balances() -> bool:
        payload = await dashboard(service, museum, **span)
        co = {o["holder_id"]: o for o in payload["co_owners"]}
        return (
            payload["museum_share"]["outstanding_fen"] == balances[museum]
            and donor in co
            and co[donor]["outstanding_fen"] == balances[donor]
        )

    await eventually(shows_ips_balances, timeout=60, what="the dashboard shows ip's balances")
    payload = await dashboard(service, museum, **span)
    (owner,) = payload["co_owners"]
    for figure in SHARE:
        assert payload["museum_share"][figure] == figures[museum][figure], figure
        assert payload["totals"][f"museum_share_{figure}"] == figures[museum][figure], figure
        assert owner[figure] == figures[donor][figure], figure
        assert payload["totals"][f"co_owner_share_{figure}"] == figures[donor][figure], figure
    assert owner["holder_kind"] == "donor"
    assert [r["relic_id"] for r in owner["relics"]] == [relic]
    # the licence royalty stays, labelled as such: both shares together
    assert payload["totals"]["royalty_accrued_fen"] == licence_royalty
    assert payload["totals"]["royalty_accrued_fen"] == (
        figures[museum]["accrued_fen"] + figures[donor]["accrued_fen"]
    )
