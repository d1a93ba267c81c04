"""A poll of events folded into one guarded change per document, pure.

The live projector is handed every event of a poll at once (up to a few
hundred, all partitions, each partition's events in order). Each event's
changes (`domain.changes_for`, the same rules a replay and the history loader
fold) are grouped by document, and every document gets ONE update for the
whole batch: its `$inc`s summed, its `$set`s the latest, plus a guard.

Exactly once, without transactions (the store applies it, store.py):

- Per partition, a document keeps a high-water mark: the offset of the last
  event of that partition it counted (`_hwm.<topic>_<partition>`, the field
  of `servicekit.idempotency.hwm_field`). A document's batch update names,
  for each partition it has events from, the FIRST of those offsets: it
  applies only if every such mark is below it (`{_id, mark: {$not: {$gte:
  first}}}`, one document, served by `_id`) and moves each mark to the LAST.
  One document's update is atomic: all of this batch's events for that
  document count, or none do.
- A batch redelivered after a crash between the writes and the commit (or
  re-applied one event at a time after a failure) meets documents whose
  marks already reached its first offsets: their updates refuse (a guarded
  upsert refused collides on `_id`). The store then reads those documents'
  marks (one `$in`) and applies only the events past them (`DocFold.after`).
  The redelivered poll may be longer or shorter than the first one, so a
  document may hold part of its events: a partition's events reach a
  document in offset order (one consumer per partition), so exactly the
  offsets at or below its mark are counted.
- A copy of an event republished at a NEW offset (a relay that crashed
  between publishing and marking sent) passes the marks; only its id tells.
  So the batch's ids are looked up in the seen set (one `$in` read) before
  folding: known ids, and repeats within the batch, are dropped. Copies
  share the original's key, hence its partition, and come after it, so the
  first occurrence kept is the original, whichever poll it arrives in. The
  batch's new ids are recorded (one bulk insert) only after every document
  write: a crash before that leaves the redelivery to the marks.

Instances never double count one another: each partition has one consumer,
and a document's marks are per partition, so two instances updating the same
document (today's platform figures) check disjoint marks.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from analytics.changes import Change, merge
from analytics.domain import changes_for
from contracts.base import Event

__all__ = ["BatchFold", "Delivery", "DocFold", "GuardedChange", "fold_batch", "mark_key"]


class Delivery(Protocol):
    """Where an event was read (servicekit's EventMeta has these)."""

    @property
    def id(self) -> str: ...
    @property
    def time(self) -> datetime: ...
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


def mark_key(topic: str, partition: int) -> str:
    """A partition's mark under `_hwm` (keys may not hold `.`; topics do)."""
    return f"{topic.replace('.', '_')}_{partition}"


@dataclass(frozen=True)
class GuardedChange:
    """One document's merged change and, per partition mark, the first and
    last offsets it covers: applied only while every mark is below its first."""

    change: Change
    marks: dict[str, tuple[int, int]]


@dataclass
class DocFold:
    """Each event's part of one document, in batch order."""

    collection: str
    doc_id: str
    parts: list[tuple[str, int, Change]] = field(default_factory=list)  # mark, offset, change

    def after(self, marks: Mapping[str, int]) -> GuardedChange | None:
        """The merged change of the parts past `marks` (a document's marks as
        stored); None when every part is counted already."""
        kept = [(k, o, c) for k, o, c in self.parts if o > marks.get(k, -1)]
        if not kept:
            return None
        (change,) = merge(c for _, _, c in kept)
        spans: dict[str, tuple[int, int]] = {}
        for key, offset, _ in kept:
            first, last = spans.get(key, (offset, offset))
            spans[key] = (min(first, offset), max(last, offset))
        return GuardedChange(change, spans)


@dataclass(frozen=True)
class BatchFold:
    docs: list[DocFold]  # one per document, in the order first touched
    ids: list[str]  # the ids of the events folded: record as seen after the writes
    skipped: int  # known ids and repeats


def fold_batch(items: Iterable[tuple[Event, Delivery]], seen: Container[str]) -> BatchFold:
    """Every document's parts of a batch, skipping ids in `seen` and repeats."""
    docs: dict[tuple[str, str], DocFold] = {}
    ids: list[str] = []
    taken: set[str] = set()
    skipped = 0
    for event, where in items:
        if where.id in seen or where.id in taken:
            skipped += 1
            continue
        taken.add(where.id)
        ids.append(where.id)
        key = mark_key(where.topic, where.partition)
        for change in changes_for(event, where.time):
            doc = docs.get((change.collection, change.doc_id))
            if doc is None:
                doc = docs[(change.collection, change.doc_id)] = DocFold(
                    change.collection, change.doc_id
                )
            doc.parts.append((key, where.offset, change))
    return BatchFold(list(docs.values()), ids, skipped)
