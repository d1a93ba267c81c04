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
The order consumer appends a whole poll's movements in one ordered insert
and its outcomes in one more (catalog.stock_batch); `move` and `set_to`
below serve stock management over HTTP, one movement at a time.
Works the same on MongoDB. (The local store's write lock has since made
conditional writes atomic too; the ledger stays, as the stock's audit trail.)

Every read and write names its documents by `_id` (the local store serves
nothing else from an index): an op's marker (`stock_ops`, `_id` = the op)
lists, before each attempt, the movement `_id` it is about to append, so
whether a half-done op moved stock is a point read of those ids, never a
search by `op`. Balance changes are announced in the search index's change
feed (catalog.feed) before the read model (`stock`) moves.
"""

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

from catalog.domain import LineRejection
from catalog.errors import ConcurrentChange
from catalog.feed import ChangeFeed
from catalog.filters import by_id, by_ids
from servicekit.mongo import advance

__all__ = [
    "Move",
    "Outcome",
    "OutcomeStatus",
    "StockLedger",
    "ensure_ledger_indexes",
    "move_doc",
    "move_id",
    "note_doc",
    "op_doc",
    "outcome_doc",
]

Doc = dict[str, Any]
OutcomeStatus = Literal["reserved", "rejected", "cancelled"]
_MAX_RETRIES = 200


async def ensure_ledger_indexes(db: AsyncDatabase[Doc]) -> None:
    moves = db["stock_moves"]
    await moves.create_index([("op", ASCENDING)], unique=True, name="op_unique")
    await moves.create_index([("product_id", ASCENDING), ("seq", DESCENDING)], name="latest")


def move_id(product_id: str, seq: int) -> str:
    return f"{product_id}#{seq:012d}"


# --- documents (the live path and catalog.history build them alike) ------------


def move_doc(
    product_id: str, seq: int, delta: int, balance: int, op: str, reason: str, at: datetime
) -> Doc:
    return {
        "_id": move_id(product_id, seq),
        "product_id": product_id,
        "seq": seq,
        "delta": delta,
        "balance": balance,
        "op": op,
        "reason": reason,
        "at": at,
    }


def op_doc(op: str, tried: Sequence[str], *, applied: bool) -> Doc:
    """An op's marker: whether it moved stock, and the movements it tried."""
    return {"_id": op, "applied": applied, "tries": list(tried)}


def outcome_doc(
    order_id: str,
    status: OutcomeStatus,
    lines: Sequence[tuple[str, int]],
    reasons: Sequence[LineRejection],
    at: datetime,
) -> Doc:
    return {
        "_id": order_id,
        "status": status,
        "lines": [{"product_id": p, "quantity": q} for p, q in lines],
        "reasons": [dataclasses.asdict(r) for r in reasons],
        "decided_at": at,
    }


def note_doc(record_id: str, at: datetime) -> Doc:
    return {"_id": record_id, "status": "note", "decided_at": at}


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
        self.feed = ChangeFeed(db)

    # --- balances --------------------------------------------------------------

    async def latest(self, product_id: str) -> tuple[int, int]:
        """The last movement: from the read model's hint, step forward by _id
        until the next sequence number is not there (only primary-key
        lookups; the hint never names a movement that does not exist)."""
        head = await self.shelf.find_one(by_id(product_id))
        seq, balance = (int(head["seq"]), int(head["balance"])) if head else (0, 0)
        while (nxt := await self.moves.find_one(by_id(move_id(product_id, seq + 1)))) is not None:
            seq, balance = int(nxt["seq"]), int(nxt["balance"])
        return seq, balance

    async def balance(self, product_id: str) -> int:
        return (await self.latest(product_id))[1]

    async def balances(self, product_ids: Sequence[str]) -> dict[str, int]:
        """Balances from the read model (for lists and search filters), in
        one `$in` of ids; the ledger itself decides every reservation."""
        if not product_ids:
            return {}
        found = {d["_id"]: int(d["balance"]) async for d in self.shelf.find(by_ids(product_ids))}
        return {p: found.get(p, 0) for p in product_ids}

    async def _project(self, product_id: str, seq: int, balance: int) -> None:
        """Advance the read model to `seq` unless it shows a later movement;
        announced first, so the search index never misses it."""
        await self.feed.announce(stock=[product_id])
        await advance(self.shelf, product_id, seq, {"balance": balance, "at": datetime.now(UTC)})

    async def applied(self, op: str) -> bool:
        """Whether the operation moved stock. Its marker is written before the
        movement: no marker means no; a marker still pending (a crash between
        the two) is settled by the movements it says it tried, by `_id`."""
        marker = await self.ops.find_one(by_id(op))
        if marker is None:
            return False
        if marker["applied"]:
            return True
        if "tries" not in marker:
            # a marker written before markers listed their tries: rare (a
            # crash mid-move), settled once by a search of the ledger
            return await self.moves.find_one({"op": op}) is not None
        tried: list[str] = marker["tries"]
        if not tried:
            return False
        hit = False
        async for move in self.moves.find(by_ids(tried), {"op": 1}):
            hit = hit or move["op"] == op
        if hit:
            await self._mark_applied(op)
        return hit

    async def _claim(self, op: str, product_id: str, seq: int) -> None:
        """Before each attempt: the movement this op may append (its marker
        names every one it tried, so `applied` reads them by `_id`)."""
        update: Doc = {
            "$setOnInsert": {"applied": False},
            "$addToSet": {"tries": move_id(product_id, seq)},
        }
        try:
            await self.ops.update_one(by_id(op), update, upsert=True)
        except DuplicateKeyError:  # a concurrent upsert created it first
            await self.ops.update_one(by_id(op), update)

    async def _mark_applied(self, op: str) -> None:
        await self.ops.update_one(by_id(op), {"$set": {"applied": True}})

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
        for _ in range(_MAX_RETRIES):
            if require_sellable:
                product = await self.products.find_one(by_id(product_id))
                if product is None:
                    return Move.UNKNOWN, 0
                if product["status"] != "active" or not product["sellable"]:
                    return Move.UNSELLABLE, 0
            seq, balance = await self.latest(product_id)
            if balance + delta < 0:
                return Move.INSUFFICIENT, balance
            applied = await self._attempt(product_id, seq + 1, delta, balance + delta, op, reason)
            if applied is None:
                continue  # someone appended first: look again
            if not applied:
                return Move.ALREADY, await self.balance(product_id)
            return Move.APPLIED, balance + delta
        raise ConcurrentChange("stock")

    async def _attempt(
        self, product_id: str, seq: int, delta: int, balance: int, op: str, reason: str
    ) -> bool | None:
        """One compare-and-swap: True when appended at `seq`, False when the op
        was appended before, None when another op took `seq`. Only an op that
        may append leaves a marker, naming the movement first."""
        await self._claim(op, product_id, seq)
        try:
            await self.moves.insert_one(
                move_doc(product_id, seq, delta, balance, op, reason, datetime.now(UTC))
            )
        except DuplicateKeyError:  # `seq` or `op` is taken
            if await self.moves.find_one(by_id(move_id(product_id, seq))):
                return None
            await self._mark_applied(op)
            return False
        await self._mark_applied(op)
        await self._project(product_id, seq, balance)
        return True

    async def set_to(self, product_id: str, stock: int, op: str) -> int:
        if await self.applied(op):
            return await self.balance(product_id)
        for _ in range(_MAX_RETRIES):
            seq, balance = await self.latest(product_id)
            if balance == stock:
                return stock
            applied = await self._attempt(product_id, seq + 1, stock - balance, stock, op, "set")
            if applied is None:
                continue
            return stock if applied else await self.balance(product_id)
        raise ConcurrentChange("stock")

    # --- outcomes --------------------------------------------------------------

    async def outcome(self, order_id: str) -> Outcome | None:
        doc = await self.outcomes.find_one(by_id(order_id))
        if doc is None:
            return None
        return Outcome(
            order_id=order_id,
            status=doc["status"],
            reasons=[LineRejection(**r) for r in doc.get("reasons", [])],
        )

    async def has_note(self, record_id: str) -> bool:
        return await self.outcomes.find_one(by_id(record_id)) is not None
