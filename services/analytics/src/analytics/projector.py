"""The live projector: a consumer group per projection version.

It feeds the active version with consumer group `<group>-v<version>`. When a
replay activates a newer version (whose group's offsets the replay committed
where it stopped reading), the projector stops the old group and carries on
with the new one, so every event after the replay is applied to the new
version exactly once. Every replica runs one; replicas share a group. The
consumer hands over a poll at a time (`handlers.project_batch`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta

from pymongo.errors import PyMongoError

from analytics.config import Settings
from analytics.domain import PROJECTED
from analytics.handlers import subscription
from analytics.store import ProjectionState, ProjectionStore
from servicekit.app import Runtime
from servicekit.consumer import ConsumerRunner

__all__ = ["PROJECTED_TOPICS", "LiveProjector", "group_for"]

log = logging.getLogger(__name__)

PROJECTED_TOPICS: list[str] = sorted({contract.TOPIC for contract in PROJECTED})


def group_for(base_group: str, version: int) -> str:
    return f"{base_group}-v{version}"


class LiveProjector:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._stopping = asyncio.Event()
        self._done = asyncio.Event()
        self.version: int | None = None
        self.runner: ConsumerRunner | None = None

    async def run(self, runtime: Runtime) -> None:
        try:
            await self._run(runtime)
        finally:
            self._done.set()

    async def stop(self) -> None:
        """Graceful: the consumer finishes its message, commits and leaves."""
        self._stopping.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._done.wait(), 15)

    async def _run(self, runtime: Runtime) -> None:
        state = ProjectionState(runtime.db)
        poll = self._settings.projection_poll_ms / 1000
        while not self._stopping.is_set():
            try:
                version = await state.active_version()
                store = ProjectionStore(runtime.db, version)
                await store.prepare()
            except PyMongoError as exc:
                log.warning("projector waiting for the store: %s", exc)
                await self._sleep(poll)
                continue
            runner = ConsumerRunner(
                bootstrap_servers=self._settings.kafka_bootstrap_servers,
                group_id=group_for(self._settings.consumer_group, version),
                topics=PROJECTED_TOPICS,
                batch=subscription(store, linger_ms=self._settings.projection_linger_ms),
                dead_letters=runtime.publisher,
                max_attempts=self._settings.consumer_max_attempts,
                backoff=self._settings.consumer_backoff_ms / 1000,
                client_id=self._settings.service_name,
            )
            self.version, self.runner = version, runner
            task = asyncio.create_task(runner.run(), name=f"projector-v{version}")
            log.info("projecting into version %s", version)
            try:
                await self._follow(state, version, task, poll)
            finally:
                await runner.stop()
                await asyncio.wait([task])  # its errors are read below, not raised here
            if not task.cancelled() and task.exception() is not None:
                log.error("projector consumer crashed: %r; restarting", task.exception())

    async def _follow(
        self, state: ProjectionState, version: int, task: asyncio.Task[None], poll: float
    ) -> None:
        """Return when stopping, when the consumer died, or when a newer version is live.
        Meanwhile forget event ids older than the retention, about once an hour."""
        store = ProjectionStore(state.db, version)
        retention = timedelta(hours=self._settings.seen_retention_hours)
        next_prune = time.monotonic()
        while not self._stopping.is_set() and not task.done():
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + 3600
                try:
                    await store.prune_seen(before=datetime.now(UTC) - retention)
                except PyMongoError as exc:
                    log.warning("pruning seen event ids failed: %s", exc)
            await self._sleep(poll)
            try:
                active = await state.active_version()
            except PyMongoError:
                continue
            if active != version:
                log.info("version %s is live now; leaving version %s", active, version)
                return

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
