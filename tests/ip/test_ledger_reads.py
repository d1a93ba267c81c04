"""Ledger reads for integrators and open-period statements (issue 18 items 3
and 4), through real Kafka and the real store: the ledger and payables
filtered by order, line, license and time range with a cursor, and the
provisional statement of the open month equal to the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from servicekit.auth import Role
from tests.ip.conftest import Ip, token
from tests.support import eventually, unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]


async def _seed(ip: Ip) -> tuple[str, str, str, str, str, str]:
    museum, donor, licensee = unique("museum"), unique("donor"), unique("licensee")
    await ip.museum(museum)
    relic = await ip.relic(museum, donor_id=donor)
    first = await ip.license(museum, licensee, relic, terms={"rate_bps": 1000})
    other = await ip.relic(museum)
    second = await ip.license(museum, licensee, other, terms={"rate_bps": 500})
    return museum, donor, licensee, relic, first, second


async def _all(ip: Ip, path: str, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        body = (await ip.get(path, **params, **({"cursor": cursor} if cursor else {}))).json()
        found += body["postings"]
        cursor = body["next_cursor"]
        if cursor is None:
            return found


async def test_the_ledger_filters_by_order_line_license_and_time(ip: Ip) -> None:
    museum, _, licensee, relic, first, second = await _seed(ip)
    other_relic = (await ip.get(f"/licenses/{second}")).json()["relic_ids"][0]
    now = datetime.now(UTC)
    orders = []
    for i in range(6):
        license_id, on = (first, relic) if i % 2 == 0 else (second, other_relic)
        order_id, _ = await ip.pay(
            license_id,
            licensee,
            on,
            museum,
            quantity=1 + i,
            unit_price_fen=1000,
            paid_at=now - timedelta(hours=6 - i),
        )
        orders.append(order_id)
    # a second line on the first order, and a refund of its first line
    await ip.pay(
        first,
        licensee,
        relic,
        museum,
        quantity=2,
        unit_price_fen=700,
        order_id=orders[0],
        line_id="line-2",
        paid_at=now - timedelta(hours=6),
    )
    refund = await ip.refund(orders[0], first, licensee, relic, museum, quantity=1, amount_fen=1000)
    await ip.wait_for(f"/ledger/postings/reversal:{refund}:line-1", "the reversal")
    await ip.wait_for(f"/ledger/postings/accrual:{orders[0]}:line-2", "the second line")
    path = f"/holders/{museum}/ledger"

    async def everything() -> bool:
        return len(await _all(ip, path, limit=3)) == 8

    await eventually(everything, timeout=120, what="every posting in the books")
    by_order = await _all(ip, path, order_id=orders[0], limit=2)
    assert [p["posting_id"] for p in by_order] == [
        f"accrual:{orders[0]}:line-1",
        f"accrual:{orders[0]}:line-2",
        f"reversal:{refund}:line-1",
    ]
    line = (await ip.get(path, order_id=orders[0], line_id="line-2")).json()["postings"]
    assert [p["posting_id"] for p in line] == [f"accrual:{orders[0]}:line-2"]
    assert (await ip.get(path, line_id="line-2")).status_code == 422
    by_license = await _all(ip, path, license_id=second, limit=2)
    assert [p["order_id"] for p in by_license] == [orders[1], orders[3], orders[5]]
    since, until = now - timedelta(hours=4, minutes=30), now - timedelta(hours=1, minutes=30)
    window = await _all(ip, path, limit=1, **{"from": since.isoformat(), "to": until.isoformat()})
    assert [p["order_id"] for p in window] == orders[2:5]
    # the licensee's payables take the same filters
    payables = await _all(ip, f"/licensees/{licensee}/payables", order_id=orders[3], limit=10)
    assert [p["posting_id"] for p in payables] == [f"accrual:{orders[3]}:line-1"]
    mine = token(Role.LICENSEE, licensee_id=licensee)
    assert (
        await ip.get(f"/licensees/{licensee}/payables", mine, license_id=first)
    ).status_code == 200


async def test_the_provisional_statement_of_the_open_month_equals_the_ledger(ip: Ip) -> None:
    museum, donor, licensee, relic, first, _ = await _seed(ip)
    order_id, _ = await ip.pay(first, licensee, relic, museum, quantity=3, unit_price_fen=3333)
    refund = await ip.refund(order_id, first, licensee, relic, museum, quantity=1, amount_fen=3333)
    await ip.wait_for(f"/ledger/postings/reversal:{refund}:line-1", "the reversal")
    for holder in (museum, donor):

        async def projected(h: str = holder) -> bool:
            return len((await ip.get(f"/holders/{h}/ledger")).json()["postings"]) == 2

        await eventually(projected, timeout=60, what="both postings in the books")
        response = await ip.get(f"/holders/{holder}/statements/current")
        assert response.status_code == 200, response.text
        current = response.json()
        assert current["provisional"] is True
        ledger = (await ip.get(f"/holders/{holder}/ledger")).json()
        owed = {
            kind: -sum(
                e["amount_fen"]
                for p in ledger["postings"]
                if p["kind"] == kind
                for e in p["entries"]
                if e["party_id"] == holder
            )
            for kind in ("accrual", "reversal")
        }
        assert current["accrued_fen"] == owed["accrual"] > 0
        assert current["reversed_fen"] == -owed["reversal"] > 0
        assert current["opening_balance_fen"] == 0
        assert current["closing_balance_fen"] == ledger["balance"]["balance_fen"]
        assert [s["license_id"] for s in current["sections"]] == [first]
    bad = await ip.get(f"/holders/{museum}/statements/current", period="2026-13")
    assert bad.status_code == 422
