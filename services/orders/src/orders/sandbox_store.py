"""The sandbox provider's own store: its charges and their pending webhook
deliveries, in its own collections (never the order documents), so after any
restart it still answers `retrieve` and still delivers.

    sandbox_charges   one document per charge, `_id` = the provider reference:
                      status, amount, refunds (by idempotency key) and, while
                      its verdict is undelivered, `webhook` {url, attempts,
                      first_at, next_at, last_error}
    sandbox_due       the deliveries' pending set (a minute_queue): the charge
                      ids whose next attempt falls in each minute

A delivery's entry is filed BEFORE the write that schedules it (a new charge,
a retry, a completed `processing` charge), so no scheduled delivery can be
missing from the due set. Every command names its documents by `_id`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from orders.filters import by_id, ids_in
from orders.minute_queue import DueBucket, MinuteQueue, QueueShape
from orders.payments import ChargeStatus, ProviderCharge
from servicekit.queries import BOUNDED

__all__ = [
    "CHARGES",
    "DUE",
    "DUE_SHAPE",
    "Attempt",
    "SandboxStore",
    "StoredCharge",
    "processing_guard",
    "refund_guard",
]

CHARGES = "sandbox_charges"
DUE = "sandbox_due"
BOUNDED.add(DUE)  # holds only deliveries still pending
DUE_SHAPE = QueueShape(prefix="delivery", field="charge_ids", shards=16)
_IN_LIMIT = 1_000

Doc = dict[str, Any]


def refund_guard(provider_ref: str, key: str, amount_fen: int, charged_fen: int) -> Doc:
    """The charge, only if this key has not refunded yet and the amount fits."""
    return {
        "_id": provider_ref,
        f"refunds.{key}": {"$exists": False},
        "refunded_fen": {"$lte": charged_fen - amount_fen},
    }


def processing_guard(provider_ref: str) -> Doc:
    """The charge, only while its verdict is still open."""
    return {"_id": provider_ref, "status": "processing"}


@dataclass(frozen=True)
class StoredCharge:
    charge: ProviderCharge
    webhook_url: str | None  # set while a delivery is pending
    origin_url: str  # where the charge's webhooks go
    attempts: int
    first_at: datetime | None
    next_at: datetime | None


@dataclass(frozen=True)
class Attempt:
    """The outcome of one delivery attempt, to be written back."""

    provider_ref: str
    error: str | None  # None: delivered
    next_at: datetime | None  # the retry's time; None with an error: given up
    at: datetime


def _charge_of(doc: Doc) -> StoredCharge:
    hook = doc.get("webhook") or {}
    return StoredCharge(
        charge=ProviderCharge(
            provider_ref=doc["_id"],
            payment_id=doc["payment_id"],
            order_id=doc["order_id"],
            status=doc["status"],
            amount_fen=doc["amount_fen"],
            refunded_fen=doc.get("refunded_fen", 0),
            failure_reason=doc.get("failure_reason"),
        ),
        webhook_url=hook.get("url"),
        origin_url=doc.get("webhook_url", ""),
        attempts=hook.get("attempts", 0),
        first_at=hook.get("first_at"),
        next_at=hook.get("next_at"),
    )


def _webhook(url: str, at: datetime, deliver_at: datetime) -> Doc:
    return {"url": url, "attempts": 0, "first_at": at, "next_at": deliver_at, "last_error": None}


class SandboxStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._charges: AsyncCollection[Doc] = db[CHARGES]
        self.due = MinuteQueue(db[DUE], DUE_SHAPE)

    async def open(
        self,
        charge: ProviderCharge,
        *,
        at: datetime,
        webhook_url: str,
        deliver_at: datetime | None,
    ) -> ProviderCharge:
        """Record a charge (once per reference: a retried charge returns the
        first); its verdict's delivery is filed in the due set first."""
        doc: Doc = {
            "_id": charge.provider_ref,
            "payment_id": charge.payment_id,
            "order_id": charge.order_id,
            "status": charge.status,
            "amount_fen": charge.amount_fen,
            "refunded_fen": 0,
            "refunds": {},
            "failure_reason": charge.failure_reason,
            "created_at": at,
            "webhook_url": webhook_url,  # kept for a `processing` charge's later verdict
        }
        if deliver_at is not None:
            await self.due.enqueue([(charge.provider_ref, deliver_at)])
            doc["webhook"] = _webhook(webhook_url, at, deliver_at)
        try:
            await self._charges.insert_one(doc)
        except DuplicateKeyError:
            earlier = await self.get_many([charge.provider_ref])
            return earlier[charge.provider_ref].charge
        return charge

    async def get_many(self, provider_refs: Sequence[str]) -> dict[str, StoredCharge]:
        refs = list(dict.fromkeys(provider_refs))
        found: dict[str, StoredCharge] = {}
        for start in range(0, len(refs), _IN_LIMIT):
            chunk = refs[start : start + _IN_LIMIT]
            async for doc in self._charges.find(ids_in(chunk), batch_size=len(chunk) + 1):
                found[doc["_id"]] = _charge_of(doc)
        return found

    async def refund(self, charge: ProviderCharge, *, key: str, amount_fen: int) -> bool:
        """Refund once per key, never more than was charged. False: nothing changed
        (this key refunded already, or the amount does not fit)."""
        result = await self._charges.update_one(
            refund_guard(charge.provider_ref, key, amount_fen, charge.amount_fen),
            {"$set": {f"refunds.{key}": amount_fen}, "$inc": {"refunded_fen": amount_fen}},
        )
        return result.modified_count == 1

    async def complete(
        self,
        provider_ref: str,
        *,
        status: ChargeStatus,
        failure_reason: str | None,
        at: datetime,
        webhook_url: str,
        deliver_at: datetime,
    ) -> bool:
        """A `processing` charge gets its verdict; its delivery is filed first."""
        await self.due.enqueue([(provider_ref, deliver_at)])
        result = await self._charges.update_one(
            processing_guard(provider_ref),
            {
                "$set": {
                    "status": status,
                    "failure_reason": failure_reason,
                    "webhook": _webhook(webhook_url, at, deliver_at),
                }
            },
        )
        return result.modified_count == 1

    async def due_buckets(self, now: datetime, *, limit: int) -> list[DueBucket]:
        return await self.due.due(now, limit=limit)

    async def record(self, attempts: Sequence[Attempt]) -> None:
        """Write a tick's outcomes: retries are filed in the due set first, then
        one bulk write of the charges (delivered or given up: no more webhook)."""
        retries = [(a.provider_ref, a.next_at) for a in attempts if a.error and a.next_at]
        await self.due.enqueue(retries)
        writes = []
        for a in attempts:
            if a.error is None:
                change: Doc = {"$unset": {"webhook": ""}, "$set": {"delivered_at": a.at}}
            elif a.next_at is None:
                change = {"$unset": {"webhook": ""}, "$set": {"undelivered": a.error}}
            else:
                change = {
                    "$inc": {"webhook.attempts": 1},
                    "$set": {"webhook.next_at": a.next_at, "webhook.last_error": a.error},
                }
            writes.append(UpdateOne(by_id(a.provider_ref), change))
        if writes:
            await self._charges.bulk_write(writes, ordered=False)
