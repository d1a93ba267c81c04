"""The analytics consumer (the live projector), 1 and then 2 instances on the
6-partition topics: each run is a fresh projection (its own database and
consumer group) over every projected topic from the beginning, next to a bare
aiokafka read of the same records. Its 1-instance run is also analytics' row
in the consumer throughput table."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from drain import bare_read, end_offsets, measure_drain, partitions, store_profile
from processes import Platform

from analytics.projector import PROJECTED_TOPICS, group_for

__all__ = ["run"]


async def _fresh(platform: Platform, instances: int, bare: dict[str, Any]) -> dict[str, Any]:
    bootstrap = platform.stack.kafka_bootstrap
    tps = partitions(PROJECTED_TOPICS)
    start = await end_offsets(bootstrap, tps, beginning=True)
    end = await end_offsets(bootstrap, tps)
    run_id = uuid.uuid4().hex[:8]
    env = {"ANALYTICS_MONGODB_DATABASE": f"analytics_{run_id}"}
    env["KAFKA_CONSUMER_GROUP"] = base = f"bench-analytics-{run_id}"
    keys = [f"analytics-{instances}x-{n}" for n in range(instances)]

    async def launch() -> None:
        await asyncio.gather(
            *(asyncio.to_thread(platform.start, "analytics", key=key, **env) for key in keys)
        )

    try:
        measured = await measure_drain(
            bootstrap,
            group_for(base, 1),
            start,
            end,
            launch,
            [platform.url_for(key) for key in keys],
        )
        store = await store_profile(platform.url(keys[0]), measured["events"] // instances)
    finally:
        for key in keys:
            platform.stop(key)
    ratio = measured["per_s"] / bare["per_s"] if measured["per_s"] and bare["per_s"] else None
    print(f"  analytics x{instances}: {measured} vs bare {bare}", flush=True)
    return {
        "instances": instances,
        "consumer": measured,
        "bare_read": bare,
        "vs_bare": round(ratio, 5) if ratio else None,
        "store": store,
    }


async def run(platform: Platform) -> dict[str, Any]:
    bootstrap = platform.stack.kafka_bootstrap
    tps = partitions(PROJECTED_TOPICS)
    start = await end_offsets(bootstrap, tps, beginning=True)
    bare = await bare_read(bootstrap, start, await end_offsets(bootstrap, tps))
    one = await _fresh(platform, 1, bare)
    two = await _fresh(platform, 2, bare)
    speedup = (
        two["consumer"]["per_s"] / one["consumer"]["per_s"]
        if one["consumer"]["per_s"] and two["consumer"]["per_s"]
        else None
    )
    return {
        "topics": PROJECTED_TOPICS,
        "partitions_per_topic": 6,
        "rows": [one, two],
        "speedup_2_over_1": round(speedup, 2) if speedup else None,
    }
