"""The order consumer's fold (ip.order_fold), without I/O: a batch folds into
the same postings as its events applied one at a time, positions are
consecutive per license, redelivered or repeated lines post once."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from contracts.orders import OrderLine, OrderPaid, OrderRefunded, RefundLine
from ip.domain import LicenseScope, OwnershipEntry, RoyaltyTerms, Share
from ip.order_fold import (
    Folded,
    LedgerView,
    OrderEvent,
    fold_orders,
    head_moves,
    licenses_named,
    posting_ids,
    reversal_notes,
)
from ip.records import AssetRecord, LicenseRecord
from ip.royalty import Cumulative, Tier

T0 = datetime(2026, 3, 2, 8, tzinfo=UTC)
SINCE = datetime(1970, 1, 1, tzinfo=UTC)


def _license(license_id: str, relic: str, terms: RoyaltyTerms) -> LicenseRecord:
    scope = LicenseScope(
        licensee_id="acme",
        asset_ids=frozenset({f"relic-{relic}"}),
        categories=frozenset({"toys"}),
        territory="CN",
        channels=frozenset({"online"}),
        starts_at=T0 - timedelta(days=30),
        ends_at=T0 + timedelta(days=300),
        exclusivity="non_exclusive",
        license_id=license_id,
    )
    return LicenseRecord(license_id, "active", 2, "m1", scope, (relic,), terms, None, T0, T0)


def _asset(relic: str) -> AssetRecord:
    shares = (Share("m1", "museum", 7000), Share("d1", "donor", 3000))
    return AssetRecord(f"relic-{relic}", "m1", relic, "Ding", (OwnershipEntry(SINCE, shares),), T0)


LICENSES = {
    "lic-a": _license("lic-a", "r1", RoyaltyTerms(1000, tiers=(Tier(5, 2000),))),
    "lic-b": _license("lic-b", "r2", RoyaltyTerms(500, advance_fen=300)),
}
ASSETS = {a.asset_id: a for a in (_asset("r1"), _asset("r2"))}


def _view(**changes: object) -> LedgerView:
    view = LedgerView(
        licenses=LICENSES,
        assets=ASSETS,
        heads={x: (0, Cumulative()) for x in LICENSES},
        last_closed=None,
        posted={},
    )
    return replace(view, **changes)  # type: ignore[arg-type]


def _line(license_id: str, quantity: int, line_id: str = "l1") -> OrderLine:
    relic = LICENSES[license_id].relic_ids[0] if license_id in LICENSES else "r9"
    return OrderLine(
        line_id=line_id,
        product_id="p1",
        sku="SKU",
        quantity=quantity,
        unit_price_fen=1000,
        line_total_fen=quantity * 1000,
        license_id=license_id,
        licensee_id="acme",
        relic_ids=[relic],
        museum_id="m1",
    )


def paid(order_id: str, *lines: OrderLine, event_id: str | None = None) -> OrderEvent:
    event = OrderPaid(
        order_id=order_id,
        payment_id=f"pay-{order_id}",
        customer_id="c",
        lines=list(lines),
        total_fen=sum(x.line_total_fen for x in lines),
        paid_at=T0,
    )
    return OrderEvent(event, event_id or f"evt-{order_id}")


def refunded(order_id: str, refund_id: str, license_id: str, quantity: int) -> OrderEvent:
    event = OrderRefunded(
        order_id=order_id,
        refund_id=refund_id,
        lines=[
            RefundLine(
                line_id="l1",
                product_id="p1",
                sku="SKU",
                quantity=quantity,
                amount_fen=quantity * 1000,
                license_id=license_id,
                licensee_id="acme",
                relic_ids=["r1"],
                museum_id="m1",
            )
        ],
        amount_fen=quantity * 1000,
        restock=False,
        refunded_at=T0 + timedelta(hours=1),
    )
    return OrderEvent(event, f"evt-{refund_id}")


def one_by_one(view: LedgerView, events: list[OrderEvent]) -> Folded:
    """The events applied one at a time, each on what the previous left."""
    out = Folded()
    for item in events:
        folded = fold_orders(view, [item])
        written = [p for p, _ in folded.new]
        heads = dict(view.heads)
        heads.update(head_moves(written))
        lists = dict(view.reversals)
        for p in written:
            if p.accrual_id:
                lists[p.accrual_id] = [*lists.get(p.accrual_id, []), p.posting_id]
        posted = {**view.posted, **{p.posting_id: p for p in written}}
        view = replace(view, heads=heads, posted=posted, reversals=lists)
        out.new += folded.new
        out.unmatched += folded.unmatched
    return out


def test_a_batch_chains_each_license_consecutively_across_a_tier() -> None:
    events = [paid(f"o{i}", _line("lic-a", 2), _line("lic-b", 1, "l2")) for i in range(4)]
    folded = fold_orders(_view(), events)
    a = [p for p, _ in folded.new if p.license_id == "lic-a"]
    b = [p for p, _ in folded.new if p.license_id == "lic-b"]
    assert [p.license_seq for p in a] == [1, 2, 3, 4]
    assert [p.license_seq for p in b] == [1, 2, 3, 4]
    # 10 % up to 5 units, 20 % from the 5th: 200, 200, 300 (unit 5 at 20 %), 400
    assert [p.amounts.royalty_fen for p in a] == [200, 200, 300, 400]
    assert a[-1].cum_after == Cumulative(8, 8000, 0)
    # the advance of 300 is recouped first: 50 a sale, nothing payable yet
    assert [p.amounts.payable_fen for p in b] == [0, 0, 0, 0]
    assert head_moves(p for p, _ in folded.new) == {
        "lic-a": (4, a[-1].cum_after),
        "lic-b": (4, b[-1].cum_after),
    }
    for p, event in folded.new:
        assert sum(e.amount_fen for e in p.entries) == 0
        assert event.posting_id == p.posting_id


def test_a_batch_posts_what_its_events_one_by_one_would() -> None:
    events = [
        paid("o1", _line("lic-a", 3)),
        paid("o2", _line("lic-a", 4)),
        refunded("o1", "rf1", "lic-a", 1),
        refunded("o1", "rf2", "lic-a", 5),  # more than is left: only 2 units reversed
        paid("o3", _line("lic-a", 1)),
    ]
    batch = fold_orders(_view(), events)
    single = one_by_one(_view(), events)
    assert [p for p, _ in batch.new] == [p for p, _ in single.new]
    assert [e for _, e in batch.new] == [e for _, e in single.new]
    reversals = [p for p, _ in batch.new if p.kind == "reversal"]
    assert [p.amounts.quantity for p in reversals] == [1, 2]
    assert batch.new[-1][0].cum_after == Cumulative(5, 5000, 0)


def test_a_line_repeated_in_a_batch_or_already_posted_is_not_built_again() -> None:
    first = fold_orders(_view(), [paid("o1", _line("lic-a", 2))])
    posting = first.new[0][0]
    # redelivered under a second event id, in the same batch: one posting
    twice = fold_orders(
        _view(), [paid("o1", _line("lic-a", 2)), paid("o1", _line("lic-a", 2), event_id="x")]
    )
    assert len(twice.new) == 1
    # posted before (its head pointer lagging behind it): healed, and the
    # next sale chains after it, not on the stale pointer
    view = _view(posted={posting.posting_id: posting})
    again = fold_orders(view, [paid("o1", _line("lic-a", 2)), paid("o2", _line("lic-a", 1))])
    assert again.healed == [posting]
    assert [(p.order_id, p.license_seq) for p, _ in again.new] == [("o2", 2)]


def test_lines_that_cannot_be_posted_are_kept_as_unmatched() -> None:
    never = replace(LICENSES["lic-a"], granted_at=None)
    view = _view(licenses={**LICENSES, "lic-n": replace(never, license_id="lic-n")})
    folded = fold_orders(
        view,
        [
            paid("o1", _line("lic-zz", 1)),
            paid("o2", _line("lic-n", 1)),
            refunded("o9", "rf9", "lic-a", 1),
        ],
    )
    assert folded.new == []
    assert [(u.posting_id, u.reason) for u in folded.unmatched] == [
        ("accrual:o1:l1", "unknown license"),
        ("accrual:o2:l1", "license never granted"),
        ("reversal:rf9:l1", "refund of a line never accrued"),
    ]


def test_a_refund_on_a_chain_whose_head_was_not_read_waits() -> None:
    accrued = fold_orders(_view(), [paid("o1", _line("lic-a", 2))]).new[0][0]
    view = _view(heads={"lic-b": (0, Cumulative())}, posted={accrued.posting_id: accrued})
    folded = fold_orders(view, [refunded("o1", "rf1", "lic-b", 1)])
    assert folded.new == []
    assert folded.missing_heads == {"lic-a"}


def test_what_a_batch_reads_is_named_up_front() -> None:
    events = [paid("o1", _line("lic-a", 1)), refunded("o1", "rf1", "lic-a", 1)]
    assert posting_ids(events) == ["accrual:o1:l1", "reversal:rf1:l1"]
    assert licenses_named(events) == ["lic-a"]
    assert reversal_notes(events) == {"accrual:o1:l1": ["reversal:rf1:l1"]}
