"""(f) Rebalance: two analytics replicas share one consumer group and one
store; one is killed with SIGKILL in the middle of a stream. The survivor
takes over its partitions and every museum's dashboard totals are exact to
the fen: nothing lost, nothing counted twice."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.analytics.helpers import group_members, live_group, wait_for_totals
from tests.analytics.scenario import Scenario, publish
from tests.conftest import Infra
from tests.reliability.helpers import measured, wait_ready
from tests.support import eventually, unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]

MUSEUMS = 6
CHUNKS = 10
KILL_AFTER = 4  # chunks published before the kill


async def test_killing_one_of_two_analytics_replicas_mid_stream_keeps_totals_exact(
    infra: Infra, run_service: Any
) -> None:
    shared = {
        "ANALYTICS_MONGODB_DATABASE": unique("analytics").replace("-", "_"),
        "KAFKA_CONSUMER_GROUP": unique("analytics"),
    }
    doomed = run_service("analytics", **shared)
    survivor = run_service("analytics", **shared)
    await wait_ready(doomed)
    await wait_ready(survivor)
    bootstrap, group = infra.kafka_bootstrap, live_group(survivor)

    async def members(n: int) -> bool:
        return await group_members(bootstrap, group) == n

    await eventually(lambda: members(2), what="both replicas share the partitions")
    scenarios = [Scenario.scripted_day() for _ in range(MUSEUMS)]
    events = [e for s in scenarios for e in s.all_events()]
    size = -(-len(events) // CHUNKS)
    for n in range(CHUNKS):
        await publish(bootstrap, events[n * size : (n + 1) * size])
        if n == KILL_AFTER:
            doomed.kill()  # kill -9 mid-stream: no commit of what it was handling
            killed = time.monotonic()

    await eventually(lambda: members(1), timeout=120, what="the group noticed the kill")
    for scenario in scenarios:
        payload = await wait_for_totals(survivor, scenario, timeout=120)
        for name, value in scenario.expected_totals().items():
            assert payload["totals"][name] == value, (scenario.museum_id, name)
    measured(
        "rebalance",
        f"{len(events)} events for {MUSEUMS} museums, one of two replicas killed after "
        f"{KILL_AFTER + 1} of {CHUNKS} chunks; all totals exact "
        f"{time.monotonic() - killed:.1f}s after the kill",
    )
