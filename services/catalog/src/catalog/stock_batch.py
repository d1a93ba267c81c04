"""The reservation consumer, a poll at a time: read, fold, write once.

A round reads what the batch's events need with one `$in` per collection
(outcomes and notes, op markers, products, shown balances), decides every
event in memory (catalog.stock_fold), then writes: the change-feed
announcement, the op markers (each naming the movement it is about to
append), every movement in ONE ordered `insert_many`, the shown balances,
the outbox markers, and every outcome and note in one `insert_many`. About
ten commands for the whole batch, whatever its size.

Why an ordered insert: a movement's `_id` is `<product>#<seq>` and its `op`
is unique, so each insert is a compare-and-swap that applies once; in order,
the insert stops at the first one that loses (another replica or an HTTP
change moved that product meanwhile, or the op was applied before), so what
landed is a prefix and no product's chain has a gap. The events whose
movements all landed, up to the first that did not, are recorded; the rest
are folded again in the next round on fresh reads (the losing product's
last movement walked by `_id`). Never below zero, never twice: a redelivered
batch finds its outcomes, notes and applied ops and changes nothing.
"""

import asyncio
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from catalog.errors import ConcurrentChange
from catalog.filters import by_id, by_ids
from catalog.ledger import StockLedger, move_doc, move_id, note_doc, outcome_doc
from catalog.stock_fold import (
    Decided,
    Plan,
    PlannedMove,
    Record,
    Step,
    StockEvent,
    StockView,
    fold,
    note_ids,
    ops_of,
    products_of,
)
from servicekit.mongo import advance_guard
from servicekit.outbox import attach_events, mark_pending, outbox_entry

__all__ = ["StockBatch", "record_doc"]

Doc = dict[str, Any]
_DUPLICATE = 11000
_MAX_ROUNDS = 100  # rounds lost to other writers before giving up (ConcurrentChange)
_MAX_REFOLDS = 10


def record_doc(record: Record, at: datetime) -> Doc:
    """An outcome or a note, as stored (without its outbox)."""
    if record.status == "note":
        return note_doc(record.record_id, at)
    return outcome_doc(record.record_id, record.status, record.lines, record.reasons, at)


