"""Ownership, license terms, exclusivity and periods."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ip.domain import (
    LicenseScope,
    OwnershipEntry,
    RoyaltyTerms,
    RuleViolation,
    Share,
    check_transition,
    conflicts,
    default_relic_shares,
    next_period,
    period_bounds,
    period_of,
    posting_period,
    shares_at,
    territories_overlap,
    validate_shares,
)
from ip.royalty import Tier

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@given(st.lists(st.integers(1, 10_000), min_size=1, max_size=6))
def test_shares_must_sum_to_10000(bps: list[int]) -> None:
    shares = [Share(f"h{i}", "donor", b) for i, b in enumerate(bps)]
    if sum(bps) == 10_000:
        validate_shares(shares)
    else:
        with pytest.raises(RuleViolation, match="sum to 10000"):
            validate_shares(shares)


def test_duplicate_or_zero_shares_are_refused() -> None:
    with pytest.raises(RuleViolation, match="once"):
        validate_shares([Share("a", "museum", 5000), Share("a", "museum", 5000)])
    with pytest.raises(RuleViolation, match="positive"):
        validate_shares([Share("a", "museum", 10_000), Share("b", "donor", 0)])


def test_a_donated_relic_opens_70_30_and_a_plain_one_100() -> None:
    assert default_relic_shares("m", "d", 3000) == [
        Share("m", "museum", 7000),
        Share("d", "donor", 3000),
    ]
    assert default_relic_shares("m", None, 3000) == [Share("m", "museum", 10_000)]


def test_ownership_is_effective_dated() -> None:
    first = OwnershipEntry(T0, (Share("m", "museum", 10_000),))
    later = OwnershipEntry(
        T0 + timedelta(days=10), (Share("m", "museum", 7000), Share("d", "donor", 3000))
    )
    history = [later, first]
    assert shares_at(history, T0 + timedelta(days=9)) == first.shares
    assert shares_at(history, T0 + timedelta(days=10)) == later.shares
    assert shares_at(history, T0 - timedelta(days=1)) == first.shares


def _scope(**kw) -> LicenseScope:
    base = {
        "licensee_id": "L1",
        "asset_ids": frozenset({"a1"}),
        "categories": frozenset({"stationery"}),
        "territory": "CN",
        "channels": frozenset({"online"}),
        "starts_at": T0,
        "ends_at": T0 + timedelta(days=365),
        "exclusivity": "non_exclusive",
        "license_id": "x",
    }
    return LicenseScope(**{**base, **kw})


def test_territories() -> None:
    assert territories_overlap("CN", "CN-CQ")
    assert territories_overlap("worldwide", "US")
    assert not territories_overlap("CN-CQ", "CN-SH")
    assert not territories_overlap("CN", "CNX")


def test_an_exclusive_license_blocks_overlaps_only() -> None:
    exclusive = _scope(exclusivity="exclusive", license_id="ex")
    assert conflicts(_scope(licensee_id="L2", territory="CN-CQ"), [exclusive]) == ["ex"]
    assert conflicts(_scope(categories=frozenset({"toys"})), [exclusive]) == []
    assert (
        conflicts(
            _scope(starts_at=T0 + timedelta(days=365), ends_at=T0 + timedelta(days=400)),
            [exclusive],
        )
        == []
    )
    assert conflicts(_scope(asset_ids=frozenset({"a2"})), [exclusive]) == []


def test_a_sole_license_blocks_other_licensees_only() -> None:
    sole = _scope(exclusivity="sole", license_id="so")
    assert conflicts(_scope(licensee_id="L2"), [sole]) == ["so"]
    assert conflicts(_scope(), [sole]) == []
    assert conflicts(_scope(licensee_id="L2"), [_scope(license_id="ne")]) == []


def test_bad_terms_are_refused() -> None:
    with pytest.raises(RuleViolation, match="end after"):
        _scope(ends_at=T0).validate()
    with pytest.raises(RuleViolation, match="rate_bps"):
        RoyaltyTerms(rate_bps=-1).validate()
    with pytest.raises(RuleViolation, match="increasing"):
        RoyaltyTerms(rate_bps=1, tiers=(Tier(10, 1), Tier(5, 2))).validate()
    with pytest.raises(RuleViolation, match="territory"):
        _scope(territory="cn").validate()
    with pytest.raises(RuleViolation, match="channels"):
        _scope(channels=frozenset({"street"})).validate()


def test_license_lifecycle() -> None:
    assert check_transition("approve", "applied") == "active"
    assert check_transition("reinstate", "suspended") == "active"
    with pytest.raises(RuleViolation):
        check_transition("approve", "revoked")


def test_periods_follow_china_time_and_roll_forward_when_closed() -> None:
    late_night_utc = datetime(2026, 1, 31, 17, 0, tzinfo=UTC)  # 01:00 on Feb 1st in Beijing
    assert period_of(late_night_utc) == "2026-02"
    assert next_period("2026-12") == "2027-01"
    start, end = period_bounds("2026-12")
    assert (start.month, end.year, end.month) == (12, 2027, 1)
    assert posting_period(T0, None) == "2026-01"
    assert posting_period(T0, "2026-01") == "2026-02"
    assert posting_period(T0, "2025-12") == "2026-01"
