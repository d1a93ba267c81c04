"""Stock as an append-only ledger, and the per-order outcome records.

Why a ledger: the local store (FerretDB 1.24) does not make a conditional
`update_one`/`find_one_and_update` atomic under concurrency: two writers of
one document can both "win", and increments get lost (see the report). The
one write it does make atomic is an insert against a unique index. So every
stock movement is an inserted document:

- `_id` is `<product>#<seq>`: the next sequence number can be inserted once,
  which makes "read the balance, append balance - q" a compare-and-swap; a
  loser re-reads and tries again, and never goes below zero;
- `op` is unique: an operation (`<order>:hold:<product>` ...) applies once,
  whatever the redelivery, crash or second consumer.

The outcome of an order (reserved, rejected, cancelled) is one inserted
document too, carrying its event in the outbox: the first writer decides.
Works the same on MongoDB. (The local stack's write proxy has since made
conditional writes atomic too; the ledger stays, as the stock's audit trail.)
"""

import asyncio
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Literal

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from catalog.domain import LineRejection, ProductState
from catalog.errors import ConcurrentChange
from contracts import Event
from servicekit.mongo import advance
from servicekit.outbox import OUTBOX, outbox_entry

__all__ = ["Move", "Outcome", "OutcomeStatus", "StockLedger", "ensure_ledger_indexes"]

Doc = dict[str, Any]
OutcomeStatus = Literal["reserved", "rejected", "cancelled"]
_MAX_RETRIES = 200


async def ensure_ledger_indexes(db: AsyncDatabase[Doc]) -> None:
    moves = db["stock_moves"]
    await moves.create_index([("op", ASCENDING)], unique=True, name="op_unique")
    await moves.create_index([("product_id", ASCENDING), ("seq", DESCENDING)], name="latest")


def _move_id(product_id: str, seq: int) -> str:
    return f"{product_id}#{seq:012d}"


class Move(Enum):
    APPLIED = "applied"
    ALREADY = "already"  # this op was applied before
    INSUFFICIENT = "insufficient"
    UNKNOWN = "unknown_product"
    UNSELLABLE = "unsellable"


@dataclass(frozen=True)
class Outcome:
    order_id: str
    status: OutcomeStatus
    reasons: list[LineRejection]


