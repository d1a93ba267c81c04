"""Use cases: project a batch of events (live), and the projector's subscription.

A batch is folded in memory (`batch.fold_batch`, pure) after one `$in` read
of the seen set, written as one guarded upsert per document (one command per
collection), and its new ids are recorded last (one bulk insert): a
redelivery, whole or one event at a time, skips what was counted and applies
what was not; a copy of an event at a new offset is skipped as a whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from analytics.batch import fold_batch
from analytics.domain import PROJECTED
from analytics.store import ProjectionStore
from contracts.base import Event
from servicekit.consumer import BatchSubscription, EventMeta

__all__ = ["project_batch", "project_event", "subscription"]


async def project_batch(
    items: Sequence[tuple[Event, EventMeta]], *, store: ProjectionStore
) -> None:
    if not items:
        return
    known = await store.seen_among(list(dict.fromkeys(meta.id for _, meta in items)))
    folded = fold_batch(items, known)
    if not folded.ids:
        return  # every one a copy of an event counted already
    await store.apply_batch(folded.docs)
    await store.mark_seen_many(folded.ids)


async def project_event(event: Event, meta: EventMeta, *, store: ProjectionStore) -> None:
    """One event alone: a batch of one."""
    await project_batch([(event, meta)], store=store)


def subscription(store: ProjectionStore, *, linger_ms: int = 0) -> BatchSubscription:
    """Every contract analytics projects, a poll at a time, into `store`."""
    return BatchSubscription(PROJECTED, partial(project_batch, store=store), linger_ms=linger_ms)
