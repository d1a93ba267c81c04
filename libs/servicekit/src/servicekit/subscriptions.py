"""What a consumer hands its handlers: an event's metadata, and the two ways
to subscribe (per-event handlers, or one batch handler a poll at a time).
The runner that drives them is servicekit.consumer."""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from aiokafka import ConsumerRecord  # type: ignore[import-untyped]

from contracts import Event
from servicekit.envelope import Envelope

__all__ = [
    "BatchHandler",
    "BatchSubscription",
    "EventMeta",
    "Handler",
    "HandlerRegistry",
    "meta_of",
    "one_at_a_time",
]


@dataclass(frozen=True)
class EventMeta:
    """Where an event came from; `topic/partition/offset` feed high-water marks."""

    id: str
    type: str
    source: str
    subject: str
    time: datetime
    topic: str
    partition: int
    offset: int
    traceparent: str | None = None


Handler = Callable[[Event, EventMeta], Awaitable[None]]
HandlerRegistry = Mapping[type[Event], Sequence[Handler]]
BatchHandler = Callable[[Sequence[tuple[Event, EventMeta]]], Awaitable[None]]


@dataclass(frozen=True)
class BatchSubscription:
    """One handler for every event of these contracts, a poll at a time."""

    contracts: Sequence[type[Event]]
    handle: BatchHandler
    # after a poll's first events, wait this long for more: at a low rate a
    # consumer off the checkout path (a projection) still writes in batches
    linger_ms: int = 0


def one_at_a_time(handle: BatchHandler) -> Handler:
    """A batch handler applied to one event (a split batch's fallback)."""

    async def one(event: Event, meta: EventMeta) -> None:
        await handle([(event, meta)])

    return one


def meta_of(envelope: Envelope, record: ConsumerRecord, traceparent: str | None) -> EventMeta:
    return EventMeta(
        id=envelope.id,
        type=envelope.type,
        source=envelope.source,
        subject=envelope.subject,
        time=envelope.time,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        traceparent=traceparent,
    )
