"""Issue 19 items 4 and 5 on ip's side, through real Kafka and the real
store: a relic re-registered or updated with another donor or grade becomes
an effective-dated ownership change of its asset (no duplicate holders, no
change to royalties already accrued); a license on a first-grade relic is
refused (409) until the museum records its approval reference, and the
marketplace shows which applications wait for one."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from contracts.catalog import DonorRef, RelicRegistered, RelicUpdated
from servicekit.auth import Role
from tests.ip.conftest import Ip, license_body, token
from tests.support import eventually, unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]


def _relic(
    event: type[RelicRegistered] | type[RelicUpdated],
    relic_id: str,
    museum: str,
    *,
    grade: str,
    donor: str | None,
) -> RelicRegistered | RelicUpdated:
    return event(
        relic_id=relic_id,
        museum_id=museum,
        name_zh="鼎",
        name_en="Ding",
        category="bronze",
        protection_grade=grade,
        donor=DonorRef(donor_id=donor, name=f"Donor {donor}") if donor else None,
    )


async def test_a_changed_donor_is_an_effective_dated_ownership_change(ip: Ip) -> None:
    museum, first, second = unique("museum"), unique("donor"), unique("donor")
    licensee, relic = unique("licensee"), unique("relic")
    await ip.museum(museum)
    registered = await ip.feed.events(
        _relic(RelicRegistered, relic, museum, grade="grade_2", donor=first)
    )
    await ip.wait_for(f"/assets/relic-{relic}", "asset opened")
    license_id = await ip.license(museum, licensee, relic, terms={"rate_bps": 1000})
    before = datetime.now(UTC) - timedelta(minutes=5)
    order, _ = await ip.pay(
        license_id, licensee, relic, museum, quantity=1, unit_price_fen=10_000, paid_at=before
    )
    await ip.wait_for(f"/ledger/postings/accrual:{order}:line-1", "the first sale")
    await ip.wait_balance(museum, 700)
    await ip.wait_balance(first, 300)
    # catalog re-imports the relic: another donor, another grade; twice (redelivery),
    # and registered again with the same values
    updated = await ip.feed.events(
        _relic(RelicUpdated, relic, museum, grade="grade_3", donor=second)
    )
    await ip.feed.send(updated[0])
    await ip.feed.events(_relic(RelicRegistered, relic, museum, grade="grade_3", donor=second))

    async def changed() -> bool:
        asset = (await ip.get(f"/assets/relic-{relic}")).json()
        return len(asset["ownership"]) == 2

    await eventually(changed, timeout=60, what="the ownership change")
    asset = (await ip.get(f"/assets/relic-{relic}")).json()
    latest = asset["ownership"][-1]
    assert {(s["holder_id"], s["share_bps"]) for s in latest["shares"]} == {
        (museum, 7000),
        (second, 3000),
    }
    assert datetime.fromisoformat(latest["effective_at"]) > before
    assert asset["protection_grade"] == "grade_3"
    # the first registration redelivered late (a consumer restarted before its
    # commit) is stale: no entry back to the first donor, no old grade; a later
    # grade change of the same relic (same partition) shows it was handled
    await ip.feed.send(registered[0])
    await ip.feed.events(_relic(RelicUpdated, relic, museum, grade="general", donor=second))

    async def regraded() -> bool:
        return (await ip.get(f"/assets/relic-{relic}")).json()["protection_grade"] == "general"

    await eventually(regraded, timeout=60, what="the later grade change")
    assert (await ip.get(f"/assets/relic-{relic}")).json()["ownership"] == asset["ownership"]
    # the royalty already accrued stays where it was; a new sale follows the new shares
    after, _ = await ip.pay(license_id, licensee, relic, museum, quantity=1, unit_price_fen=10_000)
    await ip.wait_for(f"/ledger/postings/accrual:{after}:line-1", "the second sale")
    await ip.wait_balance(first, 300)
    await ip.wait_balance(second, 300)
    await ip.wait_balance(museum, 1400)
    holders = (await ip.get("/holders", token(Role.MUSEUM, museum_id=museum))).json()
    assert sorted(h["holder_id"] for h in holders) == sorted([museum, first, second])
    asset = (await ip.get(f"/assets/relic-{relic}")).json()
    assert len(asset["ownership"]) == 2  # redelivered and re-registered: no more entries


async def test_a_first_grade_license_waits_for_its_approval_reference(ip: Ip) -> None:
    museum, licensee, relic = unique("museum"), unique("licensee"), unique("relic")
    await ip.museum(museum)
    await ip.feed.events(_relic(RelicRegistered, relic, museum, grade="grade_1", donor=None))
    await ip.wait_for(f"/assets/relic-{relic}", "asset opened")
    owner = token(Role.MUSEUM, museum_id=museum)
    applicant = token(Role.LICENSEE, licensee_id=licensee)
    applied = await ip.post("/licenses", license_body(relic), applicant)
    assert applied.status_code == 201, applied.text
    license_id = applied.json()["license_id"]
    refused = await ip.post(f"/licenses/{license_id}/approve", None, owner)
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "approval" in refused.json()["reason"]
    listed = {x["license_id"]: x for x in (await ip.get("/licenses", owner)).json()}
    assert listed[license_id]["approval_required"] is True
    assert listed[license_id]["awaiting_approval_reference"] is True
    assert listed[license_id]["status"] == "applied"
    future = (date.today() + timedelta(days=2)).isoformat()
    reference = {"number": "文物博函〔2026〕118号", "approved_on": future}
    path = f"/licenses/{license_id}/approval-reference"
    assert (await ip.put(path, reference, owner)).status_code == 422
    assert (
        await ip.put(path, reference | {"approved_on": "2026-01-05"}, applicant)
    ).status_code == 403
    recorded = await ip.put(path, reference | {"approved_on": "2026-01-05"}, owner)
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["approval_reference"]["number"] == reference["number"]
    assert recorded.json()["awaiting_approval_reference"] is False
    approved = await ip.post(f"/licenses/{license_id}/approve", None, owner)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "active"
    # a second-grade relic's license needs no such reference
    other = unique("relic")
    await ip.feed.events(_relic(RelicRegistered, other, museum, grade="grade_2", donor=None))
    await ip.wait_for(f"/assets/relic-{other}", "asset opened")
    assert await ip.license(museum, unique("licensee"), other)
