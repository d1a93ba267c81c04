"""Every filter the catalog's hot paths send (see servicekit.queries): the
reservation consumer (order placed, cancelled, refunded), the license
consumer, the search index's refreshes (search and product pages), product
and stock management. Built by the same functions the store uses, with sample
values; tests/integration/test_hot_queries.py asks the real store to explain
each one.

Not here, because they are not history or not hot: the museum and relic lists
(`list_museums`, `list_relics`: the catalog of the platform and of a museum,
which does not grow with orders), `ensure_indexes` and its one-off directory
backfill (startup), history.py's bulk load (before the service starts), and
`StockLedger.applied`'s fallback for markers written before this version.
"""

from datetime import UTC, datetime

from catalog.docs import change_id
from catalog.feed import DIRECTORY, FEED, PRODUCTS_DIRECTORY, FeedPosition, bucket_id, window_ids
from catalog.filters import by_id, by_ids, older_version
from catalog.ledger import move_id
from catalog.stock_fold import op_key
from servicekit.consumer import EventMeta
from servicekit.idempotency import hwm_field
from servicekit.mongo import advance_guard
from servicekit.outbox import MARKERS, marker_id
from servicekit.queries import HotQuery

__all__ = ["HOT_QUERIES"]

_ORDER = "ord-0123456789abcdef0123456789abcdef"
_PRODUCT = "prd_0123456789abcdef0123456789abcdef"
_OTHER = "prd_fedcba9876543210fedcba9876543210"
_LICENSE = "lic-1"
_NOW = 1_780_000_000  # an epoch second
_WINDOW = window_ids(FeedPosition(_NOW - 1), _NOW) or []


# servicekit.idempotency.apply_once's guard, as it builds it
_HWM = hwm_field(EventMeta("e1", "t", "ip", _LICENSE, datetime.now(UTC), "ip.licenses", 0, 7))
_HWM_GUARD = {"_id": _LICENSE, "$or": [{_HWM: {"$exists": False}}, {_HWM: {"$lt": 7}}]}


HOT_QUERIES: tuple[HotQuery, ...] = (
    # the reservation consumer, a poll at a time (catalog.stock_batch): one
    # `$in` per collection, then bulk writes by `_id`
    HotQuery(
        "catalog: a batch's outcomes and notes",
        "reservations",
        by_ids([_ORDER, f"{_ORDER}#released"]),
    ),
    HotQuery(
        "catalog: a batch's op markers",
        "stock_ops",
        by_ids([op_key(_ORDER, "hold", _PRODUCT), op_key(_ORDER, "undo", _PRODUCT)]),
    ),
    HotQuery(
        "catalog: claim an op's movement",
        "stock_ops",
        by_id(op_key(_ORDER, "release", _PRODUCT)),
    ),
    # single moves (stock management over HTTP): an order's outcome, each op's
    # marker and movements (catalog.ledger), the product and its shown balance
    HotQuery("catalog: an order's outcome", "reservations", by_id(_ORDER)),
    HotQuery("catalog: an op's marker", "stock_ops", by_id(op_key(_ORDER, "hold", _PRODUCT))),
    HotQuery(
        "catalog: the movements a pending op tried",
        "stock_moves",
        by_ids([move_id(_PRODUCT, 41), move_id(_PRODUCT, 42)]),
    ),
    HotQuery("catalog: the next movement", "stock_moves", by_id(move_id(_PRODUCT, 42))),
    HotQuery("catalog: a product", "products", by_id(_PRODUCT)),
    HotQuery("catalog: an order's products", "products", by_ids([_PRODUCT, _OTHER])),
    HotQuery("catalog: a shown balance", "stock", by_id(_PRODUCT)),
    HotQuery("catalog: shown balances", "stock", by_ids([_PRODUCT, _OTHER])),
    # servicekit.mongo.advance's forward-only write of the shown balance
    HotQuery("catalog: advance a shown balance", "stock", advance_guard(_PRODUCT, 42)),
    HotQuery(
        "catalog: outbox marker before an outcome",
        MARKERS,
        by_id(marker_id("reservations", _ORDER)),
    ),
    HotQuery("catalog: a release note", "reservations", by_id(f"{_ORDER}#released")),
    # the change feed (catalog.feed): announced by every change, read by refreshes
    HotQuery("catalog: announce a change", FEED, by_id(bucket_id(_NOW))),
    HotQuery("catalog: a refresh's buckets", FEED, by_ids(_WINDOW)),
    HotQuery("catalog: the product directory", DIRECTORY, by_id(PRODUCTS_DIRECTORY)),
    # entities and their version log
    HotQuery("catalog: a logged change", "changes", by_id(change_id("product", _PRODUCT, 3))),
    HotQuery(
        "catalog: which products are behind their log",
        "changes",
        by_ids([change_id("product", _PRODUCT, 3), change_id("product", _OTHER, 2)]),
    ),
    HotQuery("catalog: roll a document forward", "products", older_version(_PRODUCT, 3)),
    HotQuery(
        "catalog: outbox marker before a change",
        MARKERS,
        by_id(marker_id("changes", change_id("product", _PRODUCT, 3))),
    ),
    HotQuery("catalog: a relic", "relics", by_id("rel_1")),
    HotQuery("catalog: a product's relics", "relics", by_ids(["rel_1", "rel_2"])),
    HotQuery("catalog: a museum", "museums", by_id("mus_1")),
    # the license replica (status, relics and scope in one document) and its
    # products: the license consumer, and product creation, change and
    # activation checking the scope
    HotQuery("catalog: a license and its product ids", "licenses", by_id(_LICENSE)),
    HotQuery("catalog: a license event applied once", "licenses", _HWM_GUARD),
)
