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

Batches: a runner built with `batch=BatchSubscription(...)` hands its handler
every event of a poll at once (all partitions; each partition's events in
order), so the service can fold them in memory and write each collection
once. A batch failing with a transient error is retried whole, for as long
as it takes; any other failure splits it: each event is then handled alone
(retried, and dead-lettered on its own if it still fails), so one poison
event costs its batch one slower round and loses nothing around it. The
offsets are committed only after the batch's effects. Redelivery of a whole
batch (a crash between its writes and the commit) must change nothing: the
handler's writes are keyed on event ids or high-water marks.

Why not FastStream (batch subscribers over aiokafka, AsyncAPI): its batch
handler acknowledges or rejects a poll as a whole, so isolating a poison
event, dead-lettering it with its error and committing only after the
effects would still be this module's code, beside a second framework's
lifecycle; the AsyncAPI document is already generated from the contracts
(`make asyncapi`). This runner is ~300 lines with its proofs in
tests/integration and tests/reliability.
"""

import asyncio
import logging
from collections.abc import Sequence

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
from servicekit.envelope import MalformedEvent, decode
from servicekit.errors import Unavailable
from servicekit.metrics import CONSUMER_LAG, EVENTS_CONSUMED, EVENTS_FAILED
from servicekit.subscriptions import (
    BatchHandler,
    BatchSubscription,
    EventMeta,
    Handler,
    HandlerRegistry,
    meta_of,
    one_at_a_time,
)
from servicekit.tracing import child_of, traceparent_var

__all__ = [
    "TRANSIENT_ERRORS",
    "BatchHandler",
    "BatchSubscription",
    "ConsumerRunner",
    "EventMeta",
    "Handler",
    "HandlerRegistry",
]

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
        dead_letters: Publisher,
        handlers: HandlerRegistry | None = None,
        batch: BatchSubscription | None = None,
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
        if (handlers is None) == (batch is None):
            raise ValueError("give either per-event handlers or one batch subscription")
        self._batch = batch
        if batch is not None:
            handlers = {cls: [one_at_a_time(batch.handle)] for cls in batch.contracts}
        assert handlers is not None
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
                if self._batch is not None and self._batch.linger_ms and batches:
                    batches = await self._linger(consumer, batches, self._batch.linger_ms)
                if self._batch is not None:
                    await self._handle_batch(batches)
                else:
                    # partitions in parallel (a replica already runs beside
                    # others), each partition's records in order
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

    async def _linger(
        self,
        consumer: AIOKafkaConsumer,
        batches: dict[TopicPartition, list[ConsumerRecord]],
        linger_ms: int,
    ) -> dict[TopicPartition, list[ConsumerRecord]]:
        """The poll's records and what arrives within `linger_ms` after it,
        up to the batch size (each partition's records in offset order)."""
        merged = {tp: list(records) for tp, records in batches.items()}
        room = self._batch_size - sum(len(records) for records in merged.values())
        deadline = asyncio.get_running_loop().time() + linger_ms / 1000
        while room > 0 and not self._stopping.is_set():
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            # returns as soon as anything is fetched: poll again until the deadline
            more = await consumer.getmany(timeout_ms=int(left * 1000) + 1, max_records=room)
            for tp, records in more.items():
                merged.setdefault(tp, []).extend(records)
                room -= len(records)
        return merged

    async def _handle_partition(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        for record in records:
            if self._stopping.is_set() or not self._owns(tp):
                return  # a partition revoked mid-batch: its new owner takes over
            try:
                await self._handle(record)
            except _Interrupted:
                return  # not processed: delivered again after restart
            self._processed[tp] = record.offset + 1

    async def _handle_batch(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        assert self._batch is not None
        items: list[tuple[ConsumerRecord, Event, EventMeta]] = []
        for records in batches.values():
            for record in records:
                decoded = await self._decode(record)
                if decoded is not None:
                    items.append((record, *decoded))
        try:
            if items:
                await self._run_batch(items)
        except _Interrupted:
            return  # nothing marked processed: the whole poll comes again
        for tp, records in batches.items():
            if records and self._owns(tp):
                self._processed[tp] = records[-1].offset + 1

    async def _run_batch(self, items: list[tuple[ConsumerRecord, Event, EventMeta]]) -> None:
        assert self._batch is not None
        delay = self._backoff
        while True:
            try:
                await self._batch.handle([(event, meta) for _, event, meta in items])
                for record, _, meta in items:
                    EVENTS_CONSUMED.labels(record.topic, meta.type).inc()
                return
            except TRANSIENT_ERRORS as exc:
                log.warning("transient failure, retrying the batch: %s", exc)
            except Exception as exc:
                log.warning("a batch of %d failed (%r): one event at a time", len(items), exc)
                for record, event, meta in items:  # a poison event alone goes to the DLQ
                    await self._run_handlers(record, event, meta, self._handlers[meta.type][1])
                return
            await self._sleep(delay)
            delay = min(delay * 2, self._max_backoff)
            if self._stopping.is_set():
                raise _Interrupted

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

    async def _decode(self, record: ConsumerRecord) -> tuple[Event, EventMeta] | None:
        """The record's event, or None: dead-lettered, or not one of ours."""
        try:
            envelope = decode(record.key, record.value, list(record.headers or ()))
        except MalformedEvent as exc:
            await self._dead_letter(record, exc, attempts=1)
            return None
        registered = self._handlers.get(envelope.type)
        if registered is None:
            return None  # another consumer's event on a shared topic
        try:
            event = registered[0].model_validate(envelope.data)
        except ValidationError as exc:  # a broken payload never gets better
            await self._dead_letter(record, exc, attempts=1)
            return None
        return event, meta_of(envelope, record, traceparent=envelope.traceparent)

    async def _handle(self, record: ConsumerRecord) -> None:
        decoded = await self._decode(record)
        if decoded is None:
            return
        event, meta = decoded
        token = traceparent_var.set(child_of(meta.traceparent))
        try:
            await self._run_handlers(record, event, meta, self._handlers[meta.type][1])
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
