"""Replays started by an operator over HTTP, run inside the service process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from analytics.config import Settings
from analytics.replay import replay
from analytics.store import ProjectionState
from servicekit.app import Runtime
from servicekit.errors import Conflict

__all__ = ["Replays"]

log = logging.getLogger(__name__)


class Replays:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._tasks: set[asyncio.Task[None]] = set()
        self._starting = False

    async def start(self, runtime: Runtime) -> int:
        """Take a fresh version and rebuild it in the background; returns the version.

        One at a time per process: a replay reads everything, two gain nothing,
        and FerretDB 1.24 does not make concurrent version allocation atomic."""
        if self._tasks or self._starting:
            raise Conflict("a replay is already running")
        self._starting = True
        try:
            state = ProjectionState(runtime.db)
            version = await state.allocate_version()
            # recorded before the answer, so `GET /replays/{version}` finds it at once
            await state.save_replay(version, status="running", started_at=datetime.now(UTC))
        finally:
            self._starting = False

        async def run() -> None:
            try:
                result = await replay(db=runtime.db, settings=self._settings, version=version)
                log.info("replay %s done: %s events", version, result.events)
            except asyncio.CancelledError:
                raise
            except Exception:  # recorded as failed in the replay's record; never activated
                log.exception("replay %s failed", version)

        task = asyncio.create_task(run(), name=f"replay-v{version}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return version

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
