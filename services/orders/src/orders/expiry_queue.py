"""The pending set of the expiry sweep: which confirmed orders fall due when,
kept by `_id` (a minute_queue in its own collection), so a sweep costs what
is pending, not what is stored.

    expiry:<YYYY-MM-DDTHH:MM>   the ids of orders whose payment falls due in that minute
    expiry:index                the minutes that still have a bucket

An order's entry is written BEFORE the write that confirms it (bucket first,
then the index), so no CONFIRMED order can be missing from the queue; a
crash in between leaves an entry for an order that is not CONFIRMED, which
the sweep drops (see minute_queue for how buckets retire).
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from orders.minute_queue import CLOSED_AFTER, DueBucket, MinuteQueue, QueueShape, minute_of
from servicekit.queries import BOUNDED

__all__ = [
    "CLOSED_AFTER",
    "INDEX_ID",
    "QUEUE",
    "SHAPE",
    "DueBucket",
    "ExpiryQueue",
    "bucket_id",
    "buckets_filter",
    "emptied_filter",
    "enqueue_updates",
    "minute_of",
]

QUEUE = "expiry_queue"
BOUNDED.add(QUEUE)  # holds only what is pending: reading it is never a scan of history

Doc = dict[str, Any]


SHAPE = QueueShape(prefix="expiry", field="order_ids", shards=16)
INDEX_ID = SHAPE.index_id
bucket_id = SHAPE.bucket_id
buckets_filter = SHAPE.buckets_filter
emptied_filter = SHAPE.emptied_filter  # the bucket, only while it holds nothing
enqueue_updates = SHAPE.enqueue_updates  # (order id, payment due at) -> bucket, then index


class ExpiryQueue(MinuteQueue):
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        super().__init__(db[QUEUE], SHAPE)
