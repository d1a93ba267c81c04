"""CPU used by each process of the platform (the services, FerretDB, Kafka)
over a stretch of the bench: where a 2-core machine's time goes.

With BENCH_PROFILE=<dir>, each service is also sampled by py-spy while a
measured stretch runs (collapsed stacks, `<dir>/<n>-<service>.txt`, 50 Hz,
for speedscope or flamegraph.pl): for finding where the time goes, not for
figures (py-spy takes CPU too)."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

from processes import SERVICES, Platform

__all__ = ["at_rest", "cpu_seconds", "during"]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROFILE_DIR = os.environ.get("BENCH_PROFILE")
PY_SPY = str(Path(sys.executable).with_name("py-spy"))  # beside the venv's python
_stretches = itertools.count(1)
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
    profilers = _profile({k: v for k, v in pids.items() if k in SERVICES})
    try:
        result = await work
    finally:
        for profiler in profilers:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            profiler.wait(timeout=60)
    result["cpu_s"] = {key: round(s, 2) for key, s in _used(pids, before).items()}
    return result


def _profile(pids: dict[str, int]) -> list[subprocess.Popen[bytes]]:
    if not PROFILE_DIR:
        return []
    out = Path(PROFILE_DIR)
    out.mkdir(parents=True, exist_ok=True)
    n = next(_stretches)
    commands = [
        [PY_SPY, "record", "--format", "raw", "--rate", "50", "--nonblocking"]
        + ["--pid", str(pid), "--output", str(out / f"{n}-{key}.txt")]
        for key, pid in pids.items()
    ]
    return [
        subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for c in commands
    ]
