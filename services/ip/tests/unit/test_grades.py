"""Grade-aware licensing and relic ownership revisions: pure rules."""

from datetime import UTC, date, datetime

import pytest

from ip.domain import (
    ApprovalReference,
    OwnershipEntry,
    RuleViolation,
    Share,
    activation_blocker,
    needs_state_approval,
    previous_period,
    relic_shares_changed,
)

T0 = datetime(1970, 1, 1, tzinfo=UTC)
REF = ApprovalReference("文物博函〔2026〕118号", date(2026, 2, 1))


def test_only_a_first_grade_relic_needs_the_state_approval() -> None:
    assert needs_state_approval(["general", "grade_1"])
    assert not needs_state_approval(["grade_2", "grade_3", "general", None])
    assert not needs_state_approval([])


def test_a_first_grade_license_is_blocked_until_its_reference_is_recorded() -> None:
    reason = activation_blocker(["grade_1"], None)
    assert reason is not None
    assert "approval" in reason
    assert activation_blocker(["grade_1"], REF) is None
    assert activation_blocker(["grade_2"], None) is None


def test_an_approval_reference_has_a_number_and_no_future_date() -> None:
    REF.validate(date(2026, 2, 1))
    with pytest.raises(RuleViolation, match="number"):
        ApprovalReference("  ", date(2026, 1, 1)).validate(date(2026, 2, 1))
    with pytest.raises(RuleViolation, match="future"):
        REF.validate(date(2026, 1, 31))


def _history(*donors: str | None) -> tuple[OwnershipEntry, ...]:
    entries = []
    for i, donor in enumerate(donors):
        shares = [Share("m", "museum", 10_000 if donor is None else 7_000)]
        if donor is not None:
            shares.append(Share(donor, "donor", 3_000))
        entries.append(OwnershipEntry(T0.replace(year=1970 + i), tuple(shares)))
    return tuple(entries)


def test_a_relic_moves_to_new_shares_only_when_its_donor_changes() -> None:
    assert relic_shares_changed(_history("d1"), "m", "d1", 3000) is None
    assert relic_shares_changed(_history(None), "m", None, 3000) is None
    moved = relic_shares_changed(_history("d1"), "m", "d2", 3000)
    assert moved == (Share("m", "museum", 7000), Share("d2", "donor", 3000))
    assert relic_shares_changed(_history(None), "m", "d2", 3000) == moved
    assert relic_shares_changed(_history("d1"), "m", None, 3000) == (Share("m", "museum", 10_000),)
    # the latest entry counts: back to d1 after d2
    assert relic_shares_changed(_history("d1", "d2"), "m", "d2", 3000) is None
    # no donor share configured: a donor named changes nothing again and again
    assert relic_shares_changed(_history(None), "m", "d1", 0) is None


def test_shares_the_museum_set_by_hand_stay_while_the_donor_is_the_same() -> None:
    custom = (OwnershipEntry(T0, (Share("m", "museum", 5000), Share("d1", "donor", 5000))),)
    assert relic_shares_changed(custom, "m", "d1", 3000) is None


def test_the_period_before() -> None:
    assert [previous_period(p) for p in ("2026-01", "2026-03", "2026-12")] == [
        "2025-12",
        "2026-02",
        "2026-11",
    ]
