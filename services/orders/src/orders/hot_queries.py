"""Every filter the orders service's hot paths send (see servicekit.queries):
checkout, payments and their webhook, refunds, fulfilment, the order lists,
the saga's and the replica's consumers, the expiry sweep, payment
reconciliation, and the sandbox provider (its charges and deliveries). Built by the
same functions the stores use, with sample values; the lead's
tests/integration/test_hot_queries.py asks the real store to explain each.

Not here, because they are not hot: `ensure_indexes` (startup) and
history.py's bulk load (before the service starts).
"""

from orders import expiry_queue, order_lists, payment_checks, sandbox_store
from orders.filters import by_id, ids_in, rev_guard, version_guard
from orders.order_lists import Scope
from servicekit.outbox import MARKERS, marker_id
from servicekit.queries import HotQuery

__all__ = ["HOT_QUERIES"]

_ORDER = "ord-0123456789abcdef0123456789abcdef"
_TOURIST = Scope("tourist", "tourist-1")
_LICENSEE = Scope("licensee", "lee-1")
_MINUTE = "2026-05-01T10:15"
_CHARGE = "sbx_ch_0123456789abcdef0123"

HOT_QUERIES: tuple[HotQuery, ...] = (
    # orders: every read and write of one order, and batches of them by id
    HotQuery("orders: read an order", "orders", by_id(_ORDER)),
    HotQuery("orders: rev-checked save", "orders", rev_guard(_ORDER, 3)),
    HotQuery("orders: a page's or a sweep's orders", "orders", ids_in([_ORDER, "ord-2"])),
    HotQuery("orders: outbox marker before a write", MARKERS, {"_id": marker_id("orders", _ORDER)}),
    # the order lists (order_lists): written at checkout, read by GET /orders
    HotQuery(
        "orders: list bucket entry",
        order_lists.LISTS,
        by_id(order_lists.bucket_id(_TOURIST, ("2026-05",))),
    ),
    HotQuery("orders: list periods", order_lists.LISTS, by_id(order_lists.periods_id(_LICENSEE))),
    HotQuery(
        "orders: list index documents of a page",
        order_lists.LISTS,
        ids_in(
            [
                order_lists.node_id(_LICENSEE, ("2026-05-02", "10")),
                order_lists.node_id(_LICENSEE, ("2026-05-02", "09")),
            ]
        ),
    ),
    HotQuery(
        "orders: list buckets of a page",
        order_lists.LISTS,
        ids_in(
            [
                order_lists.bucket_id(_LICENSEE, ("2026-05-02", "10", "15:37")),
                order_lists.bucket_id(_LICENSEE, ("2026-05-02", "10", "15:36")),
            ]
        ),
    ),
    # the expiry queue (expiry_queue): written at confirmation, read by the sweep
    HotQuery("orders: expiry index", expiry_queue.QUEUE, by_id(expiry_queue.INDEX_ID)),
    HotQuery(
        "orders: expiry bucket entry",
        expiry_queue.QUEUE,
        by_id(expiry_queue.bucket_id(_MINUTE)),
    ),
    HotQuery(
        "orders: expiry due buckets",
        expiry_queue.QUEUE,
        expiry_queue.buckets_filter([_MINUTE, "2026-05-01T10:16"]),
    ),
    HotQuery(
        "orders: retire an empty expiry bucket",
        expiry_queue.QUEUE,
        expiry_queue.emptied_filter(expiry_queue.bucket_id(_MINUTE, 3)),
    ),
    # payment reconciliation (payment_checks): written before a payment, read by the reconciler
    HotQuery(
        "orders: payment check index", payment_checks.CHECKS, by_id(payment_checks.SHAPE.index_id)
    ),
    HotQuery(
        "orders: payment check entry",
        payment_checks.CHECKS,
        by_id(payment_checks.SHAPE.bucket_id(_MINUTE)),
    ),
    HotQuery(
        "orders: payment checks due",
        payment_checks.CHECKS,
        payment_checks.SHAPE.buckets_filter([_MINUTE, "2026-05-01T10:16"]),
    ),
    HotQuery(
        "orders: retire an empty payment check bucket",
        payment_checks.CHECKS,
        payment_checks.SHAPE.emptied_filter(payment_checks.SHAPE.bucket_id(_MINUTE, 3)),
    ),
    # the sandbox provider's own store (sandbox_store)
    HotQuery("sandbox: charges by reference", sandbox_store.CHARGES, ids_in([_CHARGE, "sbx_ch_2"])),
    HotQuery("sandbox: a charge", sandbox_store.CHARGES, by_id(_CHARGE)),
    HotQuery(
        "sandbox: refund once per key",
        sandbox_store.CHARGES,
        sandbox_store.refund_guard(_CHARGE, "refund:rfd-1", 1_000, 4_000),
    ),
    HotQuery(
        "sandbox: complete a processing charge",
        sandbox_store.CHARGES,
        sandbox_store.processing_guard(_CHARGE),
    ),
    HotQuery("sandbox: delivery index", sandbox_store.DUE, by_id(sandbox_store.DUE_SHAPE.index_id)),
    HotQuery(
        "sandbox: delivery entry",
        sandbox_store.DUE,
        by_id(sandbox_store.DUE_SHAPE.bucket_id(_MINUTE)),
    ),
    HotQuery(
        "sandbox: deliveries due",
        sandbox_store.DUE,
        sandbox_store.DUE_SHAPE.buckets_filter([_MINUTE, "2026-05-01T10:16"]),
    ),
    HotQuery(
        "sandbox: retire an empty delivery bucket",
        sandbox_store.DUE,
        sandbox_store.DUE_SHAPE.emptied_filter(sandbox_store.DUE_SHAPE.bucket_id(_MINUTE, 3)),
    ),
    # the product replica and carts
    HotQuery("orders: replica product", "products", by_id("prd-1")),
    HotQuery("orders: replica newer version", "products", version_guard("prd-1", 4)),
    HotQuery("orders: checkout's products", "products", ids_in(["prd-1", "prd-2"])),
    HotQuery("orders: read a cart", "carts", by_id("cart-1")),
    HotQuery("orders: rev-checked cart save", "carts", rev_guard("cart-1", 2)),
)
