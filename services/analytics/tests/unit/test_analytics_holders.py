"""Royalties by holder: ip's splits into the museum's own share and its
co-owners', projected into the museum-day and block documents and read back."""

from __future__ import annotations

from datetime import UTC, date, datetime

from analytics.changes import MUSEUM_BLOCKS, MUSEUM_DAYS, Change, blocks_of_day, museum_block_id
from analytics.domain import changes_for, merge
from analytics.holders import co_by_relic, co_owners, own_by_relic, owns, shares
from contracts.ip import PayoutRecorded, RoyaltyAccrued, RoyaltyReversed, RoyaltySplit

AT = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
DAY = "2026-11-20"


def _splits(museum: int, donor: int) -> list[RoyaltySplit]:
    return [
        RoyaltySplit(holder_id="m1", holder_kind="museum", amount_fen=museum),
        RoyaltySplit(holder_id="d.1", holder_kind="donor", amount_fen=donor),
    ]


COMMON = {
    "license_id": "lic1",
    "posting_id": "post1",
    "licensee_id": "lee1",
    "museum_id": "m1",
    "order_id": "o1",
    "line_id": "l1",
    "product_id": "p1",
    "relic_ids": ["r1", "r1"],
    "quantity": 1,
    "net_sales_fen": 7_007,
}


def accrued() -> RoyaltyAccrued:
    return RoyaltyAccrued(**COMMON, royalty_fen=701, splits=_splits(491, 210), accrued_at=AT)


def reversed_() -> RoyaltyReversed:
    return RoyaltyReversed(
        **COMMON, refund_id="rf1", royalty_fen=100, splits=_splits(70, 30), reversed_at=AT
    )


def payout(holder: str, amount: int) -> PayoutRecorded:
    return PayoutRecorded(
        payout_id=f"payout:{holder}",
        reference="wire-1",
        holder_id=holder,
        museum_id="m1",
        amount_fen=amount,
        paid_at=AT,
    )


def _docs(changes: list[Change]) -> dict[tuple[str, str], Change]:
    return {(c.collection, c.doc_id): c for c in changes}


def test_an_accrual_counts_the_licence_royalty_and_each_holders_split() -> None:
    docs = _docs(changes_for(accrued(), AT))
    day = docs[(MUSEUM_DAYS, f"m1|{DAY}")]
    assert day.inc == {"royalty_accrued_fen": 701, "own_accrued_fen": 491, "co_accrued_fen": 210}
    for first, span in blocks_of_day(date.fromisoformat(DAY)):
        block = docs[(MUSEUM_BLOCKS, museum_block_id("m1", first, span))]
        assert block.inc["relics.r1.own_accrued_fen"] == 491  # a repeated relic once
        assert "relics.r1.co_accrued_fen" not in block.inc  # kept under the co-owner
        assert block.inc["co_owners.d%2E1.accrued_fen"] == 210  # ids escaped
        assert block.inc["co_owners.d%2E1.relics.r1.accrued_fen"] == 210
        assert block.set == {"co_owners.d%2E1.kind": "donor"}
        assert "co_owners.m1.accrued_fen" not in block.inc  # the museum is no co-owner


def test_payouts_go_to_the_museum_or_to_the_co_owner() -> None:
    own = _docs(changes_for(payout("m1", 300), AT))
    assert own[(MUSEUM_DAYS, f"m1|{DAY}")].inc == {
        "royalty_paid_fen": 300,
        "payouts": 1,
        "own_paid_fen": 300,
    }
    assert not [k for k in own if k[0] == MUSEUM_BLOCKS]
    donor = _docs(changes_for(payout("d.1", 40), AT))
    assert donor[(MUSEUM_DAYS, f"m1|{DAY}")].inc["co_paid_fen"] == 40
    block = donor[(MUSEUM_BLOCKS, museum_block_id("m1", date(2026, 11, 20), 1))]
    assert block.inc == {"co_owners.d%2E1.paid_fen": 40}


def test_a_day_reads_back_as_each_holders_figures() -> None:
    events = [accrued(), reversed_(), payout("m1", 300), payout("d.1", 40)]
    merged = merge(c for e in events for c in changes_for(e, AT))
    docs = {(c.collection, c.doc_id): c.document() for c in merged}
    day = docs[(MUSEUM_DAYS, f"m1|{DAY}")]
    own, co = shares([day], "own"), shares([day], "co")
    assert (own.accrued_fen, own.reversed_fen, own.paid_fen) == (491, 70, 300)
    assert (own.net_fen, own.outstanding_fen) == (421, 121)
    assert (co.net_fen, co.outstanding_fen) == (180, 140)
    # two blocks of the same days (1 and 2 days) count twice: read one cover
    block = docs[(MUSEUM_BLOCKS, museum_block_id("m1", date(2026, 11, 20), 1))]
    (owner,) = co_owners([block])
    assert (owner.holder_id, owner.kind) == ("d.1", "donor")
    assert (owner.shares.net_fen, owner.shares.paid_fen, owner.shares.outstanding_fen) == (
        180,
        40,
        140,
    )
    assert owner.relics["r1"].net_fen == 180
    assert own_by_relic([block])["r1"].net_fen == 421
    assert co_by_relic([owner])["r1"].net_fen == 180


def test_a_co_owners_relics_are_those_its_asset_lists() -> None:
    event = accrued().model_copy(update={"relic_ids": ["r1", "r2"]})
    (block,) = [
        c.document()
        for c in changes_for(event, AT)
        if c.doc_id == museum_block_id("m1", date(2026, 11, 20), 1)
    ]
    (owner,) = co_owners([block])
    assert set(owner.relics) == {"r1", "r2"}  # the split does not say which
    (owner,) = owns([owner], {"r1": {"m1", "d.1"}, "r2": {"m1"}})
    assert set(owner.relics) == {"r1"}
    (owner,) = owns(co_owners([block]), {"r2": {"m1"}})  # r1's asset unknown: kept
    assert set(owner.relics) == {"r1"}


def test_splits_without_a_co_owner_leave_no_co_owner_entries() -> None:
    event = RoyaltyAccrued(
        **COMMON,
        royalty_fen=100,
        splits=[RoyaltySplit(holder_id="m1", holder_kind="museum", amount_fen=100)],
        accrued_at=AT,
    )
    docs = _docs(changes_for(event, AT))
    assert docs[(MUSEUM_DAYS, f"m1|{DAY}")].inc == {
        "royalty_accrued_fen": 100,
        "own_accrued_fen": 100,
    }
    block = docs[(MUSEUM_BLOCKS, museum_block_id("m1", date(2026, 11, 20), 1))]
    assert not [k for k in block.inc if k.startswith("co_")]
    assert block.set == {}
