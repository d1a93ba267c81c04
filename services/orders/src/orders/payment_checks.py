"""The pending set of reconciliation: which payments to ask the provider about
when, kept by `_id` (a minute_queue in its own collection), so reconciling
costs what is pending, not what is stored.

    check:<YYYY-MM-DDTHH:MM>   entries "<order id>|<payment id>" of the payments
                               started in that minute (the reconciler reads the
                               minutes up to now minus its setting: filed by
                               their own time, entries follow a changed setting)
    check:index                the minutes that still have a bucket

An entry is written BEFORE the payment is recorded (and so before it is sent
to the provider), so no pending payment can be missing from the set; the
reconciler takes it out once the payment has its verdict (by webhook or by
its own `retrieve`), and drops an entry whose payment never landed once its
minute is closed.
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from orders.minute_queue import MinuteQueue, QueueShape
from servicekit.queries import BOUNDED

__all__ = ["CHECKS", "SHAPE", "PaymentChecks", "entry", "parse_entry"]

CHECKS = "payment_checks"
BOUNDED.add(CHECKS)  # holds only payments still being watched
SHAPE = QueueShape(prefix="check", field="payments", shards=16)

Doc = dict[str, Any]


def entry(order_id: str, payment_id: str) -> str:
    return f"{order_id}|{payment_id}"


def parse_entry(value: str) -> tuple[str, str]:
    order_id, _, payment_id = value.rpartition("|")
    return order_id, payment_id


class PaymentChecks(MinuteQueue):
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        super().__init__(db[CHECKS], SHAPE)
