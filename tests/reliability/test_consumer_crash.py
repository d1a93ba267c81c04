"""(b) Consumer crash: ip is killed with SIGKILL while a stream of paid orders
is still being published, and restarted on the same database and consumer
group. Every licensed line is accrued exactly once: none lost, none doubled."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import pytest

from contracts.orders import OrderPaid
from servicekit.auth import Role
from servicekit.bus import KafkaPublisher
from servicekit.envelope import encode
from tests.conftest import Infra
from tests.ip.conftest import Feed, Ip, envelope, order_paid, token
from tests.orders.helpers import caught_up
from tests.reliability.helpers import measured, wait_ready
from tests.support import eventually, unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]

SALES = 60
REDELIVERED = 10  # the first sales' events published a second time, same event ids


async def test_kill_9_of_ip_mid_stream_loses_and_doubles_no_royalty(
    infra: Infra, run_service: Any
) -> None:
    process = run_service("ip", IP_SCHEDULER_INTERVAL_S="0.5", IP_CLOSE_GRACE_S="0.1")
    ip = Ip(process, Feed(infra.kafka_bootstrap))
    await wait_ready(process)
    museum, donor, licensee = unique("museum"), unique("donor"), unique("licensee")
    await ip.museum(museum)
    relic = await ip.relic(museum, donor_id=donor)
    license_id = await ip.license(museum, licensee, relic)  # 10 %
    now = datetime.now(UTC)
    sales: list[OrderPaid] = [
        order_paid(
            unique("order"),
            license_id,
            licensee,
            relic,
            museum,
            quantity=1 + i % 5,
            unit_price_fen=1_299 + i,
            paid_at=now,
        )
        for i in range(SALES)
    ]
    envelopes = [envelope(sale) for sale in sales]
    published = 0
    resume = asyncio.Event()

    async def stream() -> None:
        """One paid order at a time, as orders' relay would send them."""
        nonlocal published
        publisher = KafkaPublisher(infra.kafka_bootstrap, "reliability-crash")
        try:
            for env in [*envelopes, *envelopes[:REDELIVERED]]:
                await publisher.publish(OrderPaid.TOPIC, [encode(env)])
                published += 1
                if published == SALES // 2:
                    await resume.wait()  # the rest goes out while ip is down
        finally:
            await publisher.stop()

    async def postings() -> list[dict[str, Any]]:
        response = await ip.get(f"/holders/{museum}/ledger")
        assert response.status_code == 200, response.text
        return list(response.json()["postings"])

    streaming = asyncio.create_task(stream())
    try:

        async def under_way() -> bool:
            return len(await postings()) >= 10

        await eventually(under_way, timeout=60, what="ip posting the stream")
        posted_at_kill = len(await postings())
        process.kill()  # kill -9: no graceful stop, no final offset commit
        published_at_kill = published
        resume.set()
        await asyncio.wait_for(asyncio.shield(streaming), timeout=60)  # all out while ip is down
        killed = time.monotonic()
        process.start()
        await wait_ready(process)
        ready_in = time.monotonic() - killed

        async def all_posted() -> bool:
            return len(await postings()) >= SALES

        await eventually(all_posted, timeout=90, what="every sale posted after the restart")
        caught_up_in = time.monotonic() - killed
        # and nothing is still in flight: the group committed the whole topic
        await caught_up(infra.kafka_bootstrap, process.env["KAFKA_CONSUMER_GROUP"], OrderPaid.TOPIC)
    finally:
        resume.set()
        await streaming

    found = await postings()
    by_order = Counter(p["order_id"] for p in found if p["kind"] == "accrual")
    assert len(found) == SALES, Counter(p["kind"] for p in found)
    assert by_order == Counter(s.order_id for s in sales)  # each once, none missing

    royalty = sum(round(Fraction(s.total_fen * 1_000, 10_000)) for s in sales)  # half-even
    assert sum(p["royalty_fen"] for p in found) == royalty
    assert await ip.balance(museum) + await ip.balance(donor) == royalty
    payables = await ip.get(
        f"/licensees/{licensee}/payables", token(Role.LICENSEE, licensee_id=licensee)
    )
    assert payables.status_code == 200, payables.text
    assert payables.json()["balance"]["balance_fen"] == royalty
    assert await ip.trial_total() == 0
    measured(
        "consumer crash",
        f"killed after {published_at_kill} of {SALES + REDELIVERED} "
        f"published / {posted_at_kill} posted; ready again {ready_in:.1f}s and all "
        f"{len(found)} sales posted once {caught_up_in:.1f}s after the restart; "
        f"royalty {royalty} fen",
    )
