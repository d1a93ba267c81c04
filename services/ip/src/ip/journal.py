"""The ledger's batch reads and writes: one command per collection per batch,
each naming its documents by `_id` (see ip.hot_queries).

The order consumer (ip.order_batches) reads what a batch of order events
needs with one `$in` per collection, and writes the batch's postings with
one `insert_many`, the head pointers with one `bulk_write`, the reversal
index and the unmatched lines with one each. No Mongo type leaves it.
"""

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from ip.book_docs import by_id, by_ids
from ip.order_fold import Unmatched
from ip.records import LicenseRecord, Posting, cumulative_of, license_of, posting_doc
from ip.royalty import Cumulative
from ip.store import Store
from servicekit.mongo import advance_guard
from servicekit.outbox import attach_events, mark_pending

__all__ = [
    "heads_of",
    "insert_postings",
    "licenses_by_ids",
    "move_heads",
    "note_orders",
    "note_reversals",
    "order_postings",
    "record_unmatched",
    "reversal_lists",
]

Doc = dict[str, Any]
DUPLICATE_KEY = 11000


async def heads_of(store: Store, license_ids: Sequence[str]) -> dict[str, tuple[int, Cumulative]]:
    """Each license's chain head pointer; (0, zero) for a chain not started."""
    heads: dict[str, tuple[int, Cumulative]] = {x: (0, Cumulative()) for x in license_ids}
    if license_ids:
        async for d in store.heads.find(by_ids(list(license_ids))):
            heads[d["_id"]] = (int(d["seq"]), cumulative_of(d["cum_after"]))
    return heads


async def licenses_by_ids(store: Store, license_ids: Sequence[str]) -> dict[str, LicenseRecord]:
    if not license_ids:
        return {}
    return {d["_id"]: license_of(d) async for d in store.licenses.find(by_ids(list(license_ids)))}


async def note_reversals(store: Store, notes: Mapping[str, Sequence[str]]) -> None:
    """List reversals under their accruals BEFORE inserting them (ip.store
    `note_reversal`, for a whole batch)."""
    if notes:
        await store.reversal_index.bulk_write(
            [
                UpdateOne(by_id(a), {"$addToSet": {"ids": {"$each": list(ids)}}}, upsert=True)
                for a, ids in notes.items()
            ],
            ordered=False,
        )


async def reversal_lists(store: Store, accrual_ids: Sequence[str]) -> dict[str, list[str]]:
    if not accrual_ids:
        return {}
    return {
        d["_id"]: list(d.get("ids", []))
        async for d in store.reversal_index.find(by_ids(list(accrual_ids)))
    }


async def insert_postings(
    store: Store, postings: Sequence[tuple[Posting, list[Doc]]], *, mark: Sequence[str]
) -> int:
    """Insert the postings in order, each with its outbox events, after one
    `mark_pending` for the ids in `mark`; the number inserted.

    Ordered: it stops at the first duplicate key. A license's chain is
    consecutive within the batch, so a posting after one that lost its
    position to a rival must not land (it was computed from the lost one);
    the caller re-reads and recomputes the rest. The batch's postings that
    were in the journal already are not sent (the caller read them first),
    so a duplicate here is a race, not a redelivery."""
    if not postings:
        return 0
    for posting, _ in postings:
        if sum(e.amount_fen for e in posting.entries) != 0:
            raise AssertionError(f"posting {posting.posting_id} is not balanced")
    await mark_pending(store.journal, *mark)
    docs = [attach_events(posting_doc(p), outbox) for p, outbox in postings]
    try:
        await store.journal.insert_many(docs, ordered=True)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if not errors or any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        return int(errors[0]["index"])
    return len(docs)


async def move_heads(store: Store, moves: Mapping[str, tuple[int, Cumulative]]) -> None:
    """Move each license's head pointer forward to its position (never back):
    one ordered bulk, a create (at zero) then a guarded move per license."""
    if not moves:
        return
    ops = []
    for license_id, (seq, cum) in moves.items():
        zero = {"seq": 0, "cum_after": dataclasses.asdict(Cumulative())}
        ops.append(UpdateOne(by_id(license_id), {"$setOnInsert": zero}, upsert=True))
        ops.append(
            UpdateOne(
                advance_guard(license_id, seq),
                {"$set": {"seq": seq, "cum_after": dataclasses.asdict(cum)}},
            )
        )
    await store.heads.bulk_write(ops, ordered=True)


async def record_unmatched(store: Store, lines: Sequence[Unmatched]) -> None:
    """Keep lines that could not be posted (the first reason sticks)."""
    if lines:
        await store.unmatched.bulk_write(
            [
                UpdateOne(
                    by_id(u.posting_id),
                    {
                        "$setOnInsert": {"reason": u.reason}
                        | ({"event_id": u.event_id} if u.event_id else {})
                    },
                    upsert=True,
                )
                for u in lines
            ],
            ordered=False,
        )


def order_notes(postings: Sequence[Posting]) -> dict[str, list[str]]:
    """order id -> the ids of these postings made for it."""
    notes: dict[str, list[str]] = {}
    for p in postings:
        if p.order_id:
            notes.setdefault(p.order_id, []).append(p.posting_id)
    return notes


async def note_orders(store: Store, postings: Sequence[Posting]) -> None:
    """List postings under their orders (the by-order index), idempotently:
    after their insert, and again on a redelivery that finds them posted."""
    notes = order_notes(postings)
    if notes:
        await store.order_index.bulk_write(
            [
                UpdateOne(by_id(o), {"$addToSet": {"ids": {"$each": ids}}}, upsert=True)
                for o, ids in notes.items()
            ],
            ordered=False,
        )


async def order_postings(store: Store, order_id: str) -> list[str]:
    doc = await store.order_index.find_one(by_id(order_id))
    return list(doc.get("ids", [])) if doc else []
