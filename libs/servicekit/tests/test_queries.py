"""Which filters the local store serves by `_id` (servicekit.queries), and
the scan counter that catches the others."""

from pymongo import monitoring

from servicekit.hot_queries import HOT_QUERIES
from servicekit.metrics import STORE_SCANS
from servicekit.mongo import StoreCommandTimer
from servicekit.queries import filters_of, served_by_id


def test_an_id_equality_or_an_id_list_is_served_by_id() -> None:
    assert served_by_id({"_id": "o-1"})
    assert served_by_id({"_id": "o-1", "rev": 3})
    assert served_by_id({"_id": "p-1", "stock": {"$gte": 2}})
    assert served_by_id({"_id": {"$in": ["a", "b"]}, "owner": "x"})


def test_anything_else_is_a_scan() -> None:
    assert not served_by_id({})
    assert not served_by_id({"customer.id": "c-1"})
    assert not served_by_id({"_id": {"$gt": "a"}})
    assert not served_by_id({"_id": {"$in": []}})
    assert not served_by_id({"$or": [{"_id": "a"}, {"_id": "b"}]})
    assert not served_by_id(None)
    assert not served_by_id({"_id": 7})  # the store's index serves strings and ObjectIds


def test_filters_are_read_from_every_command_that_has_one() -> None:
    assert filters_of("find", {"find": "c", "filter": {"a": 1}}) == [{"a": 1}]
    assert filters_of("find", {"find": "c"}) == [{}]
    assert filters_of("update", {"updates": [{"q": {"_id": 1}}, {"q": {"b": 2}}]}) == [
        {"_id": 1},
        {"b": 2},
    ]
    assert filters_of("delete", {"deletes": [{"q": {"x": 1}}]}) == [{"x": 1}]
    assert filters_of("findAndModify", {"query": {"_id": "a"}}) == [{"_id": "a"}]
    assert filters_of("aggregate", {"pipeline": [{"$match": {"k": 1}}]}) == [{"k": 1}]
    assert filters_of("insert", {"documents": [{"_id": 1}]}) == []


def test_servicekits_own_hot_queries_are_served_by_id() -> None:
    assert [q.name for q in HOT_QUERIES if not served_by_id(q.filter)] == []


def _started(name: str, command: dict[str, object]) -> monitoring.CommandStartedEvent:
    return monitoring.CommandStartedEvent(
        {name: command[name], **command}, "db", 1, ("127.0.0.1", 27017), None
    )


def test_the_store_listener_counts_scans_by_command_and_collection() -> None:
    def scans() -> float:
        return STORE_SCANS.labels("find", "orders_probe")._value.get()

    timer = StoreCommandTimer()
    before = scans()
    timer.started(_started("find", {"find": "orders_probe", "filter": {"status": "PAID"}}))
    timer.started(_started("find", {"find": "orders_probe", "filter": {"_id": "o-1"}}))
    assert scans() == before + 1
