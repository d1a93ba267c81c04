"""The history loader: past orders into the ledger, in bulk.

`load_history` puts into the store what the order consumer (ip.ledger) would
hold after handling the past orders' `order.paid` / `order.refunded` events in
order: the same postings (built by ip.postings, from the same license chain
state and periods), the reversal index, the license heads and the books, with
bulk writes of ~1,000 documents. It returns the royalty events the consumer
would have published, with the same ids (the posting ids). Nothing goes into
an outbox: those events count as published already.

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
from ip.domain import posting_period
from ip.postings import accrual, accrual_id, holders_of, reversal, reversal_id
from ip.records import AssetRecord, LicenseRecord, Posting, posting_doc
from ip.royalty import Cumulative
from ip.store import Store, book_lines, by_id
from servicekit.envelope import Envelope
from servicekit.mongo import advance_guard
from servicekit.outbox import envelope_of, outbox_entry

__all__ = ["load_history"]

Doc = dict[str, Any]
BATCH = 1000


@dataclasses.dataclass
class _State:
    """What the consumer would read from the store, kept in memory."""

    licenses: dict[str, LicenseRecord]
    assets: dict[str, AssetRecord]
    heads: dict[str, tuple[int, Cumulative]]
    last_closed: str | None
    known: set[str]  # posting ids in the journal already
    new: dict[str, Posting] = dataclasses.field(default_factory=dict)
    reversals: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    unmatched: dict[str, Doc] = dataclasses.field(default_factory=dict)


async def _state(store: Store, events: Sequence[Envelope]) -> _State:
    licenses = {x.license_id: x for x in await store.licenses_where({})}
    assets = {a.asset_id: a for a in await store.assets_of(None)}
    heads = {
        d["_id"]: (int(d["seq"]), Cumulative(**d["cum_after"])) async for d in store.heads.find({})
    }
    wanted: list[str] = []
    for env in events:
        if env.type == OrderPaid.TYPE:
            paid = OrderPaid.model_validate(env.data)
            wanted += [accrual_id(paid.order_id, x.line_id) for x in paid.lines if x.license_id]
        elif env.type == OrderRefunded.TYPE:
            refund = OrderRefunded.model_validate(env.data)
            wanted += [reversal_id(refund.refund_id, x.line_id) for x in refund.lines]
    known = {p.posting_id for p in await store.postings_by_ids(wanted)}
    return _State(licenses, assets, heads, await store.last_closed(), known)


def _published(entry: Doc, at: Any) -> Envelope:
    return dataclasses.replace(envelope_of(entry), time=at)


def _accrue(state: _State, env: Envelope, out: list[Envelope]) -> None:
    event = OrderPaid.model_validate(env.data)
    for line in event.lines:
        if line.license_id is None:
            continue
        posting_id = accrual_id(event.order_id, line.line_id)
        if posting_id in state.known or posting_id in state.new:
            continue
        lic = state.licenses.get(line.license_id)
        assets = (
            [state.assets[a] for a in sorted(lic.scope.asset_ids) if a in state.assets]
            if lic
            else []
        )
        holders = holders_of(assets, line.relic_ids, event.paid_at) if lic else None
        if lic is None or lic.granted_at is None or holders is None:
            reason = (
                "unknown license"
                if lic is None
                else "license never granted"
                if lic.granted_at is None
                else "license has no assets"
            )
            state.unmatched[posting_id] = {"_id": posting_id, "reason": reason, "event_id": env.id}
            continue
        seq, before = state.heads.get(lic.license_id, (0, Cumulative()))
        posting, accrued = accrual(
            event,
            line,
            event_id=env.id,
            lic=lic,
            holders=holders,
            seq=seq,
            before=before,
            period=posting_period(event.paid_at, state.last_closed),
        )
        assert posting.cum_after is not None
        state.heads[lic.license_id] = (seq + 1, posting.cum_after)
        state.new[posting_id] = posting
        entry = outbox_entry(accrued, source="ip", event_id=posting_id)
        out.append(_published(entry, event.paid_at))


async def _reverse(store: Store, state: _State, env: Envelope, out: list[Envelope]) -> None:
    event = OrderRefunded.model_validate(env.data)
    for line in event.lines:
        if line.license_id is None:
            continue
        posting_id = reversal_id(event.refund_id, line.line_id)
        if posting_id in state.known or posting_id in state.new:
            continue
        key = accrual_id(event.order_id, line.line_id)
        accrued = state.new.get(key) or await store.posting(key)
        if accrued is None or accrued.license_id is None:
            state.unmatched[posting_id] = {
                "_id": posting_id,
                "reason": "refund of a line never accrued",
            }
            continue
        prior = [state.new[x] for x in state.reversals.get(key, []) if x in state.new]
        if key not in state.new:  # an accrual of an earlier load: its reversals so far
            prior += await store.reversals_of(key)
        seq, before = state.heads.get(accrued.license_id, (0, Cumulative()))
        built = reversal(
            event,
            line,
            event_id=env.id,
            accrued=accrued,
            prior=prior,
            seq=seq,
            before=before,
            period=posting_period(event.refunded_at, state.last_closed),
        )
        if built is None:
            continue
        posting, reversed_event = built
        assert posting.cum_after is not None
        state.heads[accrued.license_id] = (seq + 1, posting.cum_after)
        state.new[posting_id] = posting
        state.reversals.setdefault(key, []).append(posting_id)
        entry = outbox_entry(reversed_event, source="ip", event_id=posting_id)
        out.append(_published(entry, event.refunded_at))


async def _write(store: Store, state: _State) -> None:
    postings = list(state.new.values())
    for i in range(0, len(postings), BATCH):
        await store.journal.insert_many([posting_doc(p) for p in postings[i : i + BATCH]])
    index = [
        UpdateOne(by_id(a), {"$addToSet": {"ids": {"$each": ids}}}, upsert=True)
        for a, ids in state.reversals.items()
    ]
    heads: list[UpdateOne] = []
    for license_id, (seq, cum) in state.heads.items():
        fields = {"seq": seq, "cum_after": dataclasses.asdict(cum)}
        heads.append(UpdateOne(by_id(license_id), {"$setOnInsert": {"seq": 0}}, upsert=True))
        heads.append(UpdateOne(advance_guard(license_id, seq), {"$set": fields}))
    unmatched = [
        UpdateOne(by_id(k), {"$setOnInsert": doc}, upsert=True)
        for k, doc in state.unmatched.items()
    ]
    for collection, ops, ordered in (
        (store.reversal_index, index, False),
        (store.heads, heads, True),
        (store.unmatched, unmatched, False),
    ):
        for i in range(0, len(ops), BATCH):
            await collection.bulk_write(ops[i : i + BATCH], ordered=ordered)
    await store.books.bulk_load([line for p in postings for line in book_lines(p)])


async def load_history(db: AsyncDatabase[Doc], events: Sequence[Envelope]) -> list[Envelope]:
    """Bulk-write what ip would hold after handling `events` (in order); return
    the royalty events it would have published."""
    store = Store(db)
    state = await _state(store, events)
    published: list[Envelope] = []
    for env in events:
        if env.type == OrderPaid.TYPE:
            _accrue(state, env, published)
        elif env.type == OrderRefunded.TYPE:
            await _reverse(store, state, env, published)
    await _write(store, state)
    return published
