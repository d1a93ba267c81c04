"""Two ip replicas (one database, one consumer group) fed through real Kafka:
every sale on one tiered license is posted once, in one unbroken chain."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

import pytest

from servicekit.auth import Role
from tests.ip.conftest import Feed, Ip, order_paid, token
from tests.support import ServiceProcess, eventually, unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]


async def test_two_replicas_post_each_sale_once_in_one_chain(infra, run_service) -> None:
    shared = {
        "IP_MONGODB_DATABASE": unique("ip_shared").replace("-", "_"),
        "KAFKA_CONSUMER_GROUP": unique("ip-shared"),
        "IP_SCHEDULER_INTERVAL_S": "0.5",
        "IP_CLOSE_GRACE_S": "0.1",
    }
    replicas: list[ServiceProcess] = [run_service("ip", **shared), run_service("ip", **shared)]
    feed = Feed(infra.kafka_bootstrap)
    first, second = (Ip(r, feed) for r in replicas)
    for replica in (first, second):

        async def ready(r: Ip = replica) -> bool:
            return (await r.get("/readyz")).status_code == 200

        await eventually(ready, timeout=60, what="replica ready")

    museum, licensee = unique("museum"), unique("licensee")
    await first.museum(museum)
    relic = await first.relic(museum)
    license_id = await first.license(
        museum,
        licensee,
        relic,
        terms={"rate_bps": 1000, "tiers": [{"threshold": 10, "rate_bps": 2000}]},
    )
    now = datetime.now(UTC)
    events = [
        order_paid(
            unique("order"),
            license_id,
            licensee,
            relic,
            museum,
            quantity=1,
            unit_price_fen=1000,
            paid_at=now,
        )
        for _ in range(16)
    ]
    envelopes = await feed.events(*events)
    await feed.send(*envelopes)  # every event twice

    async def all_posted() -> bool:
        ledger = await second.get(f"/holders/{museum}/ledger")
        return len(ledger.json()["postings"]) == len(events)

    await eventually(all_posted, timeout=60, what="every sale posted")
    postings = (await first.get(f"/holders/{museum}/ledger")).json()["postings"]
    # units 0..9 at 10 % (100 fen), units 10..15 at 20 % (200 fen)
    assert sum(p["royalty_fen"] for p in postings) == 10 * 100 + 6 * 200
    assert await first.balance(museum) == 10 * 100 + 6 * 200
    assert await second.trial_total() == 0
    as_licensee = token(Role.LICENSEE, licensee_id=licensee)
    payables = await second.get(f"/licensees/{licensee}/payables", as_licensee)
    assert payables.json()["balance"]["balance_fen"] == 2200


async def test_a_crash_mid_stream_then_restart_posts_every_sale_once(infra, run_service) -> None:
    process = run_service("ip", IP_SCHEDULER_INTERVAL_S="0.5", IP_CLOSE_GRACE_S="0.1")
    ip = Ip(process, Feed(infra.kafka_bootstrap))

    async def ready() -> bool:
        return (await ip.get("/readyz")).status_code == 200

    await eventually(ready, timeout=60, what="ip ready")
    museum, donor, licensee = unique("museum"), unique("donor"), unique("licensee")
    await ip.museum(museum)
    relic = await ip.relic(museum, donor_id=donor)
    license_id = await ip.license(museum, licensee, relic)
    now = datetime.now(UTC)
    events = [
        order_paid(
            unique("order"),
            license_id,
            licensee,
            relic,
            museum,
            quantity=1 + i % 4,
            unit_price_fen=1234,
            paid_at=now,
        )
        for i in range(40)
    ]
    await ip.feed.events(*events)

    async def some_posted() -> bool:
        return len((await ip.get(f"/holders/{museum}/ledger")).json()["postings"]) > 0

    await eventually(some_posted, timeout=30, what="postings under way")
    process.kill()  # kill -9: whatever was processed since the last commit comes again
    process.start()
    await eventually(ready, timeout=60, what="ip ready again")

    async def all_posted() -> bool:
        return len((await ip.get(f"/holders/{museum}/ledger")).json()["postings"]) == len(events)

    await eventually(all_posted, timeout=60, what="every sale posted after the restart")
    royalty = sum(round(Fraction(e.total_fen * 1000, 10_000)) for e in events)  # half-even
    assert await ip.balance(museum) + await ip.balance(donor) == royalty
    assert await ip.trial_total() == 0
