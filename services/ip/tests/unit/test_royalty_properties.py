"""Property tests of the money rules: exact to the fen, never counting twice."""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ip.royalty import (
    BPS,
    Cumulative,
    PostedAmounts,
    Tier,
    allocate,
    check_payout,
    combine_shares,
    compute_line_royalty,
    half_even,
    recoup,
    reverse,
)

holders = st.dictionaries(
    st.text(alphabet="abcdefghij", min_size=1, max_size=6),
    st.integers(min_value=0, max_value=BPS),
    min_size=1,
    max_size=8,
).filter(lambda w: sum(w.values()) > 0)
amounts = st.integers(min_value=-(10**12), max_value=10**12)


@given(amounts, holders)
def test_a_split_sums_exactly_to_the_whole(total: int, weights: dict[str, int]) -> None:
    assert sum(allocate(total, weights).values()) == total


@given(amounts, holders)
def test_each_part_is_within_one_fen_of_its_exact_share(
    total: int, weights: dict[str, int]
) -> None:
    whole = sum(weights.values())
    for key, part in allocate(total, weights).items():
        exact = Fraction(total * weights[key], whole)
        assert abs(part - exact) < 1


@given(amounts, holders, st.randoms(use_true_random=False))
def test_a_split_does_not_depend_on_the_listing_order(total, weights, rnd) -> None:
    items = list(weights.items())
    rnd.shuffle(items)
    assert allocate(total, dict(items)) == allocate(total, weights)


def test_the_seed_case_splits_70_30() -> None:
    assert allocate(1001, {"museum": 7000, "donor": 3000}) == {"museum": 701, "donor": 300}
    assert allocate(1, {"museum": 7000, "donor": 3000}) == {"museum": 1, "donor": 0}


def test_equal_remainders_go_to_the_smaller_id() -> None:
    assert allocate(1, {"b": 1, "a": 1}) == {"a": 1, "b": 0}


def test_combined_assets_weigh_equally() -> None:
    weights = combine_shares([{"m": 10_000}, {"m": 7_000, "d": 3_000}])
    assert weights == {"m": 17_000, "d": 3_000}


def test_half_even() -> None:
    assert [half_even(Fraction(n, 2)) for n in (1, 3, 5, -1, -3)] == [0, 2, 2, 0, -2]


# --- royalty of one line -----------------------------------------------------


def _royalty(**kw):
    defaults = {
        "base_rate_bps": 1000,
        "tiers": (),
        "tier_basis": "units",
        "minimum_per_unit_fen": 0,
        "before": Cumulative(),
        "quantity": 1,
        "net_sales_fen": 10_000,
    }
    return compute_line_royalty(**{**defaults, **kw})


def test_the_rate_applies_to_net_sales_rounded_half_even() -> None:
    assert _royalty(net_sales_fen=10_000).royalty_fen == 1_000
    assert _royalty(base_rate_bps=500, net_sales_fen=10).royalty_fen == 0  # 0.5 -> 0
    assert _royalty(base_rate_bps=500, net_sales_fen=30).royalty_fen == 2  # 1.5 -> 2


def test_the_per_unit_minimum_wins_when_larger() -> None:
    line = _royalty(base_rate_bps=100, minimum_per_unit_fen=50, quantity=3, net_sales_fen=3000)
    assert (line.rate_royalty_fen, line.minimum_fen, line.royalty_fen) == (30, 150, 150)


def test_a_unit_tier_crossing_inside_one_line_charges_each_part_at_its_rate() -> None:
    # units 8..12: 2 units at 10 %, 3 units at 20 %; unit price 1,000
    line = _royalty(
        tiers=(Tier(10, 2000),), before=Cumulative(units=8), quantity=5, net_sales_fen=5000
    )
    assert line.royalty_fen == 2 * 100 + 3 * 200


def test_a_net_sales_tier_crossing_inside_one_line() -> None:
    line = _royalty(
        tiers=(Tier(100_000, 1500),),
        tier_basis="net_sales",
        before=Cumulative(net_sales_fen=95_000),
        quantity=2,
        net_sales_fen=10_000,
    )
    assert line.royalty_fen == 500 + 750


tiers_st = st.lists(
    st.tuples(st.integers(1, 500), st.integers(0, BPS)), max_size=4, unique_by=lambda t: t[0]
).map(lambda ts: tuple(Tier(t, r) for t, r in sorted(ts)))


