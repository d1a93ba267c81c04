"""Past orders into the catalog's stores, in bulk (the bench's history loader).

For the order events given (in time order) this writes what the reservation
consumer (catalog.reservations) would have written, by the same rules
(`merge_lines`, `check_lines`), op keys and document builders
(catalog.ledger): each order's outcome, each line's op marker and stock
movement, the movements and notes of releases (cancelled orders) and
restocking refunds, and at the end each product's shown balance. It returns
the events the consumer would have published, with the ids it derives
(`<order>:stock.reserved`, ...). Nothing goes into an outbox and no marker
is written: those events count as published already.

Not a hot path: it runs before the services start, on stores whose catalog
exists, and reads what it needs in a few `$in` commands per call. It is not
rerunnable over the same events (their stock would move twice).
"""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from catalog.domain import Line, LineRejection, ProductState, check_lines, merge_lines
from catalog.filters import by_id, by_ids
from catalog.ledger import (
    OutcomeStatus,
    StockLedger,
    move_doc,
    move_id,
    note_doc,
    op_doc,
    outcome_doc,
)
from catalog.reservations import op_key
from contracts import Event
from contracts.catalog import StockLine, StockRejected, StockReleased, StockReserved
from contracts.orders import OrderCancelled, OrderPlaced, OrderRefunded
from servicekit.envelope import Envelope

__all__ = ["load_history"]

Doc = dict[str, Any]
_BATCH = 1000  # documents per insert_many / bulk_write
_READ_BATCH = 500  # ids per `$in`
_AFTER = timedelta(milliseconds=1)  # an outcome follows its cause


async def load_history(db: AsyncDatabase[Doc], events: Sequence[Envelope]) -> list[Envelope]:
    causes = [(e, c) for e in events if (c := _contract(e)) is not None]
    history = _History(StockLedger(db))
    await history.prefetch(causes)
    for envelope, event in causes:
        if isinstance(event, OrderPlaced):
            history.placed(event, envelope.time + _AFTER)
        elif isinstance(event, OrderCancelled):
            history.cancelled(event, envelope.time + _AFTER)
        else:
            history.refunded(event, envelope.time + _AFTER)
    await history.write()
    return history.published


def _contract(envelope: Envelope) -> OrderPlaced | OrderCancelled | OrderRefunded | None:
    for kind in (OrderPlaced, OrderCancelled, OrderRefunded):
        if envelope.type == kind.TYPE:
            return kind.model_validate(envelope.data)
    return None  # order.paid and the rest move no stock


@dataclass
class _Order:
    status: OutcomeStatus
    held: dict[str, int] = field(default_factory=dict)  # product -> units held
    released: bool = False


