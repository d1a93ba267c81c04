"""Past orders into the catalog's stores, in bulk (the bench's history loader).

For the order events given (in time order) this writes what the reservation
consumer would have written: the same fold (catalog.stock_fold: the rules,
op keys and events) over all of them as one batch, and the same document
builders (catalog.ledger, catalog.stock_batch.record_doc): each order's
outcome, each line's op marker and stock movement, the movements and notes
of releases (cancelled orders) and restocking refunds, and at the end each
product's shown balance. It returns the events the consumer would have
published, with the ids it derives (`<order>:stock.reserved`, ...). Nothing
goes into an outbox and no marker is written: those events count as
published already.

Not a hot path: it runs before the services start, on stores whose catalog
exists, and reads what it needs in a few `$in` commands per call (the
consumer's own read, by batches of ids). It is not rerunnable over the same
events (their stock would move twice).
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from catalog.filters import by_id, by_ids
from catalog.ledger import StockLedger, move_doc, move_id, op_doc
from catalog.stock_batch import StockBatch, record_doc
from catalog.stock_fold import StockEvent, StockView, fold
from contracts.orders import OrderCancelled, OrderPlaced, OrderRefunded
from servicekit.envelope import Envelope

__all__ = ["load_history"]

Doc = dict[str, Any]
_BATCH = 1000  # documents per insert_many / bulk_write
_READ_BATCH = 500  # events per read of the consumer's view
_AFTER = timedelta(milliseconds=1)  # an outcome follows its cause


async def load_history(db: AsyncDatabase[Doc], events: Sequence[Envelope]) -> list[Envelope]:
    causes = [(e, c) for e in events if (c := _contract(e)) is not None]
    ledger = StockLedger(db)
    view = await _view(ledger, [c for _, c in causes])
    plan = fold([c for _, c in causes], view)
    assert not plan.deferred, "history starts from stores without pending holds"
    moves: list[Doc] = []
    ops: list[Doc] = []
    records: list[Doc] = []
    published: list[Envelope] = []
    for step in plan.steps:
        at = causes[step.index][0].time + _AFTER
        for m in step.moves:
            moves.append(move_doc(m.product_id, m.seq, m.delta, m.balance, m.op, m.reason, at))
            ops.append(op_doc(m.op, [move_id(m.product_id, m.seq)], applied=True))
        record = step.record
        if record is None:
            continue
        records.append(record_doc(record, at))
        if record.event is not None and record.event_id is not None:
            published.append(
                Envelope(
                    id=record.event_id,
                    type=record.event.TYPE,
                    source="catalog",
                    subject=record.event.aggregate_id,
                    time=at,
                    data=json.loads(record.event.model_dump_json()),
                )
            )
    for collection, docs in ((ledger.moves, moves), (ledger.ops, ops), (ledger.outcomes, records)):
        for start in range(0, len(docs), _BATCH):
            await collection.insert_many(docs[start : start + _BATCH], ordered=False)
    await _show(ledger.shelf, {p: plan.view.head(p) for p in view.heads.keys() | _moved(moves)})
    return published


def _contract(envelope: Envelope) -> StockEvent | None:
    for kind in (OrderPlaced, OrderCancelled, OrderRefunded):
        if envelope.type == kind.TYPE:
            return kind.model_validate(envelope.data)
    return None  # order.paid and the rest move no stock


async def _view(ledger: StockLedger, events: Sequence[StockEvent]) -> StockView:
    """The consumer's view of what the stores hold, read in slices of events;
    each product's last movement checked against the ledger (one `$in` for
    the next movements, walked where one is)."""
    reader = StockBatch(ledger)
    view = StockView()
    for start in range(0, len(events), _READ_BATCH):
        part = await reader.view(events[start : start + _READ_BATCH])
        view.outcomes.update(part.outcomes)
        view.notes |= part.notes
        view.applied |= part.applied
        view.sellable.update(part.sellable)
        view.heads.update(part.heads)
    products = sorted({x.product_id for e in events for x in e.lines})
    nexts = [move_id(p, view.head(p)[0] + 1) for p in products]
    for start in range(0, len(nexts), _READ_BATCH):
        found = ledger.moves.find(by_ids(nexts[start : start + _READ_BATCH]), {"product_id": 1})
        for product_id in {d["product_id"] async for d in found}:
            view.heads[product_id] = await ledger.latest(product_id)
    return view


def _moved(moves: Sequence[Doc]) -> set[str]:
    return {m["product_id"] for m in moves}


async def _show(shelf: AsyncCollection[Doc], heads: dict[str, tuple[int, int]]) -> None:
    now = datetime.now(UTC)
    shown = [
        UpdateOne(by_id(p), {"$set": {"seq": s, "balance": b, "at": now}}, upsert=True)
        for p, (s, b) in sorted(heads.items())
        if s > 0
    ]
    for start in range(0, len(shown), _BATCH):
        await shelf.bulk_write(shown[start : start + _BATCH], ordered=False)
