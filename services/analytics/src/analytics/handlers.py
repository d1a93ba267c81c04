"""Use cases: project one event (live), and the handler registry.

A live event is applied document by document, each guarded by its partition
high-water mark; its id is recorded only after every effect, so a redelivery
(same offset) skips what was done and finishes what was not, and a copy of
the event at a new offset is skipped as a whole.
"""

from __future__ import annotations

import asyncio
from functools import partial

from analytics.domain import PROJECTED, changes_for
from analytics.store import ProjectionStore
from contracts.base import Event
from servicekit.consumer import EventMeta, Handler, HandlerRegistry

__all__ = ["project_event", "registry"]


async def project_event(event: Event, meta: EventMeta, *, store: ProjectionStore) -> None:
    if await store.seen(meta.id):
        return  # the same event, republished at another offset
    # one event touches each document once, so its documents update concurrently
    outcomes = await asyncio.gather(
        *(store.apply(change, meta) for change in changes_for(event, meta.time)),
        return_exceptions=True,
    )
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    if failures:
        raise failures[0]  # redelivered: what was applied is skipped, the rest applied
    await store.mark_seen(meta)


def registry(store: ProjectionStore) -> HandlerRegistry:
    """Every contract analytics projects, all into `store`."""
    handler: Handler = partial(project_event, store=store)
    return {contract: [handler] for contract in PROJECTED}