class _History:
    def __init__(self, ledger: StockLedger) -> None:
        self.ledger = ledger
        self.sellable: dict[str, bool] = {}
        self.heads: dict[str, tuple[int, int]] = {}  # product -> (seq, balance)
        self.orders: dict[str, _Order] = {}
        self.notes: set[str] = set()
        self.moves: list[Doc] = []
        self.ops: list[Doc] = []
        self.outcomes: list[Doc] = []
        self.published: list[Envelope] = []

    # --- what the stores hold now ------------------------------------------------

    async def prefetch(self, causes: Iterable[tuple[Envelope, Event]]) -> None:
        products: set[str] = set()
        earlier: set[str] = set()  # orders placed before this batch
        placed: set[str] = set()
        notes: set[str] = set()
        for _, event in causes:
            if isinstance(event, OrderPlaced):
                placed.add(event.order_id)
                products.update(line.product_id for line in event.lines)
                continue
            assert isinstance(event, OrderCancelled | OrderRefunded)
            products.update(line.product_id for line in event.lines)
            if event.order_id not in placed:
                earlier.add(event.order_id)
            notes.add(f"{event.order_id}#released")
            if isinstance(event, OrderRefunded):
                notes.add(f"{event.refund_id}#restocked")
        ids = sorted(products)
        for doc in await _read(self.ledger.products, ids, {"status": 1, "sellable": 1}):
            self.sellable[doc["_id"]] = doc["status"] == "active" and bool(doc["sellable"])
        await self._prefetch_heads(ids)
        for doc in await _read(self.ledger.outcomes, sorted(earlier | notes)):
            if doc["status"] == "note":
                self.notes.add(doc["_id"])
            else:  # reserved means every line held (all or nothing)
                held = {x["product_id"]: int(x["quantity"]) for x in doc.get("lines", [])}
                self.orders[doc["_id"]] = _Order(
                    doc["status"], held if doc["status"] == "reserved" else {}
                )

    async def _prefetch_heads(self, ids: Sequence[str]) -> None:
        """Each product's last movement: the shown balance, checked against
        the ledger (one `$in` for the next movements; walked where one is)."""
        shown = await _read(self.ledger.shelf, ids)
        heads = {d["_id"]: (int(d["seq"]), int(d["balance"])) for d in shown}
        self.heads = {p: heads.get(p, (0, 0)) for p in ids}
        nexts = [move_id(p, seq + 1) for p, (seq, _) in self.heads.items()]
        for doc in await _read(self.ledger.moves, nexts, {"product_id": 1}):
            self.heads[doc["product_id"]] = await self.ledger.latest(doc["product_id"])

    # --- the consumer's decisions, in memory --------------------------------------

    def _move(self, product_id: str, op: str, delta: int, reason: str, at: datetime) -> None:
        seq, balance = self.heads[product_id]
        seq, balance = seq + 1, balance + delta
        self.heads[product_id] = (seq, balance)
        self.moves.append(move_doc(product_id, seq, delta, balance, op, reason, at))
        self.ops.append(op_doc(op, [move_id(product_id, seq)], applied=True))

    def placed(self, event: OrderPlaced, at: datetime) -> None:
        order_id = event.order_id
        if order_id in self.orders:
            return  # decided before: that decision holds
        lines = merge_lines((x.product_id, x.quantity) for x in event.lines)
        pairs = [(x.product_id, x.quantity) for x in lines]
        states = {
            p: ProductState(sellable=self.sellable[p], stock=self.heads[p][1])
            for p, _ in pairs
            if p in self.sellable
        }
        reasons = check_lines(lines, states)
        if reasons:
            self._decide(order_id, "rejected", pairs, reasons, at)
            rejected = StockRejected(order_id=order_id, reasons=[r.to_contract() for r in reasons])
            self._publish(rejected, f"{order_id}:stock.rejected", at)
            return
        for line in lines:
            self._move(
                line.product_id,
                op_key(order_id, "hold", line.product_id),
                -line.quantity,
                "reserve",
                at,
            )
        self._decide(order_id, "reserved", pairs, [], at)
        self.orders[order_id].held = dict(pairs)
        reserved = StockReserved(order_id=order_id, lines=_stock_lines(lines))
        self._publish(reserved, f"{order_id}:stock.reserved", at)

    def cancelled(self, event: OrderCancelled, at: datetime) -> None:
        order_id = event.order_id
        order = self.orders.get(order_id)
        if order is None:  # cancelled before any reservation
            lines = merge_lines((x.product_id, x.quantity) for x in event.lines)
            self._decide(order_id, "cancelled", [(x.product_id, x.quantity) for x in lines], [], at)
            return
        note = f"{order_id}#released"
        if order.status != "reserved" or note in self.notes:
            return
        lines = merge_lines((x.product_id, x.quantity) for x in event.lines)
        given = [x for x in lines if x.product_id in order.held]
        for line in given:
            self._move(
                line.product_id,
                op_key(order_id, "release", line.product_id),
                line.quantity,
                "release",
                at,
            )
        self._note(note, at)
        order.released = True
        released = StockReleased(
            order_id=order_id,
            lines=_stock_lines(given),
            reason="order_cancelled",
            released_at=event.cancelled_at,
        )
        self._publish(released, f"{order_id}:stock.released", at)

    def refunded(self, event: OrderRefunded, at: datetime) -> None:
        order = self.orders.get(event.order_id)
        note = f"{event.refund_id}#restocked"
        if not event.restock or order is None or order.status != "reserved":
            return
        if f"{event.order_id}#released" in self.notes or note in self.notes:
            return
        lines = merge_lines((x.product_id, x.quantity) for x in event.lines)
        restocked = [x for x in lines if x.product_id in order.held]
        for line in restocked:
            self._move(
                line.product_id,
                op_key(event.refund_id, "restock", line.product_id),
                line.quantity,
                "restock",
                at,
            )
        if restocked:
            self._note(note, at)
            released = StockReleased(
                order_id=event.order_id,
                lines=_stock_lines(restocked),
                reason="refund_restocked",
                released_at=event.refunded_at,
            )
            self._publish(released, f"{event.refund_id}:stock.released", at)

    def _decide(
        self,
        order_id: str,
        status: OutcomeStatus,
        pairs: Sequence[tuple[str, int]],
        reasons: Sequence[LineRejection],
        at: datetime,
    ) -> None:
        self.orders[order_id] = _Order(status)
        self.outcomes.append(outcome_doc(order_id, status, pairs, reasons, at))

    def _note(self, record_id: str, at: datetime) -> None:
        self.notes.add(record_id)
        self.outcomes.append(note_doc(record_id, at))

    def _publish(self, event: Event, event_id: str, at: datetime) -> None:
        self.published.append(
            Envelope(
                id=event_id,
                type=event.TYPE,
                source="catalog",
                subject=event.aggregate_id,
                time=at,
                data=json.loads(event.model_dump_json()),
            )
        )

    # --- the stores --------------------------------------------------------------

    async def write(self) -> None:
        for collection, docs in (
            (self.ledger.moves, self.moves),
            (self.ledger.ops, self.ops),
            (self.ledger.outcomes, self.outcomes),
        ):
            for start in range(0, len(docs), _BATCH):
                await collection.insert_many(docs[start : start + _BATCH], ordered=False)
        now = datetime.now(UTC)
        shown = [
            UpdateOne(by_id(p), {"$set": {"seq": s, "balance": b, "at": now}}, upsert=True)
            for p, (s, b) in self.heads.items()
        ]
        for start in range(0, len(shown), _BATCH):
            await self.ledger.shelf.bulk_write(shown[start : start + _BATCH], ordered=False)


def _stock_lines(lines: Iterable[Line]) -> list[StockLine]:
    return [StockLine(product_id=x.product_id, quantity=x.quantity) for x in lines]


async def _read(
    collection: AsyncCollection[Doc], ids: Sequence[str], projection: Doc | None = None
) -> list[Doc]:
    found: list[Doc] = []
    for start in range(0, len(ids), _READ_BATCH):
        batch = ids[start : start + _READ_BATCH]
        found.extend([d async for d in collection.find(by_ids(batch), projection)])
    return found
