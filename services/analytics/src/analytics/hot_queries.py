"""Every filter shape analytics' hot paths send, with sample values.

Built by the same functions the store uses (`filters.py`, the `_id` builders
of `changes.py`, the seen log's bucket walk), so the list follows the code;
tests/integration/test_hot_queries.py asks the real store to explain each.

Hot paths: the live projector (seen check, guarded upserts, recording the ids,
the hourly pruning of seen ids), the museum dashboard (API, page, CSV), the
operator overview, the active-version lookup of every request, a replay's
status. A replay's rebuild and `drop` write a fresh version (not hot).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from analytics.batch import mark_key
from analytics.changes import (
    ASSETS,
    LICENSES,
    MUSEUM_BLOCKS,
    MUSEUM_DAYS,
    MUSEUMS,
    PLATFORM_DAYS,
    PLATFORM_MINUTES,
    PLATFORM_TOTAL_ID,
    PLATFORM_TOTALS,
    PRODUCTS,
    RELICS,
    blocks_of_day,
    last_minutes,
    local_day,
    museum_block_id,
    museum_block_ids,
    museum_day_id,
    museum_day_ids,
    relic_asset_id,
)
from analytics.filters import ACTIVE, by_id, by_ids, guarded, newer_than
from analytics.seen import POINTER, bucket_chunks, bucket_of
from analytics.store import SEEN, SEEN_BUCKETS, collection_name, replay_id
from servicekit.queries import HotQuery

__all__ = ["HOT_QUERIES"]

_V = 1  # projection version of the samples
_NOW = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
_MARK = mark_key("orders.orders", 3)  # a batch's partition high-water mark
_OTHER = mark_key("ip.royalties", 1)


def _in(logical: str) -> str:
    return collection_name(logical, _V)


_PRUNE = next(bucket_chunks(bucket_of(_NOW - timedelta(hours=2)), _NOW - timedelta(hours=1)))

HOT_QUERIES: tuple[HotQuery, ...] = (
    # every request and the projector: which version is live
    HotQuery("active version", "projection_state", by_id(ACTIVE)),
    HotQuery("activate a replayed version", "projection_state", newer_than(2)),
    HotQuery("replay status", "replays", by_id(replay_id(2))),
    # the live projector, per batch
    HotQuery("seen check", _in(SEEN), by_ids(["evt-1", "evt-2"])),
    HotQuery("record seen ids in their bucket", _in(SEEN_BUCKETS), by_id(bucket_of(_NOW))),
    HotQuery(
        "guarded projection upsert",
        _in(MUSEUM_DAYS),
        guarded(museum_day_id("three-gorges", local_day(_NOW)), {_MARK: 42, _OTHER: 7}),
    ),
    HotQuery(
        "guarded block upsert",
        _in(MUSEUM_BLOCKS),
        guarded(museum_block_id("three-gorges", *blocks_of_day(_NOW.date())[-1]), {_MARK: 42}),
    ),
    HotQuery("guarded license upsert", _in(LICENSES), guarded("lic-1", {_MARK: 42})),
    HotQuery("marks of refused upserts", _in(MUSEUM_DAYS), by_ids(["three-gorges|2026-11-20"])),
    # the hourly pruning of seen ids
    HotQuery("seen pruning pointer", _in(SEEN_BUCKETS), by_id(POINTER)),
    HotQuery("seen buckets to forget", _in(SEEN_BUCKETS), by_ids(_PRUNE)),
    HotQuery("seen ids to forget", _in(SEEN), by_ids(["evt-1", "evt-2"])),
    # the museum dashboard (API, CSV, page)
    HotQuery("dashboard museum", _in(MUSEUMS), by_id("three-gorges")),
    HotQuery(
        "dashboard days",
        _in(MUSEUM_DAYS),
        by_ids(museum_day_ids("three-gorges", date(2026, 10, 22), date(2026, 11, 20))),
    ),
    HotQuery(
        "dashboard blocks",
        _in(MUSEUM_BLOCKS),
        by_ids(museum_block_ids("three-gorges", date(2026, 10, 22), date(2026, 11, 20))),
    ),
    HotQuery("dashboard product names", _in(PRODUCTS), by_ids(["p-1", "p-2"])),
    HotQuery("dashboard relic names", _in(RELICS), by_ids(["r-1", "r-2"])),
    HotQuery(
        "dashboard co-owners' relic assets",
        _in(ASSETS),
        by_ids([relic_asset_id("r-1"), relic_asset_id("r-2")]),
    ),
    HotQuery("dashboard guarantees", _in(LICENSES), by_ids(["lic-1", "lic-2"])),
    # the operator overview
    HotQuery("overview all time", _in(PLATFORM_TOTALS), by_id(PLATFORM_TOTAL_ID)),
    HotQuery("overview today", _in(PLATFORM_DAYS), by_id(local_day(_NOW))),
    HotQuery("overview last hour", _in(PLATFORM_MINUTES), by_ids(last_minutes(_NOW))),
)
