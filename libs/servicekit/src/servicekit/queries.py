"""Which store commands are served by `_id`, and each service's hot shapes.

The local store (FerretDB 1.24 with the project's patch, deploy/local/ferretdb)
reads by index only a filter that names `_id`: an `_id` equality (with any
other conditions applied to that one document) or `_id: {$in: [...]}`. Every
other filter reads the whole collection, so on a hot path (a request, a
consumer, the relay, a periodic job) every command must name its documents
by `_id`; the point reads are the fast path on MongoDB too.

Each service lists its hot query shapes in its own `hot_queries.py`
(`HOT_QUERIES`), built by the same functions its store uses;
tests/integration/test_hot_queries.py asks the real store to `explain` every
one. `store_scans_total` (servicekit.mongo) counts, by command and
collection, the commands that slipped through anyway.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["BOUNDED", "HotQuery", "filters_of", "served_by_id"]

# collections that hold only what is pending (see servicekit.outbox): small by
# construction, so reading all of them is not a scan of history
BOUNDED: set[str] = set()


@dataclass(frozen=True)
class HotQuery:
    """One filter a hot path sends to `collection`; `name` says which path."""

    name: str
    collection: str
    filter: Mapping[str, Any]


def served_by_id(query: Any) -> bool:
    """True when the store finds the filter's documents through `_id`."""
    if not isinstance(query, Mapping):
        return False
    value = query.get("_id")
    if _is_point(value):
        return True
    if isinstance(value, Mapping) and set(value) == {"$in"}:
        values = value["$in"]
        return isinstance(values, list) and bool(values) and all(_is_point(v) for v in values)
    return False


def filters_of(command_name: str, command: Mapping[str, Any]) -> list[Any]:
    """The filters a command reads by (none for an insert)."""
    if command_name == "find" or command_name == "count" or command_name == "distinct":
        return [command.get("filter", command.get("query")) or {}]
    if command_name == "update":
        return [u.get("q") for u in command.get("updates", ())]
    if command_name == "delete":
        return [d.get("q") for d in command.get("deletes", ())]
    if command_name.lower() == "findandmodify":
        return [command.get("query") or {}]
    if command_name == "aggregate":
        pipeline = command.get("pipeline") or [{}]
        first = pipeline[0] if isinstance(pipeline[0], Mapping) else {}
        return [first.get("$match", {})]
    return []


def _is_point(value: Any) -> bool:
    # the store's patch reads these by index; an integer `_id` is still a scan
    return isinstance(value, str) or type(value).__name__ == "ObjectId"
