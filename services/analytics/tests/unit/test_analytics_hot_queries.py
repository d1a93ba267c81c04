"""Every filter analytics' hot paths send is served by `_id` on the local store."""

from __future__ import annotations

import pytest

from analytics.hot_queries import HOT_QUERIES
from servicekit.queries import HotQuery, served_by_id


@pytest.mark.parametrize("query", HOT_QUERIES, ids=lambda q: q.name)
def test_served_by_id(query: HotQuery) -> None:
    assert served_by_id(query.filter), query


def test_every_shape_has_a_unique_name() -> None:
    names = [q.name for q in HOT_QUERIES]
    assert len(names) == len(set(names))


def test_bounded_in_lists() -> None:
    for query in HOT_QUERIES:
        ids = query.filter["_id"]
        if isinstance(ids, dict):
            assert 0 < len(ids["$in"]) <= 1_000, query.name
