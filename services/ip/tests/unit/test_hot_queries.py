"""Every hot query shape of ip is served by `_id` (the unit half of
tests/integration/test_hot_queries.py, which asks the real store)."""

import pytest

from ip.books import BookLine, decode_cursor, encode_cursor, fold
from ip.hot_queries import HOT_QUERIES
from servicekit.queries import HotQuery, served_by_id


@pytest.mark.parametrize("query", HOT_QUERIES, ids=lambda q: f"{q.collection}: {q.name}")
def test_each_hot_query_is_served_by_id(query: HotQuery) -> None:
    assert served_by_id(query.filter), query


def test_the_hot_queries_cover_the_ledger_paths() -> None:
    collections = {q.collection for q in HOT_QUERIES}
    assert {"journal", "ledger_days", "ledger_balances", "license_heads"} <= collections
    assert len({(q.collection, q.name) for q in HOT_QUERIES}) == len(HOT_QUERIES)


def test_a_cursor_round_trips_and_a_bad_one_is_refused() -> None:
    line = BookLine("accrual:o:l", "2026-03-01T02:00:00.000+00:00", "2026-03", "accrual", -5)
    assert decode_cursor(encode_cursor(line)) == (line.at, line.posting_id)
    with pytest.raises(ValueError, match="cursor"):
        decode_cursor("not-a-cursor")


def test_fold_counts_a_repeated_line_once() -> None:
    line = BookLine("accrual:o:l", "2026-03-01T02:00:00.000+00:00", "2026-03", "accrual", -5)
    payout = BookLine("payout:w", "2026-03-01T03:00:00.000+00:00", "2026-03", "payout", 3)
    (bucket,) = fold([("holder:m", line), ("holder:m", line), ("holder:m", payout)])
    assert (bucket["n"], bucket["sum_fen"], bucket["payouts"]) == (2, -2, 1)
    assert bucket["ids"] == ["accrual:o:l", "payout:w"]
