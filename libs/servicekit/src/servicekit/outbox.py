"""The transactional outbox, without multi-document transactions.

A state change and the events it causes are ONE single-document write: the
events ride inside the aggregate's own document, in the `_outbox` array, and
the relay (servicekit.relay) publishes them and pulls them out once Kafka has
acknowledged them. Order within the array is the order of the aggregate's
events. Payloads are stored as JSON text so no event shape (dots in keys,
nested arrays) can trip the store.
"""

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from contracts import Event
from servicekit.envelope import Envelope
from servicekit.tracing import current_traceparent

__all__ = ["OUTBOX", "PENDING", "envelope_of", "outbox_entry", "push_events"]

OUTBOX = "_outbox"
# matches documents with at least one event still to publish
PENDING: dict[str, Any] = {f"{OUTBOX}.0": {"$exists": True}}


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
    """Add the events to a MongoDB update document, in the same write."""
    if not entries:
        return update
    merged = {op: dict(fields) for op, fields in update.items()}
    merged.setdefault("$push", {})[OUTBOX] = {"$each": entries}
    return merged


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
