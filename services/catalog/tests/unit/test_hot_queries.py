"""Every filter shape the catalog's hot paths send is served by `_id`."""

import pytest

from catalog.hot_queries import HOT_QUERIES
from servicekit.queries import HotQuery, served_by_id


def test_the_list_is_not_empty_and_names_are_unique() -> None:
    assert len(HOT_QUERIES) > 10
    assert len({q.name for q in HOT_QUERIES}) == len(HOT_QUERIES)


@pytest.mark.parametrize("query", HOT_QUERIES, ids=lambda q: q.name)
def test_served_by_id(query: HotQuery) -> None:
    assert served_by_id(query.filter), query
