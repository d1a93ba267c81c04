"""Replay: rebuild every projection from the beginning of the topics.

1. take a fresh projection version (never used before) and empty collections;
2. read every partition of every projected topic from its beginning up to the
   end offset it had when the replay started, folding the events' changes per
   document in memory (the same folding as `domain.merge`), then writing each
   document once (bulk inserts; upserts only if the fold outgrew memory);
3. commit those end offsets for the new version's consumer group, so the live
   projector resumes exactly after them;
4. activate the version: reads switch to it, and every replica's live
   projector moves to its group.

A replay that fails is never activated, and the next one starts from a fresh
version, so replaying twice cannot double anything. Events the live consumer
dead-lettered (malformed, or failing validation) are skipped the same way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]
from pydantic import ValidationError
from pymongo.asynchronous.database import AsyncDatabase

from analytics.config import Settings
from analytics.domain import PROJECTED, Change, changes_for
from analytics.kafka import partitions_of
from analytics.projector import PROJECTED_TOPICS, group_for
from analytics.store import ProjectionState, ProjectionStore
from servicekit.envelope import MalformedEvent, decode

__all__ = ["ReplayProgress", "ReplayResult", "replay"]

log = logging.getLogger(__name__)

_CONTRACTS = {contract.TYPE: contract for contract in PROJECTED}


@dataclass
class ReplayProgress:
    version: int
    total: int = 0  # events to read (end minus beginning offsets)
    read: int = 0
    skipped: int = 0  # malformed, failing validation, or duplicate ids
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    @property
    def events_per_second(self) -> float:
        return self.read / self.elapsed

    @property
    def eta_seconds(self) -> float | None:
        rate = self.events_per_second
        return (self.total - self.read) / rate if rate > 0 else None


@dataclass(frozen=True)
class ReplayResult:
    version: int
    events: int
    skipped: int
    seconds: float
    activated: bool

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


class _Fold:
    """Every document's merged change so far; written once at the end by plain
    inserts (cheaper than upserts, which look the document up first). Past
    `max_docs` documents it spills with upserts."""

    def __init__(self, max_docs: int) -> None:
        self.docs: dict[tuple[str, str], Change] = {}
        self.ids: list[str] = []  # event ids to record as seen
        self.seen: set[str] = set()
        self.events = 0  # since the last flush
        self.spilled = False
        self._max_docs = max_docs

    def add(self, changes: list[Change]) -> None:
        for change in changes:
            key = (change.collection, change.doc_id)
            existing = self.docs.get(key)
            if existing is None:
                self.docs[key] = Change(
                    change.collection,
                    change.doc_id,
                    dict(change.inc),
                    dict(change.set),
                    dict(change.on_insert),
                )
            else:
                existing.absorb(change)

    @property
    def full(self) -> bool:
        return len(self.docs) >= self._max_docs

    async def flush_seen(self, store: ProjectionStore) -> None:
        await store.mark_seen_many(self.ids)
        self.ids = []
        self.events = 0

    async def flush_docs(self, store: ProjectionStore) -> None:
        changes = [c.normalized() for c in self.docs.values()]
        if self.spilled:
            await store.write_merged(changes)
        else:
            await store.insert_merged(changes)
        self.docs = {}
        self.spilled = True  # later writes meet these documents: upserts from now on


async def replay(
    *,
    db: AsyncDatabase[dict[str, Any]],
    settings: Settings,
    on_progress: Callable[[ReplayProgress], None] | None = None,
    version: int | None = None,
) -> ReplayResult:
    state = ProjectionState(db)
    version = version if version is not None else await state.allocate_version()
    store = ProjectionStore(db, version)
    await store.drop()
    await store.prepare()
    progress = ReplayProgress(version)
    await state.save_replay(version, status="running", started_at=datetime.now(UTC))
    try:
        await _read_all(store, settings, progress, on_progress)
    except BaseException as exc:
        await asyncio.shield(
            state.save_replay(version, status="failed", error=repr(exc)[:500], events=progress.read)
        )
        raise
    activated = await state.activate(version)
    await state.save_replay(
        version,
        status="activated" if activated else "superseded",
        finished_at=datetime.now(UTC),
        events=progress.read,
        skipped=progress.skipped,
        seconds=progress.elapsed,
        total=progress.total,
    )
    log.info("replay %s: %s events in %.1fs", version, progress.read, progress.elapsed)
    return ReplayResult(version, progress.read, progress.skipped, progress.elapsed, activated)


async def _read_all(
    store: ProjectionStore,
    settings: Settings,
    progress: ReplayProgress,
    on_progress: Callable[[ReplayProgress], None] | None,
) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group_for(settings.consumer_group, store.version),
        client_id=f"{settings.service_name}-replay",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    try:
        partitions = await partitions_of(settings.kafka_bootstrap_servers, PROJECTED_TOPICS)
        consumer.assign(partitions)
        begin = await consumer.beginning_offsets(partitions)
        end = await consumer.end_offsets(partitions)
        progress.total = sum(end[tp] - begin[tp] for tp in partitions)
        for tp in partitions:
            consumer.seek(tp, begin[tp])
        remaining = {tp for tp in partitions if end[tp] > begin[tp]}
        fold = _Fold(settings.replay_max_docs)
        if on_progress:
            on_progress(progress)
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=500, max_records=5_000)
            for tp, records in fetched.items():
                for record in records:
                    if record.offset >= end[tp]:
                        break  # arrived after the replay began: the live group's part
                    _fold(record, fold, progress)
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
            if fold.events >= settings.replay_batch_events or not remaining:
                await fold.flush_seen(store)
                await store_progress(store, progress)
                if on_progress:
                    on_progress(progress)
            if fold.full:
                await fold.flush_docs(store)
        await fold.flush_docs(store)
        await consumer.commit({tp: end[tp] for tp in partitions})
    finally:
        await consumer.stop()


def _fold(record: Any, fold: _Fold, progress: ReplayProgress) -> None:
    progress.read += 1
    fold.events += 1
    try:
        envelope = decode(record.key, record.value, list(record.headers or ()))
    except MalformedEvent:
        progress.skipped += 1
        return
    contract = _CONTRACTS.get(envelope.type)
    if contract is None:
        return  # not a projected type (a probe, a newer contract)
    if envelope.id in fold.seen:
        progress.skipped += 1  # republished copy
        return
    try:
        event = contract.model_validate(envelope.data)
    except ValidationError:
        progress.skipped += 1
        return
    fold.seen.add(envelope.id)
    fold.ids.append(envelope.id)
    fold.add(changes_for(event, envelope.time))


async def store_progress(store: ProjectionStore, progress: ReplayProgress) -> None:
    await ProjectionState(store.db).save_replay(
        store.version,
        status="running",
        total=progress.total,
        events=progress.read,
        events_per_second=round(progress.events_per_second, 1),
    )
