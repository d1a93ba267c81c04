"""Publishing to Kafka: an idempotent producer (acks=all) behind a small seam.

Nothing in a service publishes directly: the outbox relay and the dead-letter
path are the only callers.
"""

import asyncio
from collections.abc import Sequence
from typing import Protocol

from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]
from cloudevents.core.bindings.kafka import KafkaMessage

from servicekit.metrics import EVENTS_PUBLISHED

__all__ = ["KafkaPublisher", "Publisher"]


class Publisher(Protocol):
    async def publish(self, topic: str, messages: Sequence[KafkaMessage]) -> None:
        """Publish in order; return only when every message is acknowledged."""

    async def ready(self) -> bool: ...


class KafkaPublisher:
    """Starts lazily and restarts after failures, so a service can boot and
    accept writes while the broker is down."""

    def __init__(self, bootstrap_servers: str, client_id: str) -> None:
        self._bootstrap = bootstrap_servers
        self._client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _ensure_started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._bootstrap,
                    client_id=self._client_id,
                    enable_idempotence=True,
                    acks="all",
                    request_timeout_ms=10_000,
                )
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def publish(self, topic: str, messages: Sequence[KafkaMessage]) -> None:
        producer = await self._ensure_started()
        headers = [[(k, v) for k, v in m.headers.items()] for m in messages]
        try:
            # send() queues in order; the idempotent producer keeps that order
            # on the partition even across its internal retries.
            futures = [
                await producer.send(topic, value=m.value, key=_key(m.key), headers=h)
                for m, h in zip(messages, headers, strict=True)
            ]
            await asyncio.gather(*futures)
        except Exception:
            await self._reset()
            raise
        EVENTS_PUBLISHED.labels(topic).inc(len(messages))

    async def ready(self) -> bool:
        try:
            producer = await asyncio.wait_for(self._ensure_started(), 3)
            await asyncio.wait_for(producer.client.fetch_all_metadata(), 2)
        except Exception:
            return False
        return True

    async def _reset(self) -> None:
        async with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def stop(self) -> None:
        await self._reset()


def _key(key: str | bytes | None) -> bytes | None:
    return key.encode() if isinstance(key, str) else key
