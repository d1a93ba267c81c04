"""The royalty engine against real Kafka and a real MongoDB-wire store:
balanced, exactly once, reversible, and scoped to who may see it."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]

from ip.domain import next_period, period_bounds, period_of
from servicekit.auth import Role
from tests.ip.conftest import NOW, Ip, license_body, token
from tests.support import eventually, unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]


async def _seed(ip: Ip, *, terms: dict | None = None, donor: bool = True):
    museum, donor_id, licensee = unique("museum"), unique("donor"), unique("licensee")
    await ip.museum(museum)
    relic = await ip.relic(museum, donor_id=donor_id if donor else None)
    license_id = await ip.license(museum, licensee, relic, terms=terms)
    return museum, donor_id, licensee, relic, license_id


async def _posting(ip: Ip, posting_id: str) -> dict:
    return await ip.wait_for(f"/ledger/postings/{posting_id}", f"posting {posting_id}")


async def test_an_order_paid_posts_balanced_entries_split_70_30(ip: Ip) -> None:
    museum, donor, licensee, relic, license_id = await _seed(ip)
    asset = (await ip.get(f"/assets/relic-{relic}")).json()
    shares = {s["holder_id"]: s["share_bps"] for s in asset["ownership"][0]["shares"]}
    assert shares == {museum: 7000, donor: 3000}

    order_id, _ = await ip.pay(license_id, licensee, relic, museum, quantity=7, unit_price_fen=1001)
    posting = await _posting(ip, f"accrual:{order_id}:line-1")

    # 10 % of 7,007 = 700.7 -> 701 (half-even); 70/30 by largest remainder: 491 / 210
    assert posting["royalty_fen"] == 701
    amounts = {e["party_id"]: e["amount_fen"] for e in posting["entries"]}
    assert amounts == {licensee: 701, museum: -491, donor: -210}
    assert sum(e["amount_fen"] for e in posting["entries"]) == 0
    await ip.wait_balance(museum, 491)
    await ip.wait_balance(donor, 210)
    payables = await ip.get(
        f"/licensees/{licensee}/payables", token(Role.LICENSEE, licensee_id=licensee)
    )
    assert payables.json()["balance"]["balance_fen"] == 701
    assert await ip.trial_total() == 0


async def test_the_same_event_delivered_5_times_leaves_the_ledger_identical(ip: Ip) -> None:
    museum, donor, licensee, relic, license_id = await _seed(ip)
    order_id, first = await ip.pay(
        license_id, licensee, relic, museum, quantity=3, unit_price_fen=3333
    )
    await _posting(ip, f"accrual:{order_id}:line-1")
    before = (await ip.get(f"/holders/{museum}/ledger")).json()
    donor_before = await ip.balance(donor)

    await ip.feed.send(*([first] * 4))  # the same event again, 4 more times
    await ip.pay(  # and the same order paid under another event id
        license_id, licensee, relic, museum, quantity=3, unit_price_fen=3333, order_id=order_id
    )
    # a sentinel behind them on the same partition (same order key), for another museum
    other_museum, other_licensee = unique("museum"), unique("licensee")
    await ip.museum(other_museum)
    other_relic = await ip.relic(other_museum)
    other_license = await ip.license(other_museum, other_licensee, other_relic)
    await ip.pay(
        other_license,
        other_licensee,
        other_relic,
        other_museum,
        quantity=1,
        unit_price_fen=500,
        order_id=order_id,
        line_id="sentinel",
    )
    await _posting(ip, f"accrual:{order_id}:sentinel")

    assert (await ip.get(f"/holders/{museum}/ledger")).json() == before
    assert await ip.balance(donor) == donor_before
    assert len(before["postings"]) == 1
    assert await ip.trial_total() == 0
    accrued = await _topic(ip.feed.bootstrap, "ip.royalties", "license_id", license_id, 1)
    assert [e["ce_id"] for e in accrued] == [f"accrual:{order_id}:line-1"]  # published once
    assert sum(split["amount_fen"] for split in accrued[0]["splits"]) == accrued[0]["royalty_fen"]


async def test_a_sale_then_its_full_refund_restores_every_balance(ip: Ip) -> None:
    museum, donor, licensee, relic, license_id = await _seed(ip)
    first, _ = await ip.pay(license_id, licensee, relic, museum, quantity=2, unit_price_fen=5000)
    await _posting(ip, f"accrual:{first}:line-1")
    prior = {h: await ip.balance(h) for h in (museum, donor)}
    assert prior == {museum: 700, donor: 300}

    order_id, _ = await ip.pay(license_id, licensee, relic, museum, quantity=3, unit_price_fen=3333)
    await _posting(ip, f"accrual:{order_id}:line-1")
    partial = await ip.refund(
        order_id, license_id, licensee, relic, museum, quantity=1, amount_fen=3333
    )
    reversal = await _posting(ip, f"reversal:{partial}:line-1")
    assert reversal["royalty_fen"] == 333  # 1,000 x 3,333 / 9,999 = 333.3
    assert sum(e["amount_fen"] for e in reversal["entries"]) == 0
    rest = await ip.refund(
        order_id, license_id, licensee, relic, museum, quantity=2, amount_fen=6666
    )
    await _posting(ip, f"reversal:{rest}:line-1")

    assert {h: await ip.balance(h) for h in (museum, donor)} == prior
    assert await ip.trial_total() == 0
    trial = (await ip.get("/ledger/trial-balance")).json()["accounts"]
    assert trial[f"licensee:{licensee}"] == 1000  # only the first sale is still owed


async def test_an_advance_is_recouped_before_royalties_become_payable(ip: Ip) -> None:
    museum, donor, licensee, relic, license_id = await _seed(
        ip, terms={"rate_bps": 1000, "advance_fen": 1000}
    )
    await _posting(ip, f"advance:{license_id}")
    await ip.wait_balance(museum, 700)
    order_id, _ = await ip.pay(license_id, licensee, relic, museum, quantity=3, unit_price_fen=5000)
    posting = await _posting(ip, f"accrual:{order_id}:line-1")
    assert (posting["royalty_fen"], posting["recouped_fen"]) == (1500, 1000)
    assert {e["party_id"]: e["amount_fen"] for e in posting["entries"]} == {
        licensee: 500,
        museum: -350,
        donor: -150,
    }
    await ip.wait_balance(museum, 1050)
    assert await ip.trial_total() == 0


def _mid(period: str) -> datetime:
    return period_bounds(period)[0].astimezone(UTC) + timedelta(days=14)


async def test_statements_close_periods_and_add_up(own_ip: Ip) -> None:
    ip = own_ip
    current = period_of(NOW)
    p1 = period_of(period_bounds(current)[0] - timedelta(days=1))
    p2 = period_of(period_bounds(p1)[0] - timedelta(days=1))
    assert next_period(p2) == p1
    museum, donor, licensee, relic, license_id = await _seed(
        ip, terms={"rate_bps": 1000, "minimum_guarantee_fen": 500}
    )
    sale_a, _ = await ip.pay(
        license_id, licensee, relic, museum, quantity=4, unit_price_fen=2500, paid_at=_mid(p2)
    )
    assert (await _posting(ip, f"accrual:{sale_a}:line-1"))["period"] == p2

    for not_a_period in ("0000-01", "9999-12", "2026-13", "x"):  # found by tests/fuzz
        refused = await ip.post(f"/periods/{not_a_period}/close")
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
    closed = await ip.post(f"/periods/{p2}/close")
    assert closed.status_code == 200, closed.text
    first = (await ip.get(f"/statements/{museum}:{p2}")).json()
    assert (first["opening_balance_fen"], first["accrued_fen"], first["closing_balance_fen"]) == (
        0,
        700,
        700,
    )
    assert first["shortfall_fen"] == 0  # earned 1,000 >= the 500 guarantee

    # late: dated in the closed p2, so it posts to the next open period, p1
    late, _ = await ip.pay(
        license_id, licensee, relic, museum, quantity=1, unit_price_fen=2000, paid_at=_mid(p2)
    )
    assert (await _posting(ip, f"accrual:{late}:line-1"))["period"] == p1
    refund = await ip.refund(
        sale_a,
        license_id,
        licensee,
        relic,
        museum,
        quantity=1,
        amount_fen=2500,
        refunded_at=_mid(p1),
    )
    assert (await _posting(ip, f"reversal:{refund}:line-1"))["period"] == p1

    assert (await ip.post(f"/periods/{p1}/close")).status_code == 200
    second = (await ip.get(f"/statements/{museum}:{p1}")).json()
    assert second["opening_balance_fen"] == first["closing_balance_fen"]
    # earned in p1: 200 - 250 < 0, so the whole 500 guarantee is charged: 350 to the museum
    assert (second["accrued_fen"], second["reversed_fen"], second["shortfall_fen"]) == (
        140,
        175,
        350,
    )
    for statement in (first, second):
        assert statement["closing_balance_fen"] == (
            statement["opening_balance_fen"]
            + statement["accrued_fen"]
            - statement["reversed_fen"]
            + statement["shortfall_fen"]
            + statement["advance_fen"]
            - statement["payouts_fen"]
        )

    lines = (await ip.get(f"/statements/{museum}:{p1}/lines")).json()
    assert sorted(line["kind"] for line in lines) == ["accrual", "reversal", "shortfall"]
    assert sum(line["amount_fen"] for line in lines) == (
        second["closing_balance_fen"] - second["opening_balance_fen"]
    )
    csv = await ip.get(f"/statements/{museum}:{p1}/csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert late in csv.text
    assert f"closing_balance_fen,{second['closing_balance_fen']}" in csv.text

    payout = {"reference": unique("wire"), "holder_id": museum, "amount_fen": 300}
    assert (await ip.post("/payouts", payout)).status_code == 201
    assert (await ip.post(f"/periods/{current}/close")).status_code == 200
    third = (await ip.get(f"/statements/{museum}:{current}")).json()
    assert third["opening_balance_fen"] == second["closing_balance_fen"]
    assert third["payouts_fen"] == 300
    assert third["closing_balance_fen"] == await ip.balance(museum)
    assert (await ip.post(f"/periods/{p1}/close")).status_code == 409  # locked
    issued = await _topic(ip.feed.bootstrap, "ip.royalties", "holder_id", museum, 4)
    statements = [e for e in issued if e["ce_type"].endswith("statement.issued.v1")]
    by_id = {e["statement_id"]: e for e in statements}
    assert len(statements) == len(by_id) == 3  # one license section each, no duplicates
    assert set(by_id) == {f"{museum}:{p2}", f"{museum}:{p1}", f"{museum}:{current}"}
    section = by_id[f"{museum}:{p1}"]  # the museum's only license: its section is the whole
    assert (section["opening_balance_fen"], section["closing_balance_fen"]) == (
        second["opening_balance_fen"],
        second["closing_balance_fen"],
    )
    assert await ip.trial_total() == 0


async def test_payouts_are_capped_by_the_balance_and_idempotent_by_reference(ip: Ip) -> None:
    museum, donor, licensee, relic, license_id = await _seed(ip)
    order_id, _ = await ip.pay(license_id, licensee, relic, museum, quantity=1, unit_price_fen=1000)
    await _posting(ip, f"accrual:{order_id}:line-1")  # donor is owed 30
    payout = {"reference": unique("wire"), "holder_id": donor, "amount_fen": 20}
    assert (await ip.post("/payouts", payout)).status_code == 201
    again = await ip.post("/payouts", payout)
    assert again.status_code == 200
    assert again.json()["amount_fen"] == 20
    await ip.wait_balance(donor, 10)
    too_much = await ip.post("/payouts", {**payout, "reference": unique("wire"), "amount_fen": 11})
    assert too_much.status_code == 422
    assert too_much.headers["content-type"] == "application/problem+json"
    reused = await ip.post("/payouts", {**payout, "amount_fen": 5})
    assert reused.status_code == 409
    assert await ip.trial_total() == 0


async def test_an_exclusive_license_conflict_is_409_and_bad_terms_are_422(ip: Ip) -> None:
    museum, licensee_a, licensee_b = unique("museum"), unique("licensee"), unique("licensee")
    await ip.museum(museum)
    relic = await ip.relic(museum)
    await ip.license(museum, licensee_a, relic, exclusivity="exclusive")

    overlapping = license_body(relic, territory="CN-CQ")
    conflict = await ip.post("/licenses", overlapping, token(Role.LICENSEE, licensee_id=licensee_b))
    assert conflict.status_code == 409, conflict.text
    assert conflict.headers["content-type"] == "application/problem+json"
    elsewhere = await ip.post(
        "/licenses",
        license_body(relic, territory="US"),
        token(Role.LICENSEE, licensee_id=licensee_b),
    )
    assert elsewhere.status_code == 201

    as_b = token(Role.LICENSEE, licensee_id=licensee_b)
    backwards = license_body(relic, territory="JP")
    backwards["ends_at"] = backwards["starts_at"]
    negative = license_body(relic, territory="JP", terms={"rate_bps": -5})
    for body in (backwards, negative):
        bad = await ip.post("/licenses", body, as_b)
        assert bad.status_code == 422, bad.text
        assert bad.headers["content-type"] == "application/problem+json"
    shares = await ip.put(
        f"/assets/relic-{relic}/ownership",
        {
            "shares": [{"holder_id": museum, "holder_kind": "museum", "share_bps": 9000}],
            "effective_at": NOW.isoformat(),
        },
        token(Role.MUSEUM, museum_id=museum),
    )
    assert shares.status_code == 422


async def test_museum_a_cannot_read_museum_b_ledger(ip: Ip) -> None:
    museum_b, _, licensee_b, relic_b, license_b = await _seed(ip)
    museum_a = unique("museum")
    await ip.museum(museum_a)
    order_id, _ = await ip.pay(
        license_b, licensee_b, relic_b, museum_b, quantity=1, unit_price_fen=900
    )
    await _posting(ip, f"accrual:{order_id}:line-1")

    as_a = token(Role.MUSEUM, museum_id=museum_a)
    as_b = token(Role.MUSEUM, museum_id=museum_b)
    for path in (
        f"/holders/{museum_b}/ledger",
        f"/holders/{museum_b}/balance",
        f"/holders/{museum_b}/statements",
        f"/licenses/{license_b}",
        f"/ledger/postings/accrual:{order_id}:line-1",
    ):
        assert (await ip.get(path, as_a)).status_code == 404, path
        assert (await ip.get(path, as_b)).status_code == 200, path
    assert (await ip.get("/licenses", as_a)).json() == []
    assert (await ip.get("/ledger/trial-balance", as_b)).status_code == 403
    other_licensee = token(Role.LICENSEE, licensee_id=unique("licensee"))
    assert (await ip.get(f"/licensees/{licensee_b}/payables", other_licensee)).status_code == 404
    own = await ip.get(
        f"/licensees/{licensee_b}/payables", token(Role.LICENSEE, licensee_id=licensee_b)
    )
    assert own.json()["balance"]["balance_fen"] == 90


async def test_ownership_changes_apply_to_sales_after_their_effective_date(ip: Ip) -> None:
    museum, _, licensee, relic, license_id = await _seed(ip, donor=False)
    as_museum = token(Role.MUSEUM, museum_id=museum)
    artist = await ip.post("/holders", {"kind": "artist", "name": "Artist"}, as_museum)
    assert artist.status_code == 201, artist.text
    artist_id = artist.json()["holder_id"]
    effective = NOW - timedelta(days=1)
    changed = await ip.put(
        f"/assets/relic-{relic}/ownership",
        {
            "shares": [
                {"holder_id": museum, "holder_kind": "museum", "share_bps": 6000},
                {"holder_id": artist_id, "holder_kind": "artist", "share_bps": 4000},
            ],
            "effective_at": effective.isoformat(),
        },
        as_museum,
    )
    assert changed.status_code == 200, changed.text

    before, _ = await ip.pay(
        license_id,
        licensee,
        relic,
        museum,
        quantity=1,
        unit_price_fen=1000,
        paid_at=effective - timedelta(hours=1),
    )
    after, _ = await ip.pay(
        license_id,
        licensee,
        relic,
        museum,
        quantity=1,
        unit_price_fen=1000,
        paid_at=effective + timedelta(hours=1),
    )
    old = await _posting(ip, f"accrual:{before}:line-1")
    new = await _posting(ip, f"accrual:{after}:line-1")
    assert {e["party_id"]: e["amount_fen"] for e in old["entries"]} == {licensee: 100, museum: -100}
    assert {e["party_id"]: e["amount_fen"] for e in new["entries"]} == {
        licensee: 100,
        museum: -60,
        artist_id: -40,
    }


async def _topic(bootstrap: str, topic: str, key: str, value: str, expected: int) -> list[dict]:
    """Events on `topic` whose payload has `key` == `value`: read until `expected` came."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: list[dict] = []
    deadline = time.monotonic() + 30
    try:
        while len(seen) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    body = json.loads(record.value)
                    if body.get(key) == value:
                        headers = {k: v.decode() for k, v in record.headers}
                        seen.append(
                            {"ce_type": headers["ce_type"], "ce_id": headers["ce_id"], **body}
                        )
        # anything more (a duplicate) that is already there shows up too
        for records in (await consumer.getmany(timeout_ms=500)).values():
            for record in records:
                body = json.loads(record.value)
                if body.get(key) == value:
                    headers = {k: v.decode() for k, v in record.headers}
                    seen.append({"ce_type": headers["ce_type"], "ce_id": headers["ce_id"], **body})
        return seen
    finally:
        await consumer.stop()


