"""Small Kafka look-ups shared by the replay and the overview."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import TopicPartition  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]

__all__ = ["partitions_of"]


async def partitions_of(bootstrap_servers: str, topics: Sequence[str]) -> list[TopicPartition]:
    """Every partition of the topics that exist (a consumer's `topics()` call
    does not load partition metadata, so ask the admin API)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="analytics-admin")
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    return sorted(
        TopicPartition(t["topic"], p["partition"])
        for t in described
        if t["error_code"] == 0
        for p in t["partitions"]
    )
