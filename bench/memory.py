"""Memory: the resident set (VmRSS) of each service idle (started, consumers
joined, nothing asked of it) and under load (the most sampled every 0.5 s
while the storefront, checkout and consumer benchmarks run), next to the
baseline trivial FastAPI app served the same way; and the whole stack's total
(the four services, Kafka and FerretDB)."""

from __future__ import annotations

import threading
from typing import Any

from processes import SERVICES, Platform

__all__ = ["Sampler", "summary"]

STACK = (*SERVICES, "kafka", "ferretdb")


class Sampler:
    """The largest RSS seen per process key, sampled in a thread."""

    def __init__(self, platform: Platform, interval: float = 0.5) -> None:
        self.platform = platform
        self.interval = interval
        self.peak: dict[str, float] = {}
        self.peak_total = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                rows = self.platform.rss()
            except Exception:  # a process stopping between two reads
                continue
            for key, mb in rows.items():
                self.peak[key] = max(self.peak.get(key, 0.0), mb)
            total = sum(mb for key, mb in rows.items() if key in STACK)
            self.peak_total = max(self.peak_total, total)


def summary(idle: dict[str, float], sampler: Sampler) -> dict[str, Any]:
    rows = []
    for key in ("baseline", *STACK):
        rows.append(
            {
                "process": key,
                "idle_mb": round(idle.get(key, 0.0), 1),
                "load_mb": round(sampler.peak.get(key, 0.0), 1) or None,
            }
        )
    return {
        "rows": rows,
        "stack_idle_mb": round(sum(idle.get(k, 0.0) for k in STACK), 1),
        "stack_load_peak_mb": round(sampler.peak_total, 1),
    }
