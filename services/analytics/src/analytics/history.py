"""Past orders' events into the projections in bulk (the bench's history loader).

    await load_history(db, events)   # events in time order, a batch at a time

The events are folded in memory with the projector's own rules
(`changes_for`, folded per document as `merge` does: exactly the documents
live projection would have made) and written with upserts (`$inc` adds to
what the store already holds, so successive batches and the live seed's
documents add up), a few bulk writes per collection.

Nothing else is needed to keep later live events exact: past events are never
delivered live, so the documents' high-water marks stay those of the live
offsets, and their ids need no `seen` record (that set only skips copies of
events that were delivered). Analytics publishes nothing: the answer is empty.
Run only before the services start (the projector would otherwise update the
same documents concurrently with these upserts; both are `$inc`, still exact).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from pymongo.asynchronous.database import AsyncDatabase

from analytics.domain import PROJECTED, Change, changes_for
from analytics.store import ProjectionState, ProjectionStore
from servicekit.envelope import Envelope

__all__ = ["fold", "load_history"]

_CONTRACTS = {contract.TYPE: contract for contract in PROJECTED}


def fold(events: Sequence[Envelope]) -> list[Change]:
    """Every document's merged change for `events`; a repeated id counts once,
    and events analytics does not project (or that fail validation, which the
    live consumer would dead-letter) count for nothing, as in a replay."""
    seen: set[str] = set()
    by_doc: dict[tuple[str, str], Change] = {}
    for envelope in events:
        contract = _CONTRACTS.get(envelope.type)
        if contract is None or envelope.id in seen:
            continue
        try:
            event = contract.model_validate(envelope.data)
        except ValidationError:
            continue
        seen.add(envelope.id)
        # `merge`, without its copies: each change is fresh from `changes_for`
        for change in changes_for(event, envelope.time):
            existing = by_doc.get((change.collection, change.doc_id))
            if existing is None:
                by_doc[(change.collection, change.doc_id)] = change
            else:
                existing.absorb(change)
    return [c.normalized() for c in by_doc.values()]


async def load_history(
    db: AsyncDatabase[dict[str, Any]], events: Sequence[Envelope]
) -> list[Envelope]:
    """Project `events` into the active version; returns what analytics
    publishes in response: nothing."""
    version = await ProjectionState(db).active_version()
    store = ProjectionStore(db, version)
    await store.prepare()
    await store.write_merged(fold(events))
    return []
