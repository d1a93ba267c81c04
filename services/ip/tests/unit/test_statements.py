"""Statement arithmetic and CSV export, without a store."""

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from ip.domain import StatementSection
from ip.statements import StatementLine, statement_csv
from ip.store import StatementRecord

AT = datetime(2026, 3, 5, tzinfo=UTC)

movements = st.lists(
    st.tuples(
        st.sampled_from(["accrual", "reversal", "shortfall", "advance", "payout"]),
        st.integers(1, 10**6),
    ),
    max_size=30,
)


@given(st.integers(-(10**6), 10**6), movements)
def test_closing_is_opening_plus_movements(opening: int, moves: list[tuple[str, int]]) -> None:
    section = StatementSection("lic-1", opening_balance_fen=opening)
    total = opening
    for kind, amount in moves:
        delta = -amount if kind in ("reversal", "payout") else amount
        section.add(kind, delta)
        total += delta
    assert section.closing_balance_fen == total
    for name in ("accrued_fen", "reversed_fen", "shortfall_fen", "advance_fen", "payouts_fen"):
        assert getattr(section, name) >= 0


@given(st.lists(st.tuples(st.integers(-1000, 1000), movements), max_size=5))
def test_totals_add_up_the_sections(parts) -> None:
    sections = []
    for i, (opening, moves) in enumerate(parts):
        section = StatementSection(f"lic-{i}", opening_balance_fen=opening)
        for kind, amount in moves:
            section.add(kind, -amount if kind in ("reversal", "payout") else amount)
        sections.append(section)
    totals = StatementSection.total(sections)
    assert totals.license_id is None
    assert totals.closing_balance_fen == sum(s.closing_balance_fen for s in sections)


def test_csv_has_lines_and_totals() -> None:
    line = StatementLine(
        posting_id="accrual:o1:l1",
        kind="accrual",
        posted_at=AT,
        license_id="lic-1",
        order_id="o1",
        line_id="l1",
        refund_id=None,
        reference=None,
        product_id="p1",
        quantity=2,
        net_sales_fen=2000,
        royalty_fen=200,
        amount_fen=140,
    )
    totals = StatementSection(opening_balance_fen=10, accrued_fen=140)
    statement = StatementRecord(
        statement_id="m1:2026-03",
        holder_id="m1",
        holder_kind="museum",
        museum_id="m1",
        period="2026-03",
        period_start=AT,
        period_end=AT,
        totals=totals,
        sections=(totals,),
        issued_at=AT,
    )
    rows = statement_csv(statement, [line]).splitlines()
    assert rows[0].startswith("posting_id,kind,posted_at")
    assert rows[1] == (
        "accrual:o1:l1,accrual,2026-03-05T00:00:00+00:00,lic-1,o1,l1,,,p1,2,2000,200,140"
    )
    assert rows[-1] == "closing_balance_fen,150"
