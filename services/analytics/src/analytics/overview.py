"""What the operator overview reads from Kafka itself.

- events/s per topic: the growth of the topic's end offsets between samples
  taken by a background loop;
- consumer lag per group and topic: end offsets minus the group's committed
  offsets (every group on the cluster, so every service);
- dead letters per topic: the size of each `<topic>.dlq`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]
from aiokafka.errors import KafkaError  # type: ignore[import-untyped]

from analytics.kafka import partitions_of
from contracts import TOPICS, dlq_topic
from servicekit.app import Runtime
from servicekit.errors import Unavailable

__all__ = ["GroupLag", "KafkaMonitor", "KafkaSnapshot", "TopicRate"]

log = logging.getLogger(__name__)

_ALL = [*TOPICS, *(dlq_topic(t) for t in TOPICS)]


@dataclass(frozen=True)
class TopicRate:
    topic: str
    end_offset: int  # summed over partitions
    events_per_second: float | None  # None until two samples exist


@dataclass(frozen=True)
class GroupLag:
    group: str
    service: str
    topic: str
    committed: int
    lag: int


@dataclass(frozen=True)
class KafkaSnapshot:
    topics: list[TopicRate]
    lags: list[GroupLag]
    dead_letters: dict[str, int]  # source topic -> messages in its DLQ


@dataclass(frozen=True)
class _Sample:
    at: float
    ends: dict[TopicPartition, int]
    begins: dict[TopicPartition, int]


def service_of(group: str) -> str:
    """`orders`, `orders-3f2a1b`, `analytics-ab12-v3` -> the service's name."""
    return group.split("-", 1)[0]


class KafkaMonitor:
    def __init__(
        self, bootstrap_servers: str, *, sample_seconds: float, window_seconds: float = 60
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._sample_seconds = sample_seconds
        self._window = window_seconds
        self._samples: deque[_Sample] = deque()
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._done = asyncio.Event()

    async def run(self, _runtime: Runtime) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    await self.sample()
                except (KafkaError, OSError) as exc:
                    log.warning("overview sample failed: %s", exc)
                    await self._reset()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._sample_seconds)
        finally:
            await self._reset()
            self._done.set()

    async def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._done.wait(), 10)

    async def _ensure(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, client_id="overview")
            try:
                await consumer.start()
            except BaseException:
                await consumer.stop()
                raise
            self._consumer = consumer
        return self._consumer

    async def _reset(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def sample(self) -> _Sample:
        async with self._lock:
            consumer = await self._ensure()
            if not self._partitions:
                self._partitions = await partitions_of(self._bootstrap, _ALL)
            partitions = self._partitions
            ends = await consumer.end_offsets(partitions)
            begins = await consumer.beginning_offsets(partitions)
            sample = _Sample(time.monotonic(), dict(ends), dict(begins))
            self._samples.append(sample)
            while len(self._samples) > 2 and sample.at - self._samples[0].at > self._window:
                self._samples.popleft()
            return sample

    async def snapshot(self) -> KafkaSnapshot:
        try:
            return await self._snapshot()
        except (KafkaError, OSError) as exc:
            await self._reset()
            raise Unavailable(f"Kafka does not answer: {exc}") from exc

    async def _snapshot(self) -> KafkaSnapshot:
        latest = await self.sample()
        oldest = self._samples[0]
        span = latest.at - oldest.at
        topics = []
        for topic in TOPICS:
            end = _total(latest.ends, topic)
            rate = (end - _total(oldest.ends, topic)) / span if span > 0.5 else None
            topics.append(TopicRate(topic, end, None if rate is None else round(rate, 3)))
        dead_letters = {
            topic: _total(latest.ends, dlq_topic(topic)) - _total(latest.begins, dlq_topic(topic))
            for topic in TOPICS
        }
        return KafkaSnapshot(topics, await self._lags(latest), dead_letters)

    async def _lags(self, sample: _Sample) -> list[GroupLag]:
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, client_id="overview-admin")
        await admin.start()
        try:
            groups = sorted(g[0] for g in await admin.list_consumer_groups())
            lags: list[GroupLag] = []
            for group in groups:
                offsets = await admin.list_consumer_group_offsets(group)
                committed = {tp: m.offset for tp, m in offsets.items() if m.offset >= 0}
                topics = sorted({tp.topic for tp in committed if tp.topic in TOPICS})
                for topic in topics:
                    # a partition the group never committed on starts at its beginning
                    positions = {
                        tp: committed.get(tp, sample.begins.get(tp, 0))
                        for tp in sample.ends
                        if tp.topic == topic
                    }
                    lag = sum(max(sample.ends[tp] - pos, 0) for tp, pos in positions.items())
                    lags.append(
                        GroupLag(group, service_of(group), topic, sum(positions.values()), lag)
                    )
            return lags
        finally:
            await admin.close()


def _total(offsets: dict[TopicPartition, int], topic: str) -> int:
    return sum(offset for tp, offset in offsets.items() if tp.topic == topic)
