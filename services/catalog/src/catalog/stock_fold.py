"""The reservation saga's decisions for a batch of order events, in memory.

Pure code (no I/O): given what the stores show (`StockView`: outcomes,
notes, applied ops, sellable products, each product's last movement) and a
batch of `order.placed` / `order.cancelled` / `order.refunded` events in
order, `fold` decides each event as the one-by-one consumer would: all lines
or none, never below zero, each op once. The stock each event sees is what
the events before it left (the view is advanced in memory as it goes).

The result is a `Plan`: per event, the ledger movements it appends (seq and
balance already computed: `catalog.stock_batch` inserts them in one ordered
`insert_many`, the compare-and-swap) and the record it inserts (an outcome
or a note, with its `catalog.stock` event). The live consumer
(catalog.stock_batch) and the history loader (catalog.history) both apply
this fold.

Records follow their movements (a reserved outcome is written only once its
holds are in the ledger), except where a record must come first: an order
found rejected or cancelled while holds of it are in the ledger (a crash or a
race) records that decision first and gives the holds back in a later round
(`again`), so a crash in between can never re-reserve what was given back.
"""

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from catalog.domain import Line, LineRejection, ProductState, check_lines, merge_lines
from contracts.catalog import StockLine, StockRejected, StockReleased, StockReserved
from contracts.orders import OrderCancelled, OrderPlaced, OrderRefunded

__all__ = [
    "Decided",
    "PlannedMove",
    "Plan",
    "Record",
    "RecordStatus",
    "Step",
    "StockEvent",
    "StockView",
    "fold",
    "note_ids",
    "op_key",
    "ops_of",
    "products_of",
]

StockEvent = OrderPlaced | OrderCancelled | OrderRefunded
RecordStatus = Literal["reserved", "rejected", "cancelled", "note"]


def op_key(key: str, what: str, product_id: str) -> str:
    """A stock movement's op (its marker's `_id`): order or refund, step, product."""
    return f"{key}:{what}:{product_id}"


def released_note(order_id: str) -> str:
    return f"{order_id}#released"


def restocked_note(refund_id: str) -> str:
    return f"{refund_id}#restocked"


@dataclass(frozen=True)
class Decided:
    """An order's recorded outcome; `lines` are those it holds when reserved."""

    status: Literal["reserved", "rejected", "cancelled"]
    lines: tuple[tuple[str, int], ...] = ()


@dataclass
class StockView:
    outcomes: dict[str, Decided] = field(default_factory=dict)
    notes: set[str] = field(default_factory=set)
    applied: set[str] = field(default_factory=set)  # ops that moved stock
    sellable: dict[str, bool] = field(default_factory=dict)  # known products only
    heads: dict[str, tuple[int, int]] = field(default_factory=dict)  # product -> (seq, balance)

    def head(self, product_id: str) -> tuple[int, int]:
        return self.heads.get(product_id, (0, 0))

    def state(self, product_id: str) -> ProductState | None:
        if product_id not in self.sellable:
            return None
        return ProductState(self.sellable[product_id], self.head(product_id)[1])


@dataclass(frozen=True)
class PlannedMove:
    product_id: str
    seq: int
    delta: int
    balance: int
    op: str
    reason: str


@dataclass(frozen=True)
class Record:
    record_id: str
    status: RecordStatus
    lines: tuple[tuple[str, int], ...] = ()
    reasons: tuple[LineRejection, ...] = ()
    event: StockReserved | StockRejected | StockReleased | None = None
    event_id: str | None = None


@dataclass(frozen=True)
class Step:
    index: int  # the event's position in the batch folded
    moves: tuple[PlannedMove, ...] = ()
    record: Record | None = None
    again: bool = False  # its record first: fold the event again once it landed


@dataclass
class Plan:
    steps: list[Step]  # a prefix of the batch, in order
    deferred: list[int]  # events after a step that goes again: the next round
    short: set[str]  # products a line was rejected on for too little stock
    view: StockView  # the view after the steps


def _merged(event: StockEvent) -> list[Line]:
    return merge_lines((x.product_id, x.quantity) for x in event.lines)


def products_of(events: Iterable[StockEvent]) -> list[str]:
    return sorted({x.product_id for e in events for x in e.lines})


def note_ids(events: Iterable[StockEvent]) -> list[str]:
    """The notes the batch's releases and restocks look for."""
    ids: set[str] = set()
    for event in events:
        if isinstance(event, OrderCancelled | OrderRefunded):
            ids.add(released_note(event.order_id))
        if isinstance(event, OrderRefunded):
            ids.add(restocked_note(event.refund_id))
    return sorted(ids)


def ops_of(events: Iterable[StockEvent]) -> list[str]:
    """Every op the batch may append or ask about (its markers are read)."""
    ops: set[str] = set()
    for event in events:
        for x in event.lines:
            if isinstance(event, OrderRefunded):
                ops.add(op_key(event.refund_id, "restock", x.product_id))
                continue
            ops.add(op_key(event.order_id, "hold", x.product_id))
            ops.add(op_key(event.order_id, "undo", x.product_id))
            if isinstance(event, OrderCancelled):
                ops.add(op_key(event.order_id, "release", x.product_id))
    return sorted(ops)


