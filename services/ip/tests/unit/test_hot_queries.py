"""Every hot query shape of ip is served by `_id` (the unit half of
tests/integration/test_hot_queries.py, which asks the real store)."""

import pytest

from ip.book_docs import (
    CHUNK,
    BookLine,
    ChunkState,
    Plan,
    decode_cursor,
    encode_cursor,
    plan_appends,
)
from ip.hot_queries import HOT_QUERIES
from servicekit.queries import HotQuery, served_by_id


@pytest.mark.parametrize("query", HOT_QUERIES, ids=lambda q: f"{q.collection}: {q.name}")
def test_each_hot_query_is_served_by_id(query: HotQuery) -> None:
    assert served_by_id(query.filter), query


def test_the_hot_queries_cover_the_ledger_paths() -> None:
    collections = {q.collection for q in HOT_QUERIES}
    assert {"journal", "ledger_days", "ledger_months", "ledger_balances"} <= collections
    assert {"license_heads", "order_postings"} <= collections
    assert len({(q.collection, q.name) for q in HOT_QUERIES}) == len(HOT_QUERIES)


def test_a_cursor_round_trips_and_a_bad_one_is_refused() -> None:
    line = BookLine("accrual:o:l", "2026-03-01T02:00:00.000+00:00", "2026-03", "accrual", -5)
    assert decode_cursor(encode_cursor(line.key)) == (line.at, line.posting_id)
    with pytest.raises(ValueError, match="cursor"):
        decode_cursor("not-a-cursor")


def _line(i: int) -> BookLine:
    return BookLine(
        f"accrual:o{i:03d}:l", f"2026-03-01T02:{i % 60:02d}:00.000+00:00", "2026-03", "accrual", -1
    )


def test_a_day_fills_its_last_chunk_then_opens_one_more_behind_it() -> None:
    day = ("holder:m", "2026-03-01", "2026-03")
    last = ChunkState(
        *day,
        0,
        CHUNK - 2,
        -(CHUNK - 2),
        0,
        "2026-03-01T00:00:00.000+00:00",
        "2026-03-01T01:00:00.000+00:00",
    )
    plan = Plan()
    plan_appends(day, [last], [_line(i) for i in range(CHUNK + 5)], plan)
    # 2 fill the last chunk; 100 open chunk 1, only once the fill landed; 3 wait
    assert (plan.fills, plan.creates, len(plan.after), plan.deferred) == (1, 0, 1, True)
    assert [(s.k, s.n) for s in plan.states] == [(0, CHUNK), (1, CHUNK)]
    assert plan.states[1].sum_fen == -CHUNK


def test_a_new_day_opens_its_first_chunk_at_once() -> None:
    plan = Plan()
    plan_appends(("holder:m", "2026-03-02", "2026-03"), [], [_line(1), _line(0)], plan)
    assert (plan.fills, plan.creates, plan.after, plan.deferred) == (0, 1, [], False)
    (state,) = plan.states
    assert (state.k, state.n, state.lo, state.hi) == (0, 2, _line(0).at, _line(1).at)
