"""CPU used by each process of the platform (the services, FerretDB, Kafka)
over a stretch of the bench: where a 2-core machine's time goes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable
from typing import Any, TypeVar

from processes import SERVICES, Platform

__all__ = ["at_rest", "cpu_seconds", "during"]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
T = TypeVar("T")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _pids(platform: Platform) -> dict[str, int]:
    pids = {key: p.pid for key, p in platform.running.items() if key in SERVICES}
    for what in ("ferretdb", "kafka"):
        pids[what] = platform.stack.pid(what)
    return pids


def _used(pids: dict[str, int], before: dict[str, float]) -> dict[str, float]:
    return {key: cpu_seconds(pid) - before[key] for key, pid in pids.items()}


async def at_rest(platform: Platform, seconds: float) -> dict[str, float]:
    """% of one core each process used while nothing was asked of it."""
    pids = _pids(platform)
    before = {key: cpu_seconds(pid) for key, pid in pids.items()}
    await asyncio.sleep(seconds)
    return {key: round(s / seconds * 100, 1) for key, s in _used(pids, before).items()}


async def during(platform: Platform, work: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """The work's result with `cpu_s`: each process's CPU seconds while it ran
    (the load generator's own included, as `bench`)."""
    pids = {**_pids(platform), "bench": os.getpid()}
    before = {key: cpu_seconds(pid) for key, pid in pids.items()}
    result = await work
    result["cpu_s"] = {key: round(s, 2) for key, s in _used(pids, before).items()}
    return result
