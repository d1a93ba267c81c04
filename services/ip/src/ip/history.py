"""The history loader: past orders into the ledger, in bulk.

`load_history` puts into the store what the order consumer would hold after
handling the past orders' `order.paid` / `order.refunded` events in order:
the same postings (the consumer's own fold, ip.order_fold, over the whole
load as one batch: same license chain state and periods), the reversal
index, the order index, the license heads and the books, with bulk writes of ~1,000
documents; and, given the service's certificate keys, the certificates of
the licensed units sold (ip.authenticity, as the consumer issues and revokes
them), so a past unit verifies like a new one. It returns the royalty events
the consumer would have published, with the same ids (the posting ids).
Nothing goes into an outbox: those events count as published already.

It reads licenses, assets and heads whole (a loader before the services
start, not a hot path) and is idempotent: postings already in the journal are
left alone and not counted again.
"""

import dataclasses
from collections.abc import Sequence
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from contracts.orders import OrderPaid, OrderRefunded
from ip import journal
from ip.authenticity import Authenticity
from ip.cert_keys import CertKeys
from ip.cert_store import CertStore
from ip.order_fold import (
    LedgerView,
    OrderEvent,
    fold_orders,
    head_moves,
    posting_ids,
    reversal_notes,
)
from ip.records import posting_doc
from ip.royalty import Cumulative
from ip.store import Store, book_lines, by_id
from servicekit.envelope import Envelope
from servicekit.outbox import envelope_of, outbox_entry

__all__ = ["load_history"]

Doc = dict[str, Any]
BATCH = 1000


def _order_events(events: Sequence[Envelope]) -> list[OrderEvent]:
    found: list[OrderEvent] = []
    for env in events:
        if env.type == OrderPaid.TYPE:
            found.append(OrderEvent(OrderPaid.model_validate(env.data), env.id))
        elif env.type == OrderRefunded.TYPE:
            found.append(OrderEvent(OrderRefunded.model_validate(env.data), env.id))
    return found


async def _view(store: Store, items: Sequence[OrderEvent]) -> LedgerView:
    """What the consumer would read, for the whole load at once: licenses,
    assets and heads read whole (a loader, not a hot path), the postings
    already in the journal and the reversals listed before this load."""
    licenses = {x.license_id: x for x in await store.licenses_where({})}
    assets = {a.asset_id: a for a in await store.assets_of(None)}
    heads: dict[str, tuple[int, Cumulative]] = {x: (0, Cumulative()) for x in licenses}
    async for d in store.heads.find({}):
        heads[d["_id"]] = (int(d["seq"]), Cumulative(**d["cum_after"]))
    lists = await journal.reversal_lists(store, list(reversal_notes(items)))
    wanted = posting_ids(items) + [x for ids in lists.values() for x in ids]
    posted = await store.postings_by_ids(list(dict.fromkeys(wanted)))
    return LedgerView(
        licenses=licenses,
        assets=assets,
        heads=heads,
        last_closed=await store.last_closed(),
        posted={p.posting_id: p for p in posted},
        reversals=lists,
    )


async def load_history(
    db: AsyncDatabase[Doc], events: Sequence[Envelope], *, cert_keys: CertKeys | None = None
) -> list[Envelope]:
    """Bulk-write what ip would hold after handling `events` (in order); return
    the royalty events it would have published."""
    store = Store(db)
    items = _order_events(events)
    view = await _view(store, items)
    folded = fold_orders(view, items)
    # postings already in the journal (`folded.healed`) were loaded before:
    # neither written nor counted again
    postings = [p for p, _ in folded.new]
    for i in range(0, len(postings), BATCH):
        await store.journal.insert_many([posting_doc(p) for p in postings[i : i + BATCH]])
    index: dict[str, list[str]] = {}
    for p in postings:
        if p.accrual_id:
            index.setdefault(p.accrual_id, []).append(p.posting_id)
    ops = [
        UpdateOne(by_id(a), {"$addToSet": {"ids": {"$each": ids}}}, upsert=True)
        for a, ids in index.items()
    ]
    for i in range(0, len(ops), BATCH):
        await store.reversal_index.bulk_write(ops[i : i + BATCH], ordered=False)
    await journal.move_heads(store, head_moves(postings))
    orders = [
        UpdateOne(by_id(o), {"$addToSet": {"ids": {"$each": ids}}}, upsert=True)
        for o, ids in journal.order_notes(postings).items()
    ]
    for i in range(0, len(orders), BATCH):
        await store.order_index.bulk_write(orders[i : i + BATCH], ordered=False)
    for i in range(0, len(folded.unmatched), BATCH):
        await journal.record_unmatched(store, folded.unmatched[i : i + BATCH])
    await store.books.bulk_load([line for p in postings for line in book_lines(p)])
    if cert_keys is not None:
        authenticity = Authenticity(CertStore(db), cert_keys)
        await authenticity.apply([i.event for i in items], view.licenses)
    return [
        dataclasses.replace(
            envelope_of(outbox_entry(event, source="ip", event_id=p.posting_id)),
            time=p.posted_at,
        )
        for p, event in folded.new
    ]
