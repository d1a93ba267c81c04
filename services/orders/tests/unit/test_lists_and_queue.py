"""The pure parts of the order lists and the expiry queue: which buckets an
order goes to, the cursor, and the order of the announcing writes."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from orders.domain import Customer, Line, Order, OrderStatus
from orders.errors import InvalidCursor
from orders.expiry_queue import INDEX_ID, SHAPE, enqueue_updates, minute_of
from orders.order_lists import (
    Position,
    Scope,
    bucket_id,
    decode_cursor,
    encode_cursor,
    entry_updates,
    scopes_of,
)

_NAIVE = "MjAyNi0wNS0wMVQyMzo1OTo1OXxvcmQtMQ"  # "2026-05-01T23:59:59|ord-1": no zone
AT = datetime(2026, 5, 1, 23, 59, 59, 123000, tzinfo=UTC)


def order(order_id: str = "ord-1", customer: Customer | None = None) -> Order:
    def line(n: int, licensee: str | None) -> Line:
        return Line(f"{order_id}-{n}", f"p{n}", f"S{n}", "t", 1, 100, "lic", licensee, (), "m")

    return Order(
        order_id=order_id,
        customer=customer or Customer("tourist", "t1"),
        lines=[line(1, "lee-b"), line(2, "lee-a"), line(3, "lee-a"), line(4, None)],
        status=OrderStatus.PENDING,
        placed_at=AT,
        order_token="tok",
        idempotency_key="k",
        fingerprint="f",
    )


def test_an_order_is_listed_for_all_its_tourist_and_each_licensee() -> None:
    assert scopes_of(order()) == [
        Scope("all"),
        Scope("tourist", "t1"),
        Scope("licensee", "lee-a"),
        Scope("licensee", "lee-b"),
    ]
    guest = order(customer=Customer("guest", "a@b.cn", "a@b.cn"))
    assert Scope("tourist", "a@b.cn") not in scopes_of(guest)


def test_buckets_are_months_for_tourists_seconds_for_licensees_and_all() -> None:
    assert bucket_id(Scope("tourist", "t1"), ("2026-05",)) == "list:tourist:t1:2026-05"
    writes, added = entry_updates([order()])
    filters = [w._filter["_id"] for w in writes]
    assert filters[:4] == [
        "list:all:2026-05-01/23/59:59",
        "list:tourist:t1:2026-05",
        "list:licensee:lee-a:2026-05-01/23/59:59",
        "list:licensee:lee-b:2026-05-01/23/59:59",
    ]
    # each index level names the period under it
    assert ("periods:all", "2026-05-01") in added
    assert ("idx:all:2026-05-01", "23") in added
    assert ("idx:all:2026-05-01/23", "59:59") in added
    assert ("periods:tourist:t1", "2026-05") in added
    assert len(added) == 3 + 1 + 3 + 3
    assert set(filters[4:]) == {doc_id for doc_id, _ in added}


def test_index_entries_already_written_are_not_written_again() -> None:
    _, added = entry_updates([order()])
    writes, again = entry_updates([order("ord-2")], known=added)
    assert again == set()
    assert len(writes) == 4  # the buckets only
    later = order("ord-3")
    later.placed_at = AT + timedelta(seconds=1)  # the next day: a new day, hour and second
    _, new = entry_updates([later], known=added)
    assert ("periods:all", "2026-05-02") in new
    assert ("idx:all:2026-05-02/00", "00:00") in new


def test_the_cursor_round_trips_and_refuses_what_it_did_not_hand_out() -> None:
    position = Position(AT, "ord-1")
    cursor = encode_cursor(position)
    assert "ord-1" not in cursor  # opaque to clients
    assert decode_cursor(cursor) == position
    for bad in ("", "!!", "bm90IGEgY3Vyc29y", _NAIVE):
        with pytest.raises(InvalidCursor):
            decode_cursor(bad)


def test_expiry_entries_go_to_their_minute_and_shard_before_the_index() -> None:
    writes = enqueue_updates([("o1", AT), ("o2", AT + timedelta(seconds=1)), ("o3", AT)])
    shard = SHAPE.shard_of
    assert [w._filter["_id"] for w in writes[:-1]] == list(
        dict.fromkeys(
            [
                f"expiry:2026-05-01T23:59#{shard('o1'):02d}",
                f"expiry:2026-05-02T00:00#{shard('o2'):02d}",
                f"expiry:2026-05-01T23:59#{shard('o3'):02d}",
            ]
        )
    )
    assert writes[-1]._filter["_id"] == INDEX_ID  # the index last
    # entries spread over the minute's shards: no bucket holds a busy minute
    spread = {shard(f"ord-{n}") for n in range(200)}
    assert len(spread) == SHAPE.shards
    assert SHAPE.minute_buckets("2026-05-01T23:59")[0] == "expiry:2026-05-01T23:59#00"
    # minutes are UTC whatever the clock's zone
    assert minute_of(AT.astimezone(timezone(timedelta(hours=8)))) == "2026-05-01T23:59"
    assert enqueue_updates([]) == []