async def _license_events(bootstrap: str, license_id: str, expected: int) -> list[str]:
    events = await _topic(bootstrap, "ip.licenses", "license_id", license_id, expected)
    return [e["ce_type"] for e in events]


async def test_license_lifecycle_emits_events_and_expires_on_schedule(ip: Ip) -> None:
    museum, licensee = unique("museum"), unique("licensee")
    await ip.museum(museum)
    relic = await ip.relic(museum)
    as_museum = token(Role.MUSEUM, museum_id=museum)
    as_licensee = token(Role.LICENSEE, licensee_id=licensee)

    applied = await ip.post("/licenses", license_body(relic), as_licensee)
    license_id = applied.json()["license_id"]
    countered = await ip.post(
        f"/licenses/{license_id}/counter", {"terms": {"rate_bps": 1200}}, as_museum
    )
    assert countered.json()["status"] == "countered"
    assert (await ip.post(f"/licenses/{license_id}/approve", None, as_museum)).status_code == 409
    accepted = await ip.post(f"/licenses/{license_id}/accept", None, as_licensee)
    assert (accepted.json()["status"], accepted.json()["terms"]["rate_bps"]) == ("active", 1200)
    for action in ("suspend", "reinstate", "revoke"):
        done = await ip.post(f"/licenses/{license_id}/{action}", {"reason": "test"}, as_museum)
        assert done.status_code == 200, done.text

    declined = (await ip.post("/licenses", license_body(relic, territory="JP"), as_licensee)).json()
    await ip.post(
        f"/licenses/{declined['license_id']}/counter", {"terms": {"rate_bps": 3000}}, as_museum
    )
    rejected = await ip.post(f"/licenses/{declined['license_id']}/reject", None, as_licensee)
    assert rejected.json()["status"] == "rejected"

    short = license_body(relic, starts_at=datetime.now(UTC) - timedelta(days=1))
    short["ends_at"] = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    expiring = (await ip.post("/licenses", short, as_licensee)).json()["license_id"]
    await ip.post(f"/licenses/{expiring}/approve", None, as_museum)

    async def expired() -> bool:
        return (await ip.get(f"/licenses/{expiring}")).json()["status"] == "expired"

    await eventually(expired, timeout=30, what="license expired by the scheduler")

    kinds = await _license_events(ip.feed.bootstrap, license_id, expected=4)
    assert [k.split(".")[-2] for k in kinds] == ["granted", "suspended", "reinstated", "revoked"]
    assert [k.split(".")[-2] for k in await _license_events(ip.feed.bootstrap, expiring, 2)] == [
        "granted",
        "expired",
    ]