class StockBatch:
    def __init__(self, ledger: StockLedger) -> None:
        self.ledger = ledger

    async def handle(self, events: Sequence[StockEvent]) -> None:
        pending = list(range(len(events)))
        walk: set[str] = set()  # products whose shown balance lags: walk the ledger
        for _ in range(_MAX_ROUNDS):
            if not pending:
                return
            batch = [events[i] for i in pending]
            plan = await self._decide(batch, walk)
            again, walk = await self._apply(plan)
            pending = [pending[i] for i in again]
        raise ConcurrentChange("stock")

    # --- reading -------------------------------------------------------------------

    async def _decide(self, events: Sequence[StockEvent], walk: set[str]) -> Plan:
        view = await self.view(events)
        shown = dict(view.heads)
        await self._walk(view, walk & set(products_of(events)))
        for _ in range(_MAX_REFOLDS):
            plan = fold(events, view)
            # a rejection for too little stock must see the ledger, not a
            # lagging shown balance: check those heads by `_id` (one `$in`)
            moved = await self._lagging(plan.short, view)
            if not moved:
                break
            await self._walk(view, moved)
        behind = {p: h for p, h in view.heads.items() if h != shown.get(p) and h[0] > 0}
        if behind:  # found lagging: show the ledger's balance again
            await self.ledger.feed.announce(stock=sorted(behind))
            await self._show(behind, datetime.now(UTC))
        return plan

    async def _walk(self, view: StockView, products: Iterable[str]) -> None:
        """Each product's last movement, stepping from the shown one by `_id`."""
        for product_id in sorted(products):
            view.heads[product_id] = await self.ledger.latest(product_id)

    async def view(self, events: Sequence[StockEvent]) -> StockView:
        """What the stores show for these events: one `$in` per collection,
        sent together."""
        ledger = self.ledger
        products = products_of(events)
        records = sorted({e.order_id for e in events} | set(note_ids(events)))
        view = StockView()

        async def outcomes() -> None:
            async for doc in ledger.outcomes.find(by_ids(records)):
                if doc["status"] == "note":
                    view.notes.add(doc["_id"])
                    continue
                lines = tuple((x["product_id"], int(x["quantity"])) for x in doc.get("lines", []))
                view.outcomes[doc["_id"]] = Decided(doc["status"], lines)

        async def applied() -> None:
            view.applied = await self._applied(ops_of(events))

        async def sellable() -> None:
            async for doc in ledger.products.find(by_ids(products), {"status": 1, "sellable": 1}):
                view.sellable[doc["_id"]] = doc["status"] == "active" and bool(doc["sellable"])

        async def shown() -> None:
            async for doc in ledger.shelf.find(by_ids(products)):
                view.heads[doc["_id"]] = (int(doc["seq"]), int(doc["balance"]))

        await asyncio.gather(outcomes(), applied(), sellable(), shown())
        return view

    async def _applied(self, ops: Sequence[str]) -> set[str]:
        """The ops that moved stock: markers by `$in`; a marker still pending
        (its movement may or may not have landed) is settled by the
        movements it tried, by `$in` too."""
        applied: set[str] = set()
        tried: dict[str, set[str]] = {}  # movement id -> the ops that tried it
        old: list[str] = []
        async for marker in self.ledger.ops.find(by_ids(ops)):
            if marker.get("applied"):
                applied.add(marker["_id"])
            elif "tries" in marker:
                for move_id_ in marker["tries"]:
                    tried.setdefault(move_id_, set()).add(marker["_id"])
            else:
                old.append(marker["_id"])
        if tried:
            async for move in self.ledger.moves.find(by_ids(tried), {"op": 1}):
                if move["op"] in tried[move["_id"]]:
                    applied.add(move["op"])
        for op in old:  # a marker from before markers listed their tries
            if await self.ledger.applied(op):
                applied.add(op)
        return applied

    async def _lagging(self, products: set[str], view: StockView) -> list[str]:
        if not products:
            return []
        nexts = [move_id(p, view.head(p)[0] + 1) for p in sorted(products)]
        found = self.ledger.moves.find(by_ids(nexts), {"product_id": 1})
        return sorted({d["product_id"] async for d in found})

    # --- writing -------------------------------------------------------------------

    async def _apply(self, plan: Plan) -> tuple[list[int], set[str]]:
        """Write the plan; returns the events to fold again and the products
        whose ledger moved under us."""
        moves = [m for step in plan.steps for m in step.moves]
        landed, walk = await self._append(moves)
        done: list[Step] = []
        again: list[int] = []
        position = 0
        for step in plan.steps:
            position += len(step.moves)
            if again or position > landed:
                again.append(step.index)  # after a movement that lost: fold again
            else:
                done.append(step)
        again += [s.index for s in await self._record(done)]
        again += [s.index for s in done if s.again]
        again += plan.deferred
        return sorted(set(again)), walk

    async def _append(self, moves: Sequence[PlannedMove]) -> tuple[int, set[str]]:
        """Announce, claim, append in order; advance the shown balances of
        what landed. Returns how many landed (a prefix)."""
        if not moves:
            return 0, set()
        ledger = self.ledger
        await ledger.feed.announce(stock=sorted({m.product_id for m in moves}))
        await self._claim(moves)
        now = datetime.now(UTC)
        docs = [
            move_doc(m.product_id, m.seq, m.delta, m.balance, m.op, m.reason, now) for m in moves
        ]
        landed, walk = len(docs), set[str]()
        try:
            await ledger.moves.insert_many(docs, ordered=True)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if not errors or any(e.get("code") != _DUPLICATE for e in errors):
                raise
            landed = int(errors[0]["index"])
            walk.add(moves[landed].product_id)  # its seq or its op was taken
        heads = {m.product_id: (m.seq, m.balance) for m in moves[:landed]}
        if heads:
            await self._show(heads, now)
        return landed, walk

    async def _claim(self, moves: Sequence[PlannedMove]) -> None:
        """Each op's marker names the movement it is about to append, so
        whether it landed is a point read (catalog.ledger)."""

        def claims(upsert: bool, which: Sequence[PlannedMove]) -> list[UpdateOne]:
            return [
                UpdateOne(
                    by_id(m.op),
                    {
                        "$setOnInsert": {"applied": False},
                        "$addToSet": {"tries": move_id(m.product_id, m.seq)},
                    }
                    if upsert
                    else {"$addToSet": {"tries": move_id(m.product_id, m.seq)}},
                    upsert=upsert,
                )
                for m in which
            ]

        try:
            await self.ledger.ops.bulk_write(claims(True, moves), ordered=False)
        except BulkWriteError as exc:  # concurrent upserts created some first
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != _DUPLICATE for e in errors):
                raise
            raced = [moves[int(e["index"])] for e in errors]
            await self.ledger.ops.bulk_write(claims(False, raced), ordered=False)

    async def _show(self, heads: dict[str, tuple[int, int]], at: datetime) -> None:
        """Advance each shown balance to the movement given (seq, balance),
        unless it shows a later one (forward only; the first one inserts)."""
        updates = [
            UpdateOne(
                advance_guard(product_id, seq),
                {"$set": {"seq": seq, "balance": balance, "at": at}},
                upsert=True,
            )
            for product_id, (seq, balance) in sorted(heads.items())
        ]
        try:
            await self.ledger.shelf.bulk_write(updates, ordered=False)
        except BulkWriteError as exc:  # shown at a later movement already
            if any(e.get("code") != _DUPLICATE for e in exc.details.get("writeErrors", [])):
                raise

    async def _record(self, steps: Sequence[Step]) -> list[Step]:
        """Insert the steps' outcomes and notes (their events in the outbox,
        announced first). Returns the steps whose record existed already:
        decided elsewhere, so they are folded again against that decision."""
        recorded = [s for s in steps if s.record is not None]
        if not recorded:
            return []
        outcomes = self.ledger.outcomes
        now = datetime.now(UTC)
        docs: list[Doc] = []
        for step in recorded:
            record = step.record
            assert record is not None
            doc = record_doc(record, now)
            if record.event is not None:
                entry = outbox_entry(record.event, source="catalog", event_id=record.event_id)
                doc = attach_events(doc, [entry])
            docs.append(doc)
        with_events = [s.record.record_id for s in recorded if s.record and s.record.event]
        await mark_pending(outcomes, *with_events)
        try:
            await outcomes.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != _DUPLICATE for e in errors):
                raise
            return [recorded[int(e["index"])] for e in errors]
        return []