class _Folder:
    def __init__(self, view: StockView) -> None:
        self.view = view
        self.short: set[str] = set()

    def move(self, product_id: str, op: str, delta: int, reason: str) -> PlannedMove:
        seq, balance = self.view.head(product_id)
        seq, balance = seq + 1, balance + delta
        self.view.heads[product_id] = (seq, balance)
        self.view.applied.add(op)
        return PlannedMove(product_id, seq, delta, balance, op, reason)

    def holds(self, order_id: str, product_id: str) -> bool:
        """The ledger shows this order's hold on the product, not given back."""
        applied = self.view.applied
        return op_key(order_id, "hold", product_id) in applied and (
            op_key(order_id, "undo", product_id) not in applied
        )

    def give_back(self, order_id: str, lines: Sequence[Line]) -> tuple[PlannedMove, ...]:
        return tuple(
            self.move(x.product_id, op_key(order_id, "undo", x.product_id), x.quantity, "undo")
            for x in lines
            if self.holds(order_id, x.product_id)
        )

    def placed(self, index: int, event: OrderPlaced) -> Step:
        order_id, lines = event.order_id, _merged(event)
        decided = self.view.outcomes.get(order_id)
        if decided is not None:
            if decided.status == "reserved":
                return Step(index)  # decided before: that decision holds
            return Step(index, moves=self.give_back(order_id, lines))
        pairs = tuple((x.product_id, x.quantity) for x in lines)
        held = [x for x in lines if self.holds(order_id, x.product_id)]
        free = [x for x in lines if x not in held]
        reasons = check_lines(free, {x.product_id: self.view.state(x.product_id) for x in free})
        if reasons:
            self.short.update(r.product_id for r in reasons if r.reason == "insufficient")
            self.view.outcomes[order_id] = Decided("rejected")
            contract = [r.to_contract() for r in reasons]
            record = Record(
                order_id,
                "rejected",
                pairs,
                tuple(reasons),
                StockRejected(order_id=order_id, reasons=contract),
                f"{order_id}:stock.rejected",
            )
            # holds of an earlier attempt go back once the rejection is recorded
            return Step(index, record=record, again=bool(held))
        moves = tuple(
            self.move(x.product_id, op_key(order_id, "hold", x.product_id), -x.quantity, "reserve")
            for x in free
        )
        self.view.outcomes[order_id] = Decided("reserved", pairs)
        event_out = StockReserved(order_id=order_id, lines=_stock_lines(lines))
        record = Record(order_id, "reserved", pairs, (), event_out, f"{order_id}:stock.reserved")
        return Step(index, moves=moves, record=record)

    def cancelled(self, index: int, event: OrderCancelled) -> Step:
        order_id, lines = event.order_id, _merged(event)
        decided = self.view.outcomes.get(order_id)
        if decided is None:
            # cancelled before any reservation: nothing is reserved later; a
            # placement that raced us finds this and gives its holds back
            pairs = tuple((x.product_id, x.quantity) for x in lines)
            self.view.outcomes[order_id] = Decided("cancelled")
            holding = any(self.holds(order_id, x.product_id) for x in lines)
            return Step(index, record=Record(order_id, "cancelled", pairs), again=holding)
        if decided.status != "reserved":
            return Step(index, moves=self.give_back(order_id, lines))
        note = released_note(order_id)
        if note in self.view.notes:
            return Step(index)
        held = {p for p, _ in decided.lines}
        given = [x for x in lines if x.product_id in held]
        moves = tuple(
            self.move(x.product_id, op, x.quantity, "release")
            for x in given
            if (op := op_key(order_id, "release", x.product_id)) not in self.view.applied
        )
        self.view.notes.add(note)
        released = StockReleased(
            order_id=order_id,
            lines=_stock_lines(given),
            reason="order_cancelled",
            released_at=event.cancelled_at,
        )
        record = Record(note, "note", event=released, event_id=f"{order_id}:stock.released")
        return Step(index, moves=moves, record=record)

    def refunded(self, index: int, event: OrderRefunded) -> Step:
        """Goods that came back go on the shelf again, once per refund, only
        for products the order reserved and not after a release."""
        decided = self.view.outcomes.get(event.order_id)
        note = restocked_note(event.refund_id)
        if not event.restock or decided is None or decided.status != "reserved":
            return Step(index)
        if released_note(event.order_id) in self.view.notes or note in self.view.notes:
            return Step(index)
        held = {p for p, _ in decided.lines}
        restocked = [x for x in _merged(event) if x.product_id in held]
        if not restocked:
            return Step(index)
        moves = tuple(
            self.move(x.product_id, op, x.quantity, "restock")
            for x in restocked
            if (op := op_key(event.refund_id, "restock", x.product_id)) not in self.view.applied
        )
        self.view.notes.add(note)
        released = StockReleased(
            order_id=event.order_id,
            lines=_stock_lines(restocked),
            reason="refund_restocked",
            released_at=event.refunded_at,
        )
        record = Record(note, "note", event=released, event_id=f"{event.refund_id}:stock.released")
        return Step(index, moves=moves, record=record)


def fold(events: Sequence[StockEvent], view: StockView) -> Plan:
    """Decide the events in order on a copy of `view`; stop after a step that
    must go again (what follows it is decided in the next round)."""
    folder = _Folder(copy.deepcopy(view))
    steps: list[Step] = []
    for index, event in enumerate(events):
        if isinstance(event, OrderPlaced):
            step = folder.placed(index, event)
        elif isinstance(event, OrderCancelled):
            step = folder.cancelled(index, event)
        else:
            step = folder.refunded(index, event)
        steps.append(step)
        if step.again:
            return Plan(steps, list(range(index + 1, len(events))), folder.short, folder.view)
    return Plan(steps, [], folder.short, folder.view)


def _stock_lines(lines: Iterable[Line]) -> list[StockLine]:
    return [StockLine(product_id=x.product_id, quantity=x.quantity) for x in lines]
