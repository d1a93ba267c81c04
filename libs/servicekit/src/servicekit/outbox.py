"""The transactional outbox, without multi-document transactions.

A state change and the events it causes are ONE single-document write: the
events ride inside the aggregate's own document, in the `_outbox` array, and
the relay (servicekit.relay) publishes them and pulls them out once Kafka has
acknowledged them. Order within the array is the order of the aggregate's
events. Payloads are stored as JSON text so no event shape (dots in keys,
nested arrays) can trip the store.

Pending markers keep the relay's sweep bounded by what is pending, not by
history. Before a write that adds events, `mark_pending` counts one more
pending write on a marker document in the same database
(`outbox_pending`, `_id` = "<collection>:<document id>"); the write itself
counts one more on the document (`_outbox_marks`, which `push_events` and
`attach_events` add). So the marker's count minus the document's is the
number of marked writes that have not landed. The relay, having published
the events it read with the document's count `n` and pulled them out,
takes `n` off both counts (the document's in the same update as the pull)
and drops the marker only when its count is down to zero: every marked
write had landed before that read, and its events went out. A crash
between a marker and its write leaves a marker the sweep finds; one whose
write never landed (it failed, or its writer died) is dropped after a
grace period without new marks.
"""

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from contracts import Event
from servicekit.envelope import Envelope
from servicekit.queries import BOUNDED
from servicekit.tracing import current_traceparent

__all__ = [
    "MARKERS",
    "MARKS",
    "OUTBOX",
    "PENDING",
    "attach_events",
    "envelope_of",
    "mark_pending",
    "marker_id",
    "outbox_entry",
    "push_events",
]

OUTBOX = "_outbox"
MARKS = "_outbox_marks"  # on a document: how many writes gave it events
MARKERS = "outbox_pending"  # per database: documents with writes pending relay
BOUNDED.add(MARKERS)
# matches documents with at least one event still to publish (a scan: tests
# and benchmarks only; the relay reads the markers)
PENDING: dict[str, Any] = {f"{OUTBOX}.0": {"$exists": True}}


def marker_id(collection: str, doc_id: Any) -> str:
    return f"{collection}:{doc_id}"


async def mark_pending(collection: AsyncCollection[dict[str, Any]], *doc_ids: Any) -> None:
    """Announce, before writing them, that these documents of `collection`
    are about to get events: one bulk write of markers (by `_id`)."""
    if not doc_ids:
        return
    now = datetime.now(UTC)
    await collection.database[MARKERS].bulk_write(
        [
            UpdateOne(
                {"_id": marker_id(collection.name, doc_id)},
                {
                    "$inc": {"marks": 1},
                    "$set": {"at": now},
                    "$setOnInsert": {"collection": collection.name, "doc_id": doc_id},
                },
                upsert=True,
            )
            for doc_id in dict.fromkeys(doc_ids)
        ],
        ordered=False,
    )


def outbox_entry(event: Event, *, source: str, event_id: str | None = None) -> dict[str, Any]:
    """The document stored in `_outbox` for one event.

    `event_id` may be derived from a cause (an incoming event id) so that a
    redelivered cause produces the same outgoing id, not a second event."""
    return {
        "id": event_id or str(uuid.uuid4()),
        "topic": event.TOPIC,
        "type": event.TYPE,
        "source": source,
        "subject": event.aggregate_id,
        "time": datetime.now(UTC),
        "data": event.model_dump_json(),
        "traceparent": current_traceparent(),
    }


def push_events(update: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Add the events to a MongoDB update document, in the same write (after
    `mark_pending`)."""
    if not entries:
        return update
    merged = {op: dict(fields) for op, fields in update.items()}
    merged.setdefault("$push", {})[OUTBOX] = {"$each": entries}
    merged.setdefault("$inc", {})[MARKS] = 1
    return merged


def attach_events(doc: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """A document to insert, carrying its first events (after `mark_pending`)."""
    if not entries:
        return doc
    return {**doc, OUTBOX: entries, MARKS: 1}


def envelope_of(entry: dict[str, Any]) -> Envelope:
    time = entry["time"]
    if time.tzinfo is None:
        time = time.replace(tzinfo=UTC)
    return Envelope(
        id=entry["id"],
        type=entry["type"],
        source=entry["source"],
        subject=entry["subject"],
        time=time,
        data=json.loads(entry["data"]),
        traceparent=entry.get("traceparent"),
    )
