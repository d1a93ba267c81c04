"""The museum blocks a dashboard read recently, kept while the store's
day documents say nothing new reached them.

A block (changes.py) holds a range of a museum's days; a busy museum's
block maps hundreds of products, relics and licensees, the largest
documents a dashboard reads, and the dearest for the local store to decode.
Every event a block counts is counted, by the same batch write, in the
museum's day document of that day (domain.py: each block change comes with
one to its day), and both keep per-partition high-water marks of the
offsets they counted (`_hwm`, batch.py). A partition's events reach each
document in offset order, so a block whose mark for a partition is at or
past every mark its days hold for it has counted everything they have: the
kept copy is current, and the dashboard, which reads the day documents
anyway, decodes the block only when one of its days moved past it.

Writes that bypass the marks (the history loader, meant for stopped
services) are seen once a kept block is `ttl` seconds old. A bounded LRU
(cachetools).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache

__all__ = ["BlockCache", "Marks", "covers", "merged_marks"]

Marks = Mapping[str, int]  # partition mark key -> last offset counted


def merged_marks(marks: Iterable[Marks]) -> dict[str, int]:
    """Per partition, the highest offset any of these documents counted."""
    out: dict[str, int] = {}
    for m in marks:
        for key, offset in m.items():
            if offset > out.get(key, -1):
                out[key] = offset
    return out


def covers(block: Marks, days: Marks) -> bool:
    """Whether a block with marks `block` has counted every event its days
    (whose merged marks are `days`) have."""
    return all(block.get(key, -1) >= offset for key, offset in days.items())


@dataclass(frozen=True)
class _Kept:
    doc: dict[str, Any]
    marks: Marks
    at: float


class BlockCache:
    def __init__(
        self,
        *,
        maxsize: int = 128,
        ttl: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kept: LRUCache[tuple[str, str], _Kept] = LRUCache(maxsize=maxsize)
        self._ttl = ttl
        self._clock = clock

    def get(self, collection: str, block_id: str, days: Marks) -> dict[str, Any] | None:
        """The kept block, if it is current for days with merged marks `days`."""
        key = (collection, block_id)
        kept = self._kept.get(key)
        if kept is None:
            return None
        if self._clock() - kept.at > self._ttl or not covers(kept.marks, days):
            del self._kept[key]
            return None
        return kept.doc

    def put(self, collection: str, block_id: str, doc: dict[str, Any], marks: Marks) -> None:
        self._kept[(collection, block_id)] = _Kept(doc, dict(marks), self._clock())

    def __len__(self) -> int:
        return len(self._kept)
