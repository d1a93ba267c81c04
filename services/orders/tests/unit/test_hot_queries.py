"""Every hot query shape of orders names its documents by `_id` (the lead's
tests/integration/test_hot_queries.py asks the real store to explain them)."""

import pytest

from orders.hot_queries import HOT_QUERIES
from servicekit.queries import served_by_id


def test_there_are_shapes_for_every_collection_a_hot_path_touches() -> None:
    collections = {q.collection for q in HOT_QUERIES}
    assert collections >= {
        "orders",
        "order_lists",
        "expiry_queue",
        "payment_checks",
        "sandbox_charges",
        "sandbox_due",
        "products",
        "carts",
    }


@pytest.mark.parametrize("query", HOT_QUERIES, ids=lambda q: q.name)
def test_each_shape_is_served_by_id(query) -> None:  # noqa: ANN001
    assert served_by_id(query.filter), query