@given(
    tiers=tiers_st,
    base=st.integers(0, BPS),
    before=st.integers(0, 500),
    first=st.integers(1, 50),
    second=st.integers(1, 50),
    unit_price=st.integers(1, 100_000),
)
def test_splitting_a_line_at_any_point_changes_the_exact_royalty_by_nothing(
    tiers, base, before, first, second, unit_price
) -> None:
    """Tier segments are exact: one line of n+m units earns (before rounding)
    what a line of n followed by a line of m earns."""
    kw = {"base_rate_bps": base, "tiers": tiers, "tier_basis": "units", "minimum_per_unit_fen": 0}
    whole = compute_line_royalty(
        **kw,
        before=Cumulative(units=before),
        quantity=first + second,
        net_sales_fen=unit_price * (first + second),
    )
    a = compute_line_royalty(
        **kw, before=Cumulative(units=before), quantity=first, net_sales_fen=unit_price * first
    )
    b = compute_line_royalty(
        **kw,
        before=Cumulative(units=before + first),
        quantity=second,
        net_sales_fen=unit_price * second,
    )

    def exact(line):
        return sum(Fraction(r, BPS) * s for r, s in line.segments)

    assert exact(whole) == exact(a) + exact(b)
    assert abs(whole.royalty_fen - exact(whole)) <= Fraction(1, 2)


@given(
    royalties=st.lists(st.integers(0, 10**7), max_size=30),
    advance=st.integers(0, 10**8),
)
def test_recoupment_never_exceeds_the_advance_and_nothing_is_negative(royalties, advance) -> None:
    recouped = 0
    for royalty in royalties:
        now, payable = recoup(royalty, advance_fen=advance, recouped_before_fen=recouped)
        assert now >= 0
        assert payable >= 0
        assert now + payable == royalty
        recouped += now
        assert recouped <= advance
    assert recouped == min(advance, sum(royalties))


# --- reversals ---------------------------------------------------------------


@st.composite
def accrual_and_refunds(draw):
    quantity = draw(st.integers(1, 20))
    net = draw(st.integers(quantity, 10**7))
    royalty = draw(st.integers(0, net))
    recouped = draw(st.integers(0, royalty))
    accrued = PostedAmounts(quantity, net, royalty, royalty - recouped, recouped)
    refunds = draw(
        st.lists(st.tuples(st.integers(1, quantity), st.integers(1, net)), min_size=1, max_size=6)
    )
    return accrued, refunds


@settings(max_examples=300)
@given(accrual_and_refunds(), holders)
def test_refunds_never_reverse_more_than_was_accrued(case, weights) -> None:
    accrued, refunds = case
    total = PostedAmounts()
    credited = allocate(accrued.payable_fen, weights)
    held = dict(credited)
    for quantity, amount in refunds:
        step = reverse(accrued, total, refund_quantity=quantity, refund_fen=amount)
        for value in (step.quantity, step.net_sales_fen, step.royalty_fen, step.payable_fen):
            assert value >= 0
        assert step.recouped_fen >= 0
        assert step.payable_fen + step.recouped_fen == step.royalty_fen
        if step.payable_fen:
            back = allocate(step.payable_fen, held)
            for key, part in back.items():
                assert 0 <= part <= held[key]
                held[key] -= part
        total = total.plus(step)
        assert total.royalty_fen <= accrued.royalty_fen
        assert total.payable_fen <= accrued.payable_fen
        assert total.recouped_fen <= accrued.recouped_fen
    if total.quantity == accrued.quantity or total.net_sales_fen == accrued.net_sales_fen:
        assert (total.royalty_fen, total.payable_fen, total.recouped_fen) == (
            accrued.royalty_fen,
            accrued.payable_fen,
            accrued.recouped_fen,
        )
        assert all(v == 0 for v in held.values())


def test_a_partial_refund_is_proportional() -> None:
    accrued = PostedAmounts(4, 4000, 400, 400, 0)
    step = reverse(accrued, PostedAmounts(), refund_quantity=1, refund_fen=1000)
    assert (step.royalty_fen, step.payable_fen) == (100, 100)


def test_a_line_without_units_is_refused() -> None:
    with pytest.raises(ValueError, match="positive quantity"):
        _royalty(quantity=0)


@given(st.integers(-(10**9), 10**9), st.integers(-(10**9), 10**9))
def test_a_payout_is_positive_and_never_above_the_balance(amount: int, balance: int) -> None:
    if 0 < amount <= balance:
        left = check_payout(amount, balance_fen=balance)
        assert 0 <= left < balance
    else:
        with pytest.raises(ValueError, match="payout"):
            check_payout(amount, balance_fen=balance)
