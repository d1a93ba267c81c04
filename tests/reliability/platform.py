"""The whole platform for the fault scenarios under load: catalog, orders, ip
and analytics as real uvicorn processes on real Kafka and the real store,
started once per module (each scenario sells its own licensed product), and
the checkout capacity the load is derived from."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]

from analytics.projector import PROJECTED_TOPICS
from contracts.orders import OrderPaid
from tests.conftest import Infra
from tests.reliability.helpers import orders_overrides, wait_ready
from tests.support import ROOT, ServiceProcess, topic_partitions

__all__ = ["CAPACITY_FILE", "SERVICES", "Platform", "bench_capacity", "group_caught_up"]

SERVICES = ("catalog", "orders", "ip", "analytics")
CAPACITY_FILE = ROOT / "docs" / "bench" / "capacity.json"  # written by `make bench`


@dataclass
class Platform:
    infra: Infra
    services: dict[str, ServiceProcess]

    @classmethod
    def start(cls, infra: Infra) -> Platform:
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
            "MONGODB_URL": infra.mongodb_url,
            "ENVIRONMENT": "test",
        }
        extra = {
            "orders": orders_overrides(infra),
            "ip": {"IP_SCHEDULER_INTERVAL_S": "0.5", "IP_CLOSE_GRACE_S": "0.1"},
        }
        services: dict[str, ServiceProcess] = {}
        try:
            for name in SERVICES:
                services[name] = ServiceProcess(name, {**env, **extra.get(name, {})})
        except BaseException:
            for process in services.values():
                process.stop()
            raise
        platform = cls(infra, services)
        asyncio.run(platform.ready())
        return platform

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.services[name]

    async def ready(self) -> None:
        await asyncio.gather(*(wait_ready(p) for p in self.services.values()))

    def heal(self) -> None:
        """Start again whatever an earlier, failed scenario left dead."""
        for process in self.services.values():
            if process.process is None or process.process.poll() is not None:
                process.start()

    def stop(self) -> None:
        for process in self.services.values():
            process.stop()

    def groups(self) -> dict[str, tuple[str, list[str]]]:
        """The consumer groups whose effects a scenario checks, and their topics."""
        group = {name: p.env["KAFKA_CONSUMER_GROUP"] for name, p in self.services.items()}
        return {
            "catalog": (group["catalog"], [OrderPaid.TOPIC]),
            "ip": (group["ip"], [OrderPaid.TOPIC]),
            # analytics' live projector joins `<group>-v<projection version>`
            "analytics": (f"{group['analytics']}-v1", PROJECTED_TOPICS),
        }


def bench_capacity(path: Path = CAPACITY_FILE) -> float | None:
    """`confirmed_per_s` from the bench's capacity file, if there is one."""
    try:
        rate = float(json.loads(path.read_text())["confirmed_per_s"])
    except (FileNotFoundError, KeyError, TypeError, ValueError):
        return None
    return rate if rate > 0 else None


async def group_caught_up(bootstrap: str, group: str, topics: list[str]) -> bool:
    """The group has committed everything the topics hold now."""
    partitions = await topic_partitions(bootstrap, topics)
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await probe.start()
    try:
        starts = await probe.beginning_offsets(partitions)
        ends = await probe.end_offsets(partitions)
    finally:
        await probe.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return all(
        ends[tp] <= starts[tp] or (tp in committed and committed[tp].offset >= ends[tp])
        for tp in partitions
    )