class StockLedger:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.moves: AsyncCollection[Doc] = db["stock_moves"]
        self.products: AsyncCollection[Doc] = db["products"]
        self.outcomes: AsyncCollection[Doc] = db["reservations"]
        self.shelf: AsyncCollection[Doc] = db["stock"]  # read model: latest balance
        self.ops: AsyncCollection[Doc] = db["stock_ops"]  # op -> applied?

    # --- balances --------------------------------------------------------------

    async def _latest(self, product_id: str) -> tuple[int, int]:
        """The last movement: from the read model's hint, step forward by _id
        until the next sequence number is not there (only primary-key
        lookups; the hint never names a movement that does not exist)."""
        head = await self.shelf.find_one({"_id": product_id})
        seq, balance = (int(head["seq"]), int(head["balance"])) if head else (0, 0)
        while (
            nxt := await self.moves.find_one({"_id": _move_id(product_id, seq + 1)})
        ) is not None:
            seq, balance = int(nxt["seq"]), int(nxt["balance"])
        return seq, balance

    async def balance(self, product_id: str) -> int:
        return (await self._latest(product_id))[1]

    async def balances(self, product_ids: Sequence[str]) -> dict[str, int]:
        """Balances from the read model (for lists and search filters); the
        ledger itself decides every reservation."""
        # one lookup by _id each: the local store answers those from its
        # primary key, while an `$in` would scan the collection
        docs = await asyncio.gather(*(self.shelf.find_one({"_id": p}) for p in product_ids))
        return {p: int(d["balance"]) if d else 0 for p, d in zip(product_ids, docs, strict=True)}

    async def shown_since(self, since: datetime | None) -> dict[str, int]:
        """The read model's balances changed since `since` (or all)."""
        docs = self.shelf.find({} if since is None else {"at": {"$gte": since}})
        return {d["_id"]: int(d["balance"]) async for d in docs}

    async def _project(self, product_id: str, seq: int, balance: int) -> None:
        """Advance the read model to `seq` unless it shows a later movement."""
        await advance(self.shelf, product_id, seq, {"balance": balance, "at": datetime.now(UTC)})

    async def applied(self, op: str) -> bool:
        """Whether the operation moved stock. Its marker is written before the
        movement: no marker means no; a marker still pending (a crash between
        the two) is settled by the ledger itself."""
        marker = await self.ops.find_one({"_id": op})
        if marker is None:
            return False
        if marker["applied"]:
            return True
        return await self.moves.find_one({"op": op}) is not None

    async def _claim(self, op: str) -> None:
        try:
            await self.ops.insert_one({"_id": op, "applied": False})
        except DuplicateKeyError:
            pass

    async def _mark_applied(self, op: str) -> None:
        await self.ops.update_one({"_id": op}, {"$set": {"applied": True}})

    async def states(self, product_ids: Sequence[str]) -> dict[str, ProductState]:
        # one lookup by _id each (an `$in` scans the collection on FerretDB)
        found = await asyncio.gather(*(self.products.find_one({"_id": p}) for p in product_ids))
        sellable = {
            d["_id"]: d["status"] == "active" and bool(d["sellable"])
            for d in found
            if d is not None
        }
        # the ledger itself, not the read model: a stale balance must not
        # reject an order that fits
        ids = list(sellable)
        stock = await asyncio.gather(*(self.balance(p) for p in ids))
        return {
            p: ProductState(sellable=sellable[p], stock=q) for p, q in zip(ids, stock, strict=True)
        }

    # --- movements -------------------------------------------------------------

    async def move(
        self,
        product_id: str,
        op: str,
        delta: int,
        *,
        reason: str,
        require_sellable: bool = False,
    ) -> tuple[Move, int]:
        """Append `delta` once for `op`, never below zero. Returns the result and
        the balance after it (or the balance that was too small)."""
        if await self.applied(op):
            return Move.ALREADY, await self.balance(product_id)
        claimed = False
        for _ in range(_MAX_RETRIES):
            if require_sellable:
                product = await self.products.find_one({"_id": product_id})
                if product is None:
                    return Move.UNKNOWN, 0
                if product["status"] != "active" or not product["sellable"]:
                    return Move.UNSELLABLE, 0
            seq, balance = await self._latest(product_id)
            if balance + delta < 0:
                return Move.INSUFFICIENT, balance
            if not claimed:  # only an op that may append leaves a marker
                await self._claim(op)
                claimed = True
            if not await self._append(product_id, seq + 1, delta, balance + delta, op, reason):
                if await self.moves.find_one({"_id": _move_id(product_id, seq + 1)}):
                    continue  # someone appended first: look again
                await self._mark_applied(op)  # this op was appended before
                return Move.ALREADY, await self.balance(product_id)
            await self._mark_applied(op)
            await self._project(product_id, seq + 1, balance + delta)
            return Move.APPLIED, balance + delta
        raise ConcurrentChange("stock")

    async def _append(
        self, product_id: str, seq: int, delta: int, balance: int, op: str, reason: str
    ) -> bool:
        """The compare-and-swap: False when `seq` or `op` is taken."""
        try:
            await self.moves.insert_one(
                {
                    "_id": _move_id(product_id, seq),
                    "product_id": product_id,
                    "seq": seq,
                    "delta": delta,
                    "balance": balance,
                    "op": op,
                    "reason": reason,
                    "at": datetime.now(UTC),
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def set_to(self, product_id: str, stock: int, op: str) -> int:
        if await self.applied(op):
            return await self.balance(product_id)
        await self._claim(op)
        for _ in range(_MAX_RETRIES):
            seq, balance = await self._latest(product_id)
            if balance == stock:
                return stock
            if not await self._append(product_id, seq + 1, stock - balance, stock, op, "set"):
                if await self.moves.find_one({"_id": _move_id(product_id, seq + 1)}):
                    continue
                await self._mark_applied(op)
                return await self.balance(product_id)
            await self._mark_applied(op)
            await self._project(product_id, seq + 1, stock)
            return stock
        raise ConcurrentChange("stock")

    # --- outcomes --------------------------------------------------------------

    async def outcome(self, order_id: str) -> Outcome | None:
        doc = await self.outcomes.find_one({"_id": order_id})
        if doc is None:
            return None
        return Outcome(
            order_id=order_id,
            status=doc["status"],
            reasons=[LineRejection(**r) for r in doc.get("reasons", [])],
        )

    async def decide(
        self,
        order_id: str,
        status: OutcomeStatus,
        *,
        lines: Sequence[tuple[str, int]],
        reasons: Sequence[LineRejection] = (),
        event: Event | None = None,
        event_id: str | None = None,
    ) -> Outcome:
        """Record the order's outcome unless one exists; return the one that holds."""
        doc: Doc = {
            "_id": order_id,
            "status": status,
            "lines": [{"product_id": p, "quantity": q} for p, q in lines],
            "reasons": [dataclasses.asdict(r) for r in reasons],
            "decided_at": datetime.now(UTC),
        }
        if event is not None:
            doc[OUTBOX] = [outbox_entry(event, source="catalog", event_id=event_id)]
        try:
            await self.outcomes.insert_one(doc)
        except DuplicateKeyError:  # decided before: that decision holds
            outcome = await self.outcome(order_id)
            assert outcome is not None
            return outcome
        return Outcome(order_id=order_id, status=status, reasons=list(reasons))

    async def note_once(self, record_id: str, event: Event, event_id: str) -> bool:
        """A follow-up record (release, restock) carrying its event; once."""
        try:
            await self.outcomes.insert_one(
                {
                    "_id": record_id,
                    "status": "note",
                    "decided_at": datetime.now(UTC),
                    OUTBOX: [outbox_entry(event, source="catalog", event_id=event_id)],
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def has_note(self, record_id: str) -> bool:
        return await self.outcomes.find_one({"_id": record_id}) is not None