async def test_registrations_expiring_within_n_days(ip: Ip) -> None:
    museum = unique("museum")
    await ip.museum(museum)
    relic = await ip.relic(museum)
    as_museum = token(Role.MUSEUM, museum_id=museum)
    base = {"registered_at": (NOW - timedelta(days=3000)).isoformat(), "jurisdiction": "CN"}
    soon = {
        **base,
        "kind": "trademark",
        "number": "TM-1",
        "nice_class": 16,
        "expires_at": (NOW + timedelta(days=20)).isoformat(),
    }
    later = {
        **base,
        "kind": "copyright",
        "number": "C-1",
        "expires_at": (NOW + timedelta(days=400)).isoformat(),
    }
    for body in (soon, later):
        created = await ip.post(f"/assets/relic-{relic}/registrations", body, as_museum)
        assert created.status_code == 201, created.text
    no_class = {**soon, "nice_class": None}
    assert (
        await ip.post(f"/assets/relic-{relic}/registrations", no_class, as_museum)
    ).status_code == 422
    listed = (await ip.get("/registrations/expiring", as_museum, within_days=30)).json()
    assert [r["number"] for r in listed] == ["TM-1"]
    other = token(Role.MUSEUM, museum_id=unique("museum"))
    assert (await ip.get("/registrations/expiring", other, within_days=30)).json() == []


async def test_design_assets_and_payout_details(ip: Ip) -> None:
    museum = unique("museum")
    await ip.museum(museum)
    as_museum = token(Role.MUSEUM, museum_id=museum)
    design = await ip.post("/assets", {"title": "Bronze tiger pattern"}, as_museum)
    assert design.status_code == 201, design.text
    shares = design.json()["ownership"][0]["shares"]
    assert (design.json()["museum_id"], shares) == (
        museum,
        [{"holder_id": museum, "holder_kind": "museum", "share_bps": 10_000}],
    )
    assert design.json()["asset_id"] in [
        a["asset_id"] for a in (await ip.get("/assets", as_museum)).json()
    ]
    details = {"bank": "Bank of Chongqing", "account_no": "6222 0000 1234"}
    updated = await ip.put(
        f"/holders/{museum}/payout-details", {"payout_details": details}, as_museum
    )
    assert updated.status_code == 200, updated.text
    assert (await ip.get(f"/holders/{museum}")).json()["payout_details"] == details
    stranger = token(Role.MUSEUM, museum_id=unique("museum"))
    assert (
        await ip.put(f"/holders/{museum}/payout-details", {"payout_details": {}}, stranger)
    ).status_code == 404
