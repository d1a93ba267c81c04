"""The consumer runner: batches, effects, then commits.

- `getmany` batches; offsets are committed manually, only after the effects.
- On a rebalance the offsets processed so far are committed before the
  partitions go (`on_partitions_revoked`).
- A handler failing with a transient infrastructure error (the store is down)
  is retried with backoff for as long as it takes: that message is fine, the
  world is not. Any other failure is retried a few times, then the message
  goes to `<topic>.dlq` with the error in its headers and the runner carries
  on with the next one.
- `stop()` is graceful (finish the message in hand, commit, leave the group).
  Cancelling the task instead is a crash: nothing more is committed, and the
  messages since the last commit are delivered again.

Handlers are idempotent (servicekit.idempotency), so redelivery is harmless.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from aiokafka import (  # type: ignore[import-untyped]
    AIOKafkaConsumer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.errors import CommitFailedError, KafkaError  # type: ignore[import-untyped]
from cloudevents.core.bindings.kafka import KafkaMessage
from pydantic import ValidationError
from pymongo.errors import AutoReconnect, ConnectionFailure, ExecutionTimeout, NetworkTimeout

from contracts import Event, dlq_topic
from servicekit.bus import Publisher
from servicekit.envelope import Envelope, MalformedEvent, decode
from servicekit.errors import Unavailable
from servicekit.metrics import CONSUMER_LAG, EVENTS_CONSUMED, EVENTS_FAILED
from servicekit.tracing import child_of, traceparent_var

__all__ = ["EventMeta", "Handler", "HandlerRegistry", "ConsumerRunner", "TRANSIENT_ERRORS"]

log = logging.getLogger(__name__)

# the store or broker is unreachable, or a handler lost a race and says so
# (Unavailable): retry forever, never dead-letter
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    Unavailable,
    AutoReconnect,
    ConnectionFailure,
    NetworkTimeout,
    ExecutionTimeout,
    KafkaError,
)


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


Handler = Callable[[Event, EventMeta], Awaitable[None]]
HandlerRegistry = Mapping[type[Event], Sequence[Handler]]


class _Interrupted(Exception):
    """Stopping while a message still fails transiently: leave it uncommitted."""


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: "ConsumerRunner") -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._runner._commit(only=revoked)
        # not ours any more: whatever did not commit, the new owner re-applies
        for tp in revoked:
            self._runner._processed.pop(tp, None)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        pass


class ConsumerRunner:
    def __init__(
        self,
        *,
        bootstrap_servers: str,
        group_id: str,
        topics: Sequence[str],
        handlers: HandlerRegistry,
        dead_letters: Publisher,
        max_attempts: int = 3,
        backoff: float = 0.1,
        max_backoff: float = 5.0,
        batch_size: int = 200,
        client_id: str | None = None,
    ) -> None:
        self.group_id = group_id
        self.topics = list(topics)
        self._bootstrap = bootstrap_servers
        self._client_id = client_id or group_id
        self._handlers = {cls.TYPE: (cls, list(hs)) for cls, hs in handlers.items()}
        self._dead_letters = dead_letters
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._batch_size = batch_size
        self._consumer: AIOKafkaConsumer | None = None
        self._processed: dict[TopicPartition, int] = {}  # next offset to commit
        self._stopping = asyncio.Event()
        self.started = asyncio.Event()

    async def run(self) -> None:
        """Run until stop(); starting waits for Kafka if it is down."""
        consumer = await self._start()
        if consumer is None:
            return
        try:
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=500, max_records=self._batch_size)
                # partitions in parallel (a replica already runs beside others),
                # each partition's records in order
                await asyncio.gather(
                    *(self._handle_partition(tp, records) for tp, records in batches.items())
                )
                await self._commit()
                await self._record_lag(consumer)
        except asyncio.CancelledError:
            # a crash: leave without committing what is in flight
            self._processed.clear()
            await asyncio.shield(consumer.stop())
            raise
        await self._commit()
        await consumer.stop()

    async def stop(self) -> None:
        self._stopping.set()

    async def _handle_partition(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        for record in records:
            if self._stopping.is_set() or not self._owns(tp):
                return  # a partition revoked mid-batch: its new owner takes over
            try:
                await self._handle(record)
            except _Interrupted:
                return  # not processed: delivered again after restart
            self._processed[tp] = record.offset + 1

    async def _start(self) -> AIOKafkaConsumer | None:
        delay = self._backoff
        while not self._stopping.is_set():
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap,
                group_id=self.group_id,
                client_id=self._client_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                isolation_level="read_committed",
            )
            try:
                await consumer.start()
            except KafkaError as exc:
                await consumer.stop()
                log.warning("consumer waiting for Kafka: %s", exc, extra={"group": self.group_id})
                await self._sleep(delay)
                delay = min(delay * 2, self._max_backoff)
                continue
            consumer.subscribe(self.topics, listener=_CommitOnRevoke(self))
            self._consumer = consumer
            self.started.set()
            return consumer
        return None

    async def _handle(self, record: ConsumerRecord) -> None:
        try:
            envelope = decode(record.key, record.value, list(record.headers or ()))
        except MalformedEvent as exc:
            await self._dead_letter(record, exc, attempts=1)
            return
        registered = self._handlers.get(envelope.type)
        if registered is None:
            return  # another consumer's event on a shared topic
        contract, handlers = registered
        try:
            event = contract.model_validate(envelope.data)
        except ValidationError as exc:  # a broken payload never gets better
            await self._dead_letter(record, exc, attempts=1)
            return
        meta = _meta(envelope, record)
        token = traceparent_var.set(child_of(envelope.traceparent))
        try:
            await self._run_handlers(record, event, meta, handlers)
        finally:
            traceparent_var.reset(token)

    async def _run_handlers(
        self, record: ConsumerRecord, event: Event, meta: EventMeta, handlers: list[Handler]
    ) -> None:
        attempts, delay = 0, self._backoff
        while True:
            try:
                for handler in handlers:
                    await handler(event, meta)
                EVENTS_CONSUMED.labels(record.topic, meta.type).inc()
                return
            except TRANSIENT_ERRORS as exc:
                log.warning("transient failure, retrying: %s", exc, extra={"event_id": meta.id})
            except Exception as exc:
                attempts += 1
                if attempts >= self._max_attempts:
                    await self._dead_letter(record, exc, attempts)
                    return
                log.warning("handler failed, retrying: %r", exc, extra={"event_id": meta.id})
            EVENTS_FAILED.labels(record.topic, "retried").inc()
            await self._sleep(delay)
            delay = min(delay * 2, self._max_backoff)
            if self._stopping.is_set():
                raise _Interrupted

    async def _dead_letter(self, record: ConsumerRecord, exc: Exception, attempts: int) -> None:
        headers = dict(record.headers or ())
        headers.update(
            {
                "dlq_error": str(exc)[:2000].encode(),
                "dlq_error_type": type(exc).__name__.encode(),
                "dlq_attempts": str(attempts).encode(),
                "dlq_topic": record.topic.encode(),
                "dlq_partition": str(record.partition).encode(),
                "dlq_offset": str(record.offset).encode(),
                "dlq_group": self.group_id.encode(),
            }
        )
        message = KafkaMessage(headers=headers, key=record.key, value=record.value or b"")
        delay = self._backoff
        while True:  # the message must reach the DLQ before its offset is committed
            try:
                await self._dead_letters.publish(dlq_topic(record.topic), [message])
                break
            except Exception as dlq_exc:
                log.warning("dead-letter publish failed: %s", dlq_exc)
                await self._sleep(delay)
                delay = min(delay * 2, self._max_backoff)
        EVENTS_FAILED.labels(record.topic, "dead_lettered").inc()
        log.error(
            "dead-lettered %s/%s@%s: %s",
            record.topic,
            record.partition,
            record.offset,
            exc,
            extra={"error_type": type(exc).__name__},
        )

    async def _commit(self, only: set[TopicPartition] | None = None) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        # Kafka refuses a commit naming a partition no longer ours (revoked while
        # its batch was still being handled): drop those, their owner re-applies
        for tp in [tp for tp in self._processed if not self._owns(tp)]:
            del self._processed[tp]
        offsets = {
            tp: offset for tp, offset in self._processed.items() if only is None or tp in only
        }
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # a rebalance under way: kept, and committed next round for the
            # partitions still ours (an idle partition would otherwise never
            # commit and show lag forever); revoked ones are dropped on revoke
            log.warning("commit failed: %s", exc, extra={"group": self.group_id})
            return
        for tp in offsets:
            if self._processed.get(tp) == offsets[tp]:
                del self._processed[tp]

    def _owns(self, tp: TopicPartition) -> bool:
        return self._consumer is not None and tp in self._consumer.assignment()

    async def _record_lag(self, consumer: AIOKafkaConsumer) -> None:
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            if end is not None:
                lag = max(end - await consumer.position(tp), 0)
                CONSUMER_LAG.labels(self.group_id, tp.topic, tp.partition).set(lag)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass


def _meta(envelope: Envelope, record: ConsumerRecord) -> EventMeta:
    return EventMeta(
        id=envelope.id,
        type=envelope.type,
        source=envelope.source,
        subject=envelope.subject,
        time=envelope.time,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
    )
