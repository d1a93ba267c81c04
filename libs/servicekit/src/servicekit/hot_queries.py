"""servicekit's own hot query shapes (see servicekit.queries): the relay's
lease and marker writes, and the exactly-once guards of consumers."""

from datetime import UTC, datetime

from servicekit.idempotency import hwm_guard
from servicekit.mongo import advance_guard
from servicekit.queries import HotQuery
from servicekit.relay import lease_filter, marker_filter, still_marked

__all__ = ["HOT_QUERIES"]

_NOW = datetime(2026, 1, 1, tzinfo=UTC)

HOT_QUERIES: tuple[HotQuery, ...] = (
    HotQuery("relay: lease a document", "orders", lease_filter("order-1", _NOW)),
    HotQuery("relay: read a round's documents", "orders", {"_id": {"$in": ["o-1", "o-2"]}}),
    HotQuery("relay: drop a relayed marker", "outbox_pending", marker_filter("orders:o-1", 2)),
    HotQuery("relay: uncount a marker", "outbox_pending", still_marked("orders:o-1", 2)),
    HotQuery(
        "consumer: apply once (high-water mark)", "counters", hwm_guard("total", "_hwm.t.0", 7)
    ),
    HotQuery("pointer: advance", "pointers", advance_guard("shelf", 3)),
)
